"""Parallel tool calls: two calls in one answer, plain and streamed with interleaved argument
deltas, pass through faregate to the openai SDK intact. (The package's fakes script one tool
call per answer, so a small OpenAI-wire upstream here sends two.)"""

from __future__ import annotations

import json

import openai
import orjson
from aiohttp import web

from helpers import GATEWAY_KEY

CALLS = [("call_a", "get_weather", '{"city": "Paris"}'), ("call_b", "get_time", '{"city": "Tokyo"}')]
BODIES = web.AppKey("bodies", list)
USAGE = {"prompt_tokens": 50, "completion_tokens": 30, "total_tokens": 80}


def _chunk(delta: dict, finish: str | None = None, usage: dict | None = None) -> bytes:
    obj = {
        "id": "chatcmpl-p",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage:
        obj["usage"] = usage
    return b"data: " + orjson.dumps(obj) + b"\n\n"


async def _chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    request.app[BODIES].append(body)
    if not body.get("stream"):
        msg = {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in CALLS],
        }
        return web.json_response(
            {
                "id": "chatcmpl-p",
                "object": "chat.completion",
                "created": 1,
                "model": "m",
                "choices": [{"index": 0, "message": msg, "finish_reason": "tool_calls"}],
                "usage": USAGE,
            }
        )
    resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await resp.prepare(request)
    await resp.write(_chunk({"role": "assistant", "content": None}))
    for idx, (cid, name, _) in enumerate(CALLS):
        await resp.write(
            _chunk(
                {
                    "tool_calls": [
                        {"index": idx, "id": cid, "type": "function", "function": {"name": name, "arguments": ""}}
                    ]
                }
            )
        )
    for part in range(2):  # interleaved argument halves: call 0, call 1, call 0, call 1
        for idx, (_, _, args) in enumerate(CALLS):
            half = args[: len(args) // 2] if part == 0 else args[len(args) // 2 :]
            await resp.write(_chunk({"tool_calls": [{"index": idx, "function": {"arguments": half}}]}))
    await resp.write(_chunk({}, "tool_calls"))
    await resp.write(_chunk({}, usage=USAGE))
    await resp.write(b"data: [DONE]\n\n")
    return resp


async def _start_upstream():
    app = web.Application()
    app[BODIES] = []
    app.router.add_post("/v1/chat/completions", _chat)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, app, site._server.sockets[0].getsockname()[1]


def test_parallel_tool_calls_plain_and_streamed(server_loop, start_server):
    runner, app, port = server_loop.run(_start_upstream())
    try:
        srv = start_server(
            {
                "keys": [{"key": GATEWAY_KEY}],
                "learning": {"enabled": False},
                "models": [
                    {
                        "name": "par",
                        "base_url": f"http://127.0.0.1:{port}/v1",
                        "api_key": "sk-up",
                        "prices": {"input": 1.0, "output": 2.0},
                        "max_attempts": 1,
                    }
                ],
            }
        )
        client = openai.OpenAI(base_url=srv.base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=10)
        msgs = [{"role": "user", "content": "Weather in Paris and time in Tokyo?"}]
        resp = client.chat.completions.create(
            model="par",
            messages=msgs,
            parallel_tool_calls=True,
            tools=[{"type": "function", "function": {"name": n}} for _, n, _ in CALLS],
        )
        assert resp.choices[0].finish_reason == "tool_calls"
        assert [(c.id, c.function.name, c.function.arguments) for c in resp.choices[0].message.tool_calls] == CALLS
        assert app[BODIES][-1]["parallel_tool_calls"] is True

        stream = client.chat.completions.create(
            model="par",
            messages=msgs,
            stream=True,
            stream_options={"include_usage": True},
            tools=[{"type": "function", "function": {"name": n}} for _, n, _ in CALLS],
        )
        got: dict[int, dict] = {}
        for chunk in stream:
            for tc in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
                entry = got.setdefault(tc.index, {"id": None, "name": None, "args": ""})
                entry["id"] = entry["id"] or tc.id
                if tc.function.name:
                    entry["name"] = tc.function.name
                entry["args"] += tc.function.arguments or ""
            last = chunk
        assert [(got[i]["id"], got[i]["name"], got[i]["args"]) for i in sorted(got)] == CALLS
        assert all(json.loads(got[i]["args"]) for i in got)
        assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (50, 30)
        assert last.usage.model_extra["cost_usd"] == (50 * 1.0 + 30 * 2.0) / 1e6
    finally:
        server_loop.run(runner.cleanup())
