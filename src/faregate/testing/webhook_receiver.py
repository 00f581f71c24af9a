"""A loopback webhook receiver that prints each alert it gets and checks its signature.

    python -m faregate.testing.webhook_receiver --port 9109 --secret demo-webhook-secret

Used by ``examples/observability.yaml``; prints one line per POST: whether the
``X-Faregate-Signature`` HMAC verifies, then the JSON body.

It is also a guardrail webhook (``type: webhook``): with ``--deny WORD`` it answers
``{"allow": false}`` to a body whose ``text`` contains WORD, else ``{"allow": true}``;
``--delay-ms`` makes it slow (a guardrail's timeout). Every body is kept in ``app[RECEIVED]``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json

from aiohttp import web

from .loopback import LoopbackServer

RECEIVED = web.AppKey("received", list)  # every body POSTed, in order


def make_app(secret: str | None, deny: str | None = None, delay_ms: int = 0) -> web.Application:
    received: list[bytes] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        received.append(body)
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        sig = request.headers.get("X-Faregate-Signature", "")
        if secret:
            good = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            verdict = "signature ok" if hmac.compare_digest(sig, good) else "SIGNATURE MISMATCH"
        else:
            verdict = "unsigned"
        print(f"{verdict}: {body.decode(errors='replace')}", flush=True)
        if deny is not None:
            try:
                text = str(json.loads(body).get("text", ""))
            except (ValueError, AttributeError):
                text = ""
            return web.json_response({"allow": deny.lower() not in text.lower()})
        return web.Response(text="ok")

    app = web.Application()
    app[RECEIVED] = received
    app.router.add_post("/{tail:.*}", hook)
    return app


class WebhookReceiver(LoopbackServer):
    """The receiver on a free loopback port, in process (tests): ``url`` to POST to (any path
    is served), ``received`` each JSON body POSTed so far, in order."""

    def __init__(self, deny: str | None = None, delay_ms: int = 0, path: str = "/hook") -> None:
        self.host, self.port, self.path = "127.0.0.1", 0, path
        self.app = make_app(None, deny=deny, delay_ms=delay_ms)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"

    @property
    def received(self) -> list[dict]:
        return [json.loads(b) for b in self.app[RECEIVED]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9109)
    ap.add_argument("--secret", default=None, help="the channel's secret, to verify X-Faregate-Signature")
    ap.add_argument("--deny", default=None, help="as a guardrail webhook: refuse texts containing this word")
    ap.add_argument("--delay-ms", type=int, default=0, help="wait this long before answering")
    a = ap.parse_args()
    web.run_app(make_app(a.secret, a.deny, a.delay_ms), host=a.host, port=a.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
