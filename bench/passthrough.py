"""The Python floor: a minimal aiohttp pass-through proxy for ``POST /v1/chat/completions``.

    python bench/passthrough.py --upstream http://127.0.0.1:9101/v1 --port 8090

It does what any proxy must and nothing more: read the body, forward it over one pooled
keep-alive ``aiohttp.ClientSession`` with the upstream key, and copy the answer back (streamed
answers chunk by chunk, as they arrive). No validation, no translation, no accounting: what
faregate adds on top of this is what the benchmark measures.
"""

from __future__ import annotations

import argparse

import aiohttp
from aiohttp import web

SESSION = web.AppKey("session", aiohttp.ClientSession)
HOP = {"content-length", "transfer-encoding", "connection", "keep-alive", "content-encoding"}


def make_app(upstream: str, api_key: str) -> web.Application:
    url = upstream.rstrip("/") + "/chat/completions"
    auth = {"authorization": f"Bearer {api_key}", "content-type": "application/json"}

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        session = request.app[SESSION]
        async with session.post(url, data=body, headers=auth) as up:
            ctype = up.headers.get("content-type", "")
            if "text/event-stream" in ctype:
                resp = web.StreamResponse(status=up.status, headers={"content-type": ctype})
                await resp.prepare(request)
                async for chunk in up.content.iter_any():
                    await resp.write(chunk)
                await resp.write_eof()
                return resp
            data = await up.read()
            return web.Response(body=data, status=up.status, content_type="application/json")

    async def health(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def on_startup(app: web.Application) -> None:
        app[SESSION] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1000, keepalive_timeout=30),
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent",),
        )

    async def on_cleanup(app: web.Application) -> None:
        await app[SESSION].close()

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/health", health)
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--upstream", required=True, help="the upstream's OpenAI base URL (ending in /v1)")
    ap.add_argument("--api-key", default="fake-key")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8090)
    a = ap.parse_args()
    try:
        import uvloop  # the same event loop faregate serve uses, when installed

        uvloop.install()
    except ImportError:
        pass
    web.run_app(
        make_app(a.upstream, a.api_key),
        host=a.host,
        port=a.port,
        access_log=None,
        print=None,
        handler_cancellation=True,
    )


if __name__ == "__main__":
    main()
