"""The fake OpenAI provider's Responses API (``POST /v1/responses``, ``/v1/responses/input_tokens``):
a ``response`` object, or its event stream, in the shape OpenAI documents, written here by hand
(not with faregate's own renderer, so the tests compare two independent implementations)."""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

from .wire import split_args


def _usage(usage: tuple[int, int]) -> dict:
    return {
        "input_tokens": usage[0],
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": usage[1],
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage[0] + usage[1],
    }


def _items(rid: str, text: str | None, tool: dict | None) -> list[dict]:
    if tool:
        return [
            {
                "type": "function_call",
                "id": f"fc_{rid}",
                "call_id": "call_fake_0",
                "name": tool["name"],
                "arguments": tool["arguments"],
                "status": "completed",
            }
        ]
    part = {"type": "output_text", "text": text or "", "annotations": []}
    return [{"type": "message", "id": f"msg_{rid}", "status": "completed", "role": "assistant", "content": [part]}]


def _response(rid: str, model: str, output: list[dict], status: str, usage: dict | None) -> dict:
    return {
        "id": f"resp_{rid}",
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "error": None,
        "incomplete_details": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage,
    }


def responses_body(rid: str, model: str, text: str | None, tool: dict | None, usage: tuple[int, int]) -> bytes:
    return orjson.dumps(_response(rid, model, _items(rid, text, tool), "completed", _usage(usage)))


def responses_events(
    rid: str, model: str, pieces: list[str], tool: dict | None, usage: tuple[int, int]
) -> tuple[list[bytes], list[bytes]]:
    """(content events, closing events) of a streamed response."""
    seq = iter(range(1_000_000))

    def ev(kind: str, **data: Any) -> bytes:
        return (
            b"event: "
            + kind.encode()
            + b"\ndata: "
            + orjson.dumps({"type": kind, "sequence_number": next(seq), **data})
            + b"\n\n"
        )

    (item,) = _items(rid, "".join(pieces), tool)
    content = [ev("response.created", response=_response(rid, model, [], "in_progress", None))]
    if tool:
        content.append(
            ev("response.output_item.added", output_index=0, item={**item, "arguments": "", "status": "in_progress"})
        )
        for part in split_args(tool["arguments"]):
            content.append(ev("response.function_call_arguments.delta", item_id=item["id"], output_index=0, delta=part))
        done = [
            ev("response.function_call_arguments.done", item_id=item["id"], output_index=0, arguments=tool["arguments"])
        ]
    else:
        content.append(
            ev("response.output_item.added", output_index=0, item={**item, "content": [], "status": "in_progress"})
        )
        where = {"item_id": item["id"], "output_index": 0, "content_index": 0}
        content.append(
            ev("response.content_part.added", **where, part={"type": "output_text", "text": "", "annotations": []})
        )
        content += [ev("response.output_text.delta", **where, delta=p) for p in pieces if p]
        done = [ev("response.output_text.done", **where, text="".join(pieces))]
    done.append(ev("response.output_item.done", output_index=0, item=item))
    done.append(ev("response.completed", response=_response(rid, model, [item], "completed", _usage(usage))))
    return content, done


def responses_error_event(message: str) -> bytes:
    data = {"type": "error", "code": "server_error", "message": message, "param": None, "sequence_number": 0}
    return b"event: error\ndata: " + orjson.dumps(data) + b"\n\n"


async def input_tokens(request: web.Request) -> web.Response:
    """A deterministic count: the characters of input, instructions and tools, over 4, plus 1."""
    try:
        body = orjson.loads(await request.read() or b"{}")
    except orjson.JSONDecodeError:
        return web.json_response({"error": {"message": "not JSON"}}, status=400)
    counted = {k: body.get(k) for k in ("input", "instructions", "tools")}
    return web.json_response({"object": "response.input_tokens", "input_tokens": len(orjson.dumps(counted)) // 4 + 1})
