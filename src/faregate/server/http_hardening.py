"""Keep credentials out of aiohttp's answers to malformed requests.

aiohttp answers a request its parser rejects (a NUL byte in a header, a header over 8 KiB)
with a 400 whose body QUOTES the offending header line, and logs the same line with a
traceback: ``Authorization: Bearer fg-<key>\\x00`` would echo and log a real key. ``install()``
replaces that answer with a fixed message and logs only the error's class. Idempotent; the
app factory should call it once (``add_admin_routes`` does, so it is on whenever the admin
API is mounted).
"""

from __future__ import annotations

import logging

log = logging.getLogger("faregate.http")

GENERIC = (
    "Bad Request\n\nThe request is malformed (a header is too long or holds characters "
    "HTTP does not allow); nothing of it is repeated here."
)


def install() -> None:
    from aiohttp import web
    from aiohttp.web_protocol import RequestHandler

    if getattr(RequestHandler.handle_error, "_faregate_redacted", False):
        return
    original = RequestHandler.handle_error

    def handle_error(self, request, status=500, exc=None, message=None):
        if status != 400:
            return original(self, request, status, exc, message)
        log.warning(
            "malformed HTTP request from %s refused (%s)",
            request.remote,
            type(exc).__name__ if exc is not None else "bad request",
        )
        if request.writer.output_size > 0:
            raise ConnectionError("Response is sent already, cannot send another response")
        resp = web.Response(status=400, text=GENERIC, content_type="text/plain")
        resp.force_close()
        return resp

    handle_error._faregate_redacted = True  # type: ignore[attr-defined]
    RequestHandler.handle_error = handle_error  # type: ignore[method-assign]
