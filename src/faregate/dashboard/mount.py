"""``add_dashboard_routes``: the app factory's hook for the dashboard (off by default).

Light on purpose: the templates and Jinja2 load only when ``dashboard.enabled`` is true.
"""

from __future__ import annotations

from aiohttp import web

from ..pipeline.gateway import Gateway


def add_dashboard_routes(app: web.Application, gateway: Gateway) -> None:
    """Mount ``/dashboard`` when ``dashboard.enabled`` (``faregate serve --dashboard``)."""
    if not gateway.config.dashboard.enabled:
        return
    from .routes import add_routes

    add_routes(app, gateway)
