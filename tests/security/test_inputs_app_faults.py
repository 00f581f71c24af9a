"""A fault in any route outside the chat pipeline still ends in OpenAI's envelope (never aiohttp's
text 500), and a refused method says which ones are allowed."""

from __future__ import annotations

import aiohttp

from faregate.server import app as app_module
from helpers import GATEWAY_KEY, fake_config


async def test_an_unexpected_error_in_a_route_is_a_500_in_the_envelope(start_server, upstreams, monkeypatch):
    srv = start_server(fake_config(upstreams))

    async def broken(request):
        raise RuntimeError("boom: internal detail")

    monkeypatch.setattr(app_module, "list_models", broken)
    async with aiohttp.ClientSession() as s:
        async with s.get(srv.url + "/v1/models", headers={"authorization": f"Bearer {GATEWAY_KEY}"}) as r:
            body = await r.json(content_type=None)
            assert r.status == 500 and r.content_type == "application/json"
    assert body["error"]["type"] == "server_error" and "boom" not in body["error"]["message"]


async def test_a_refused_method_names_the_allowed_ones(start_server, upstreams):
    srv = start_server(fake_config(upstreams))
    async with aiohttp.ClientSession() as s:
        async with s.put(srv.url + "/v1/chat/completions") as r:
            assert r.status == 405 and "POST" in r.headers["Allow"]
            assert (await r.json())["error"]["code"] == "method_not_allowed"
