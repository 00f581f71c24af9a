"""The dashboard's route table (mounted by ``mount.add_dashboard_routes`` when enabled).

The pages are HTML for a browser session, not API operations: they are deliberately outside
the OpenAPI spec (tests/security/test_openapi.py says so) and authenticate by cookie, not by
``Authorization``. Only the login form and the static files (the chart library, the style
sheet, no data) are served without a session.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from ..pipeline.gateway import Gateway
from . import admin_pages, login, pages
from .reads import database
from .web import SESSIONS, setup

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

STATIC = Path(__file__).parent / "static"
PUBLIC = ("/dashboard/login", "/dashboard/static/")


def add_routes(app: web.Application, gateway: Gateway) -> None:
    setup(app)
    r = _Synced(app.router)
    r.add_get("/dashboard", pages.overview)
    r.add_get("/dashboard/models", pages.models)
    r.add_get("/dashboard/requests", pages.requests_list)
    r.add_get("/dashboard/requests/{id}", pages.request_detail)
    r.add_get("/dashboard/recommendations", pages.recommendations)
    r.add_get("/dashboard/experiments", pages.experiments)
    r.add_get("/dashboard/keys", admin_pages.keys_page)
    r.add_post("/dashboard/keys/{id}/revoke", admin_pages.revoke)
    r.add_post("/dashboard/keys/{id}/limits", admin_pages.key_limits)
    r.add_post("/dashboard/teams/{name}/limits", admin_pages.team_limits)
    r.add_get("/dashboard/alerts", admin_pages.alerts_page)
    r.add_post("/dashboard/alerts/channels/{id}/test", admin_pages.test_channel)
    r.add_get("/dashboard/login", login.login_form)
    r.add_post("/dashboard/login", login.login)
    r.add_post("/dashboard/logout", login.logout)
    app.router.add_static("/dashboard/static", STATIC, append_version=False)


def synced(handler: Handler) -> Handler:
    """The handler after the logouts of other replicas are read (at most ``Sessions.SYNC_S`` old)."""

    async def run(request: web.Request) -> web.StreamResponse:
        await request.app[SESSIONS].sync(await database(request))
        return await handler(request)

    return run


class _Synced:
    """``add_get``/``add_post`` of a router, each handler wrapped by ``synced``."""

    def __init__(self, router: web.UrlDispatcher) -> None:
        self._router = router

    def add_get(self, path: str, handler: Handler) -> None:
        self._router.add_get(path, synced(handler))

    def add_post(self, path: str, handler: Handler) -> None:
        self._router.add_post(path, synced(handler))
