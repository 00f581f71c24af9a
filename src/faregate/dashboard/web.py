"""The dashboard's HTTP plumbing: templates, the session a page needs, and the checks every
state-changing form passes (session, admin role, same origin, CSRF token).

Pages answer HTML with a strict Content-Security-Policy (scripts and styles from
``/dashboard/static`` only; chart data rides in ``<script type="application/json">`` blocks,
which never run), ``no-store`` caching and no framing.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp_jinja2
import jinja2
import orjson
from aiohttp import web

from ..pipeline.gateway import Gateway
from ..server.http import GATEWAY
from .session import COOKIE, Session, Sessions, csrf_ok

SESSIONS = web.AppKey("faregate_dashboard_sessions", Sessions)
TEMPLATES = web.AppKey("faregate_dashboard_templates", jinja2.Environment)
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _usd(v: Any) -> str:
    if v is None:
        return "–"
    if abs(v) < 5e-7:
        v = 0.0  # a rounding remainder, not "-$0.0000"
    return f"${v:,.2f}" if abs(v) >= 1 else f"${v:,.4f}" if abs(v) >= 0.01 or v == 0 else f"${v:.6f}"


def _pct(v: Any) -> str:
    return "–" if v is None else f"{100 * v:.1f}%"


def _ms(v: Any) -> str:
    return "–" if v is None else f"{v:,.0f} ms"


def _num(v: Any) -> str:
    return "–" if v is None else f"{v:,}" if isinstance(v, int) else f"{v:,.4g}"


def _utc(ts: Any) -> str:
    if ts is None:
        return "–"
    return _dt.datetime.fromtimestamp(float(ts), _dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _json(v: Any) -> str:
    # Inside <script type="application/json">: "</" could close the element, so escape "<".
    return orjson.dumps(v).decode().replace("<", "\\u003c")


def setup(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(
        app, loader=jinja2.PackageLoader("faregate.dashboard", "templates"), autoescape=True, app_key=TEMPLATES
    )
    env.filters.update(usd=_usd, pct=_pct, ms=_ms, num=_num, utc=_utc, tojson_data=_json)
    app[SESSIONS] = Sessions()


def gateway(request: web.Request) -> Gateway:
    return request.app[GATEWAY]


def session(request: web.Request) -> Session | None:
    return request.app[SESSIONS].verify(gateway(request).config, request.cookies.get(COOKIE))


def render(request: web.Request, name: str, ctx: dict[str, Any], status: int = 200) -> web.Response:
    resp = aiohttp_jinja2.render_template(name, request, ctx, status=status, app_key=TEMPLATES)
    resp.headers.update(HEADERS)
    return resp


def page_session(request: web.Request) -> Session:
    """The session a page needs; without one, a redirect to the login form (and back)."""
    s = session(request)
    if s is None:
        target = request.path_qs if request.method == "GET" else "/dashboard"
        raise web.HTTPSeeOther(location="/dashboard/login?" + _next_param(target), headers=HEADERS)
    return s


def _next_param(target: str) -> str:
    return urlencode({"next": target})


def safe_next(target: str | None) -> str:
    """Only a dashboard path (no other host, no scheme) is a place to go back to after login."""
    if not target or not target.startswith("/dashboard") or "//" in target or "\\" in target:
        return "/dashboard"
    return target


def same_origin(request: web.Request) -> bool:
    """False when the request carries an Origin of another site (or the opaque ``null``).

    Hosts are compared, not schemes: behind a TLS-terminating proxy the page is https while
    the gateway sees http."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser's cross-site form: SameSite=Strict kept the cookie home anyway
    return urlsplit(origin).netloc.lower() == request.host.lower()


def refuse(request: web.Request, status: int, message: str, s: Session | None = None) -> web.Response:
    return render(request, "error.html", {"session": s, "status": status, "message": message}, status=status)


async def change(request: web.Request) -> tuple[Session, Any] | web.Response:
    """The checks of every state-changing form: a session (401), same origin and the session's
    CSRF token (403), the admin role (403). Returns (session, form) or the refusal."""
    s = session(request)
    if s is None:
        return refuse(request, 401, "Log in first: this action needs a dashboard session.")
    form = await request.post()
    if not same_origin(request):
        return refuse(request, 403, "Refused: the form was posted from another site (Origin).", s)
    token = form.get("csrf")
    if not csrf_ok(s, token if isinstance(token, str) else None):
        return refuse(request, 403, "Refused: the form's CSRF token is missing or stale; reload the page.", s)
    if not s.admin:
        return refuse(request, 403, "Refused: a viewer login sees the numbers but cannot change anything.", s)
    return s, form
