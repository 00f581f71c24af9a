"""Shared pieces of the input-side security tests: the hostile bodies, envelope checks, and a
faregate app served in the test's own loop (aiohttp's TestServer on port 0)."""

from __future__ import annotations

from typing import Any

import orjson

from helpers import GATEWAY_KEY

AUTH = {"authorization": f"Bearer {GATEWAY_KEY}"}
HELLO = [{"role": "user", "content": "hi"}]


def fanout_schema(levels: int = 30) -> dict[str, Any]:
    """~2-3 KB of JSON Schema whose each level references the next twice: 2**levels nodes inlined."""
    defs: dict[str, Any] = {
        f"L{i}": {
            "type": "object",
            "properties": {"a": {"$ref": f"#/$defs/L{i + 1}"}, "b": {"$ref": f"#/$defs/L{i + 1}"}},
        }
        for i in range(levels)
    }
    defs[f"L{levels}"] = {"type": "string"}
    return {"type": "object", "properties": {"x": {"$ref": "#/$defs/L0"}}, "$defs": defs}


def fanout_tools(levels: int = 30) -> list[dict[str, Any]]:
    return [{"type": "function", "function": {"name": "f", "parameters": fanout_schema(levels)}}]


def nested(depth: int) -> Any:
    """A JSON value ``depth`` levels deep (lists inside dicts inside lists ...)."""
    v: Any = 1
    for i in range(depth):
        v = {"k": v} if i % 2 else [v]
    return v


def deep_body_bytes(field: str, depth: int, model: str = "fake-openai") -> bytes:
    """A chat body with ``field`` nested ``depth`` levels, built as text (orjson cannot dump >255)."""
    inner = b"[" * depth + b"1" + b"]" * depth
    head = orjson.dumps({"model": model, "messages": HELLO})[:-1]
    if field == "logit_bias":
        return head + b',"logit_bias":{"50256":' + inner + b"}}"
    if field == "tools":
        params = b'{"type":"object","properties":{"a":{"default":' + inner + b"}}}"
        return head + b',"tools":[{"type":"function","function":{"name":"f","parameters":' + params + b"}}]}"
    raise ValueError(field)


def openai_error(body: Any) -> dict[str, Any]:
    """OpenAI's envelope, checked for shape: {"error": {message, type, param, code}}."""
    assert isinstance(body, dict) and set(body) == {"error"}, body
    err = body["error"]
    assert set(err) == {"message", "type", "param", "code"}, err
    assert isinstance(err["message"], str) and len(err["message"]) > 10, err
    return err


def anthropic_error(body: Any) -> dict[str, Any]:
    """Anthropic's envelope: {"type": "error", "error": {"type", "message"}}."""
    assert isinstance(body, dict) and body.get("type") == "error" and set(body) == {"type", "error"}, body
    err = body["error"]
    assert set(err) == {"type", "message"} and isinstance(err["message"], str), err
    return err
