"""The Anthropic Messages front: an Anthropic-style body into a ``ChatRequest``, and canonical
responses and events back as Anthropic JSON and SSE (``anthropic_render``). Pure data, no I/O."""

from __future__ import annotations

from typing import Any

import orjson

from ..core.errors import GatewayError, InvalidRequest
from ..core.types import ChatRequest, ChatResponse
from .anthropic_render import MessageEncoder, error_body, render_message
from .codec import ReplyFacts, decode_json
from .input_checks import DEFAULT_BOUNDS, InputBounds, check_schemas, check_structure, count_images


def _bad(param: str, what: str) -> InvalidRequest:
    return InvalidRequest(f"{param}: {what}", param=param)


def _text_of(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    raise _bad(where, "expected a string or a list of content blocks")


def _system(system: Any) -> str | list[dict]:
    """The system prompt; blocks carrying ``cache_control`` stay blocks, so the marker reaches
    an Anthropic upstream (prompt caching) instead of being flattened away."""
    if isinstance(system, list) and any(isinstance(b, dict) and b.get("cache_control") for b in system):
        return [_text_part(b) for b in system if isinstance(b, dict) and b.get("type") == "text"]
    return _text_of(system, "system")


def _text_part(b: dict) -> dict:
    part: dict[str, Any] = {"type": "text", "text": str(b.get("text", ""))}
    if isinstance(b.get("cache_control"), dict):
        part["cache_control"] = b["cache_control"]
    return part


def _image_part(block: dict, where: str) -> dict:
    src = block.get("source") or {}
    if src.get("type") == "base64" and isinstance(src.get("data"), str):
        url = f"data:{src.get('media_type', 'image/png')};base64,{src['data']}"
    elif src.get("type") == "url" and isinstance(src.get("url"), str):
        url = src["url"]
    else:
        raise _bad(f"{where}.source", "an image needs source {type: base64, media_type, data} or {type: url, url}")
    return {"type": "image_url", "image_url": {"url": url}}


def _messages(body: dict) -> list[dict]:
    out: list[dict] = []
    system = body.get("system")
    if system is not None:
        out.append({"role": "system", "content": _system(system)})
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise _bad("messages", "expected a non-empty array of messages")
    for i, m in enumerate(msgs):
        where = f"messages.{i}"
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            raise _bad(f"{where}.role", "each message needs role 'user' or 'assistant'")
        content = m.get("content")
        if isinstance(content, str):
            out.append({"role": m["role"], "content": content})
            continue
        if not isinstance(content, list):
            raise _bad(f"{where}.content", "expected a string or a list of content blocks")
        parts: list[dict] = []
        calls: list[dict] = []
        for j, b in enumerate(content):
            bw = f"{where}.content.{j}"
            btype = b.get("type") if isinstance(b, dict) else None
            if btype == "text":
                parts.append(_text_part(b))
            elif btype == "image":
                parts.append(_image_part(b, bw))
            elif btype == "tool_use" and m["role"] == "assistant":
                calls.append(
                    {
                        "id": str(b.get("id", f"toolu_{j}")),
                        "type": "function",
                        "function": {
                            "name": str(b.get("name", "")),
                            "arguments": orjson.dumps(b.get("input") or {}).decode(),
                        },
                    }
                )
            elif btype == "tool_result" and m["role"] == "user":
                out.append(
                    {
                        "role": "tool",
                        "tool_call_id": str(b.get("tool_use_id", "")),
                        "content": _text_of(b.get("content", ""), f"{bw}.content"),
                    }
                )
            elif btype in ("thinking", "redacted_thinking"):
                continue
            else:
                raise _bad(f"{bw}.type", f"unsupported content block {btype!r}")
        if m["role"] == "assistant":
            text = "".join(p["text"] for p in parts if p["type"] == "text")
            msg: dict[str, Any] = {"role": "assistant", "content": text or None}
            if calls:
                msg["tool_calls"] = calls
            if text or calls:
                out.append(msg)
        elif parts:
            out.append({"role": "user", "content": parts})
    return out


def _tools(body: dict) -> list[dict] | None:
    if body.get("tools") is None:
        return None
    if not isinstance(body["tools"], list):
        raise _bad("tools", "expected an array")
    tools = []
    for i, t in enumerate(body["tools"]):
        if not isinstance(t, dict) or not isinstance(t.get("name"), str):
            raise _bad(f"tools.{i}.name", "a tool needs a name")
        tool: dict[str, Any] = {
            "type": "function",
            "function": {
                "name": t["name"],
                "description": t.get("description", ""),
                "parameters": t.get("input_schema") or {"type": "object"},
            },
        }
        if isinstance(t.get("cache_control"), dict):
            tool["cache_control"] = t["cache_control"]  # a prompt-caching breakpoint after the tools
        tools.append(tool)
    return tools


_CHOICES: dict[Any, Any] = {"auto": "auto", "any": "required", "none": "none"}


def _tool_choice(body: dict) -> tuple[Any, bool | None]:
    """(the canonical tool_choice, parallel_tool_calls) of Anthropic's ``tool_choice``."""
    tool_choice: Any = None
    parallel = None
    tc = body.get("tool_choice")
    if isinstance(tc, dict):
        kind = tc.get("type")
        tool_choice = _CHOICES.get(kind) if isinstance(kind, str) else None
        if kind == "tool":
            if not isinstance(tc.get("name"), str):
                raise _bad("tool_choice.name", "a tool choice of type tool needs the tool's name")
            tool_choice = {"type": "function", "function": {"name": tc["name"]}}
        if tool_choice is None:
            raise _bad("tool_choice.type", "expected auto, any, tool or none")
        if tc.get("disable_parallel_tool_use"):
            parallel = False
    return tool_choice, parallel


def _check_sampling(body: dict) -> None:
    stop = body.get("stop_sequences")
    if stop is not None and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        raise _bad("stop_sequences", "expected an array of strings")
    for name, hi in (("temperature", 1.0), ("top_p", 1.0)):
        v = body.get(name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= hi):
            raise _bad(name, f"expected a number between 0 and {hi:g}")


def parse_messages_request(body: Any, bounds: InputBounds = DEFAULT_BOUNDS) -> ChatRequest:
    """Validate an Anthropic Messages body into the canonical request."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    check_structure(body, bounds)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("model", "a model name (or 'auto') is required")
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, float) and max_tokens.is_integer() and abs(max_tokens) < 2**63:
        max_tokens = int(max_tokens)  # JSON has one number type: 5.0 is the integer 5
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise _bad("max_tokens", "required: a positive integer")
    tools = _tools(body)
    tool_choice, parallel = _tool_choice(body)
    _check_sampling(body)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise _bad("stream", "expected true or false")
    user = (body.get("metadata") or {}).get("user_id") if isinstance(body.get("metadata"), dict) else None
    messages = _messages(body)
    count_images(messages, bounds)
    check_schemas(tools, None, bounds)
    return ChatRequest(
        model=model,
        messages=messages,
        stream=stream,
        include_usage=True,
        tools=tools,
        tool_choice=tool_choice,
        parallel_tool_calls=parallel,
        temperature=body.get("temperature"),
        top_p=body.get("top_p"),
        max_tokens=max_tokens,
        stop=body.get("stop_sequences") or None,
        user=user,
        routing=body.get("faregate") if isinstance(body.get("faregate"), dict) else None,
    )


class AnthropicCodec:
    """The ``FrontCodec`` of ``POST /v1/messages``: errors in Anthropic's ``{"type": "error", ...}``."""

    def parse_request(self, body: bytes, bounds: InputBounds = DEFAULT_BOUNDS) -> ChatRequest:
        return parse_messages_request(decode_json(body), bounds)

    def encode_reply(self, response: ChatResponse, facts: ReplyFacts) -> bytes:
        return render_message(response, request_id=facts.request_id, model=facts.model)

    def stream_encoder(self, facts: ReplyFacts) -> MessageEncoder:
        return MessageEncoder(facts)

    def encode_error(self, err: GatewayError) -> tuple[int, bytes, dict[str, str]]:
        return err.status, orjson.dumps(error_body(err)), dict(err.headers)
