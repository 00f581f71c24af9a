"""Attacks refused before this hardening, kept refused: malformed, deep and non-UTF-8 JSON on
both fronts, and SSRF through image URLs (faregate never fetches a URL a client sends: it
passes it to the provider as a URL, so a loopback or metadata address is never reached from
the gateway's network position).

Refusals tested elsewhere, and why they stay there (they need their module's harness):
see ``test_refused_index.py``, which fails if any of them is removed or renamed."""

from __future__ import annotations

import aiohttp
import orjson
import pytest
from aiohttp import web
from inputs_support import AUTH, HELLO, anthropic_error, openai_error

BAD_BODIES = [
    (b'{"model": "fake-openai", "messages": [', "not valid JSON"),
    (b'{"model": "fake-openai", "messages": [{"role": "user", "content": "\xff\xfe"}]}', "UTF-8"),
    (b'{"model": "fake-openai", "messages": [{"role": "user", "content": "\xed\xa0\x80"}]}', "UTF-8"),
    (b"[" * 2000 + b"]" * 2000, "nested too deeply"),
    (b'{"a":' * 1100 + b"1" + b"}" * 1100, "nested too deeply"),
    (b"", "empty"),
    (b"null", "JSON object"),
]


async def _post(url: str, path: str, data: bytes) -> tuple[int, bytes, str]:
    async with aiohttp.ClientSession() as s:
        async with s.post(url + path, data=data, headers={**AUTH, "content-type": "application/json"}) as r:
            return r.status, await r.read(), r.content_type


@pytest.mark.parametrize(
    "raw,words",
    BAD_BODIES,
    ids=["truncated", "bad-utf8", "lone-surrogate", "deep-array", "deep-object", "empty", "null"],
)
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages", "/v1/route"])
async def test_malformed_bodies_are_a_400_in_the_fronts_envelope(faregate_server, upstreams, raw, words, path):
    status, body, ctype = await _post(faregate_server.url, path, raw)
    assert status == 400 and ctype == "application/json", body[:200]
    err = anthropic_error(orjson.loads(body)) if path == "/v1/messages" else openai_error(orjson.loads(body))
    assert words in err["message"]
    assert all(f.requests() == [] for f in upstreams.values())


@pytest.fixture
async def canary():
    """A loopback HTTP server standing for an internal address; counts every request."""
    hits: list[str] = []

    async def any_path(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(body=b"\x89PNG internal secret")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", any_path)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", hits
    await runner.cleanup()


@pytest.mark.parametrize("protocol", ["openai", "anthropic", "gemini"])
async def test_image_urls_are_never_fetched_by_the_gateway(faregate_server, upstreams, canary, protocol):
    base, hits = canary
    urls = [f"{base}/latest/meta-data/iam.png", "http://169.254.169.254/latest/meta-data/x.png"]
    parts = [{"type": "text", "text": "what is this?"}] + [{"type": "image_url", "image_url": {"url": u}} for u in urls]
    body = orjson.dumps({"model": f"fake-{protocol}", "messages": [{"role": "user", "content": parts}]})
    status, raw, _ = await _post(faregate_server.url, "/v1/chat/completions", body)
    assert status == 200, raw[:300]
    assert hits == [], "the gateway fetched a client-supplied URL"
    sent = orjson.dumps(upstreams[protocol].last_request()["body"]).decode()
    assert all(u in sent for u in urls), "the URL goes to the provider as a URL, untouched"
    assert "internal secret" not in sent and "iVBOR" not in sent  # nothing fetched and inlined


async def test_a_schema_fuzzed_body_never_gets_an_html_500(faregate_server):
    """A few shapes that used to reach code that assumed a type (found by schemathesis)."""
    for extra in (
        {"tool_choice": {"function": []}},
        {"messages": [{"role": {"x": 1}, "content": "x"}]},
        {"messages": [{"role": "user", "content": [{"type": {"x": 1}}]}]},
    ):
        status, raw, ctype = await _post(
            faregate_server.url,
            "/v1/chat/completions",
            orjson.dumps({"model": "fake-openai", "messages": HELLO, **extra}),
        )
        assert status == 400 and ctype == "application/json", raw[:200]
        openai_error(orjson.loads(raw))
    status, raw, _ = await _post(
        faregate_server.url,
        "/v1/messages",
        orjson.dumps({"model": "fake-anthropic", "max_tokens": 5, "messages": HELLO, "tool_choice": {"type": {}}}),
    )
    assert status == 400 and anthropic_error(orjson.loads(raw))
