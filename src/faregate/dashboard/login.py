"""``GET/POST /dashboard/login`` and ``POST /dashboard/logout``.

The login form posts the field ``key``: the master key (role ``admin``) or a
``dashboard.viewer_keys`` entry (``viewer``); a gateway key is refused like any other string.
The form carries no CSRF token (there is no session yet): a cross-site post is refused by
its ``Origin``, and the cookie it would set is ``SameSite=Strict`` anyway.
"""

from __future__ import annotations

from aiohttp import web

from .reads import database
from .session import COOKIE, Sessions, csrf_ok
from .web import HEADERS, SESSIONS, gateway, refuse, render, safe_next, same_origin, session

NO_MASTER = "The dashboard needs a master key: set `master_key` in the config or FAREGATE_MASTER_KEY."
REFUSED = "Not a dashboard login. Use the master key or a viewer key; gateway keys do not open the dashboard."


async def login_form(request: web.Request) -> web.Response:
    if session(request) is not None:
        raise web.HTTPSeeOther(location=safe_next(request.query.get("next")), headers=HEADERS)
    cfg = gateway(request).config
    ctx = {
        "session": None,
        "next": safe_next(request.query.get("next")),
        "error": None if cfg.master_key else NO_MASTER,
    }
    return render(request, "login.html", ctx)


async def login(request: web.Request) -> web.Response:
    if not same_origin(request):
        return refuse(request, 403, "Refused: the login form was posted from another site (Origin).")
    form = await request.post()
    cfg = gateway(request).config
    nxt = safe_next(str(form.get("next") or ""))
    key = form.get("key")
    found = Sessions.role_of(cfg, key) if isinstance(key, str) else None
    if found is None:
        ctx = {"session": None, "next": nxt, "error": REFUSED if cfg.master_key else NO_MASTER}
        return render(request, "login.html", ctx, status=401)
    cookie = request.app[SESSIONS].issue(cfg, *found)
    resp = web.HTTPSeeOther(location=nxt, headers=HEADERS)
    resp.set_cookie(
        COOKIE,
        cookie,
        max_age=int(cfg.dashboard.session_ttl_s),
        path="/dashboard",
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )
    raise resp


async def logout(request: web.Request) -> web.Response:
    s = session(request)
    if s is not None:
        form = await request.post()
        token = form.get("csrf")
        if not same_origin(request) or not csrf_ok(s, token if isinstance(token, str) else None):
            return refuse(request, 403, "Refused: the logout form's CSRF token is missing or stale.", s)
        await request.app[SESSIONS].end(s, await database(request))  # every replica (session.py)
    resp = web.HTTPSeeOther(location="/dashboard/login", headers=HEADERS)
    resp.del_cookie(COOKIE, path="/dashboard")
    raise resp
