"""A loopback webhook receiver that prints each alert it gets and checks its signature.

    python -m faregate.testing.webhook_receiver --port 9109 --secret demo-webhook-secret

Used by ``examples/observability.yaml``; prints one line per POST: whether the
``X-Faregate-Signature`` HMAC verifies, then the JSON body.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac

from aiohttp import web


def make_app(secret: str | None) -> web.Application:
    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        sig = request.headers.get("X-Faregate-Signature", "")
        if secret:
            good = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            verdict = "signature ok" if hmac.compare_digest(sig, good) else "SIGNATURE MISMATCH"
        else:
            verdict = "unsigned"
        print(f"{verdict}: {body.decode(errors='replace')}", flush=True)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", hook)
    return app


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9109)
    ap.add_argument("--secret", default=None, help="the channel's secret, to verify X-Faregate-Signature")
    a = ap.parse_args()
    web.run_app(make_app(a.secret), host=a.host, port=a.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
