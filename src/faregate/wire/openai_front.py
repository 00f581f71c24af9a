"""The OpenAI chat-completions front: validate a client's body into a ``ChatRequest``, and
render canonical responses and events back as OpenAI JSON and SSE chunks. Pure data, no I/O.

Every validation error names the field (``messages[3].content``) and says what is wrong.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from ..core.errors import GatewayError, InvalidRequest
from ..core.types import ChatRequest, ChatResponse, Finish, TextDelta, ToolCallDelta, UsageEvent
from ..core.usage import Usage
from . import input_checks as checks
from .codec import ReplyFacts, decode_json, resume_marker, with_marker
from .input_checks import DEFAULT_BOUNDS, InputBounds
from .openai_fast import fast_chat_request

MAX_MESSAGES = 4096
ROLES = frozenset(("system", "developer", "user", "assistant", "tool", "function"))
PART_TYPES = frozenset(("text", "image_url", "input_audio", "file", "refusal"))
# OpenAI parameters faregate does not interpret but passes on to OpenAI-wire upstreams.
PASSTHROUGH = frozenset(
    (
        "n",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "store",
        "reasoning_effort",
        "service_tier",
        "prediction",
        "modalities",
        "audio",
        "web_search_options",
        "verbosity",
        "prompt_cache_key",
        "safety_identifier",
        "functions",
        "function_call",
    )
)
KNOWN = (
    frozenset(
        (
            "model",
            "messages",
            "stream",
            "stream_options",
            "tools",
            "tool_choice",
            "parallel_tool_calls",
            "response_format",
            "temperature",
            "top_p",
            "max_tokens",
            "max_completion_tokens",
            "stop",
            "seed",
            "user",
            "metadata",
            "faregate",
        )
    )
    | PASSTHROUGH
)

# OpenAI takes a 64-bit seed; JSON numbers beyond it lose precision or do not parse as integers.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _bad(param: str, what: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid value for '{param}': {what}", param=param)


def _num(body: dict, name: str, lo: float, hi: float) -> float | None:
    v = body.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _bad(name, f"expected a number between {lo:g} and {hi:g}, got {type(v).__name__}")
    if not lo <= v <= hi:
        raise _bad(name, f"{v!r} is out of range; it must be between {lo:g} and {hi:g}")
    return float(v)


def _int(body: dict, name: str, lo: int = 1) -> int | None:
    v = body.get(name)
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**63:
        v = int(v)  # JSON has one number type: 5.0 is the integer 5 (as JSON Schema says)
    if isinstance(v, bool) or not isinstance(v, int):
        raise _bad(name, f"expected an integer, got {type(v).__name__}")
    if v < lo:
        raise _bad(name, f"{v} is too small; it must be at least {lo}")
    return v


def _content(msg: dict, where: str, role: str) -> None:
    if "content" not in msg or msg["content"] is None:
        if role == "assistant" and (msg.get("tool_calls") or msg.get("function_call")):
            return
        raise _bad(f"{where}.content", "a message needs content")
    c = msg["content"]
    if isinstance(c, str):
        return
    if not isinstance(c, list):
        raise _bad(f"{where}.content", f"expected a string or a list of content parts, got {type(c).__name__}")
    for j, part in enumerate(c):
        pw = f"{where}.content[{j}]"
        if not isinstance(part, dict):
            raise _bad(pw, "a content part must be an object")
        ptype = part.get("type")
        if not isinstance(ptype, str) or ptype not in PART_TYPES:
            raise _bad(f"{pw}.type", f"expected one of {sorted(PART_TYPES)}, got {ptype!r}")
        if ptype == "text" and not isinstance(part.get("text"), str):
            raise _bad(f"{pw}.text", "a text part needs a string 'text'")
        if ptype == "image_url":
            iu = part.get("image_url")
            url = iu.get("url") if isinstance(iu, dict) else None
            if not isinstance(url, str) or not url:
                raise _bad(f"{pw}.image_url.url", "an image part needs image_url.url (https or data: URL)")


def _messages(body: dict) -> list[dict]:
    msgs = body.get("messages")
    if msgs is None:
        raise InvalidRequest("Missing required parameter: 'messages'.", param="messages")
    if not isinstance(msgs, list):
        raise _bad("messages", f"expected an array of messages, got {type(msgs).__name__}")
    if not msgs:
        raise _bad("messages", "the array is empty; send at least one message")
    if len(msgs) > MAX_MESSAGES:
        raise _bad("messages", f"{len(msgs)} messages is too many; at most {MAX_MESSAGES} are accepted")
    for i, m in enumerate(msgs):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise _bad(where, "each message must be an object with 'role' and 'content'")
        role = m.get("role")
        if not isinstance(role, str) or role not in ROLES:
            raise _bad(f"{where}.role", f"expected one of system, developer, user, assistant, tool; got {role!r}")
        _content(m, where, role)
        if role == "tool" and not isinstance(m.get("tool_call_id"), str):
            raise _bad(f"{where}.tool_call_id", "a tool message needs the 'tool_call_id' it answers")
        calls = m.get("tool_calls")
        if calls is not None:
            if not isinstance(calls, list):
                raise _bad(f"{where}.tool_calls", "expected an array")
            for j, tc in enumerate(calls):
                fn = tc.get("function") if isinstance(tc, dict) else None
                if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not isinstance(tc.get("id"), str):
                    raise _bad(f"{where}.tool_calls[{j}]", "needs 'id' and 'function' with 'name' and 'arguments'")
                if not isinstance(fn.get("arguments", ""), str):
                    raise _bad(f"{where}.tool_calls[{j}].function.arguments", "must be a JSON string")
    return msgs


def _tools(body: dict) -> list[dict] | None:
    tools = body.get("tools")
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise _bad("tools", "expected an array of tools")
    for i, t in enumerate(tools):
        fn = t.get("function") if isinstance(t, dict) else None
        if not isinstance(t, dict) or t.get("type", "function") != "function" or not isinstance(fn, dict):
            raise _bad(f"tools[{i}]", 'expected {"type": "function", "function": {"name", "parameters"}}')
        if not isinstance(fn.get("name"), str) or not fn["name"]:
            raise _bad(f"tools[{i}].function.name", "a tool needs a name")
        if "parameters" in fn and not isinstance(fn["parameters"], dict):
            raise _bad(f"tools[{i}].function.parameters", "must be a JSON Schema object")
    return tools


def _tool_choice(body: dict) -> Any:
    tc = body.get("tool_choice")
    if tc is None or tc in ("none", "auto", "required"):
        return tc
    fn = tc.get("function") if isinstance(tc, dict) else None
    if isinstance(fn, dict) and isinstance(fn.get("name"), str):
        return tc
    raise _bad("tool_choice", 'expected \'none\', \'auto\', \'required\' or {"type": "function", "function": {"name"}}')


def _response_format(body: dict) -> dict | None:
    rf = body.get("response_format")
    if rf is None:
        return None
    if not isinstance(rf, dict) or rf.get("type") not in ("text", "json_object", "json_schema"):
        raise _bad("response_format.type", "expected 'text', 'json_object' or 'json_schema'")
    if rf["type"] == "json_schema":
        js = rf.get("json_schema")
        if not isinstance(js, dict) or not isinstance(js.get("name"), str):
            raise _bad("response_format.json_schema", "needs an object with 'name' and 'schema'")
        if "schema" in js and not isinstance(js["schema"], dict):
            raise _bad("response_format.json_schema.schema", "must be a JSON Schema object")
    if rf["type"] == "text":
        return None
    return rf


def _stop(body: dict) -> list[str] | None:
    s = body.get("stop")
    if s is None:
        return None
    if isinstance(s, str):
        return [s]
    if isinstance(s, list) and all(isinstance(x, str) for x in s) and len(s) <= 4:
        return s or None
    raise _bad("stop", "expected a string or an array of up to 4 strings")


def parse_chat_request(body: Any, bounds: InputBounds = DEFAULT_BOUNDS) -> ChatRequest:
    """Validate an OpenAI chat-completions body (already JSON-decoded) into a ``ChatRequest``."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    checks.check_openai_body(body, bounds, KNOWN, MAX_MESSAGES)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("Missing required parameter: 'model' (a model name, or 'auto' to route).", param="model")
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise _bad("stream", "expected true or false")
    so = body.get("stream_options")
    if so is not None and not isinstance(so, dict):
        raise _bad("stream_options", 'expected an object like {"include_usage": true}')
    ptc = body.get("parallel_tool_calls")
    if ptc is not None and not isinstance(ptc, bool):
        raise _bad("parallel_tool_calls", "expected true or false")
    caps = (_int(body, "max_completion_tokens"), _int(body, "max_tokens"))  # both checked
    max_tokens = caps[0] if caps[0] is not None else caps[1]
    seed = body.get("seed")
    if isinstance(seed, float) and seed.is_integer() and INT64_MIN <= seed <= INT64_MAX:
        seed = int(seed)  # JSON has one number type: -299.0 is the integer -299
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not INT64_MIN <= seed <= INT64_MAX):
        raise _bad("seed", "expected a 64-bit integer (from -2**63 to 2**63 - 1)")
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise _bad("user", "expected a string")
    metadata = body.get("metadata")
    if metadata is not None and (
        not isinstance(metadata, dict) or len(metadata) > 16 or not all(isinstance(v, str) for v in metadata.values())
    ):
        raise _bad("metadata", "expected an object of at most 16 string values")
    routing = body.get("faregate")
    if routing is not None and not isinstance(routing, dict):
        raise _bad("faregate", 'expected an object like {"min_quality": 0.85, "max_latency_ms": 3000}')
    extra = {k: body[k] for k in PASSTHROUGH if k in body}
    messages, tools, response_format = _messages(body), _tools(body), _response_format(body)
    checks.count_images(messages, bounds)
    checks.check_schemas(tools, response_format, bounds)
    return ChatRequest(
        model=model,
        messages=messages,
        stream=stream,
        include_usage=bool(so and so.get("include_usage")),
        tools=tools,
        tool_choice=_tool_choice(body),
        parallel_tool_calls=ptc,
        response_format=response_format,
        temperature=_num(body, "temperature", 0, 2),
        top_p=_num(body, "top_p", 0, 1),
        max_tokens=max_tokens,
        stop=_stop(body),
        seed=seed,
        user=user,
        metadata=metadata,
        routing=routing,
        extra=extra,
    )


def render_response(resp: ChatResponse, *, request_id: str, model: str, cost_usd: float | None = None) -> bytes:
    usage = resp.usage.to_openai()
    if cost_usd is not None:
        usage["cost_usd"] = round(cost_usd, 10)
    message: dict[str, Any] = {"role": "assistant", "content": resp.content, "refusal": None}
    if resp.tool_calls:
        message["tool_calls"] = [tc.to_openai() for tc in resp.tool_calls]
    return orjson.dumps(
        {
            "id": request_id,
            "object": "chat.completion",
            "created": resp.created or int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": resp.finish_reason}],
            "usage": usage,
        }
    )


class ChunkRenderer:
    """Canonical events to OpenAI ``chat.completion.chunk`` SSE lines, for one streamed answer."""

    __slots__ = ("_head", "_tail", "include_usage", "usage", "_tool_seen", "_sent_role")

    def __init__(self, *, request_id: str, model: str, include_usage: bool) -> None:
        created = int(time.time())
        # Every chunk shares this prefix; rendering a delta is then one small dumps and a join.
        self._head = (
            b'data: {"id":'
            + orjson.dumps(request_id)
            + b',"object":"chat.completion.chunk","created":'
            + str(created).encode()
            + b',"model":'
            + orjson.dumps(model)
            + b',"choices":'
        )
        self._tail = b"}\n\n"
        self.include_usage = include_usage
        self.usage: Usage | None = None
        self._tool_seen: set[int] = set()
        self._sent_role = False

    def _choice(self, delta: dict, finish: str | None = None) -> bytes:
        return (
            self._head
            + orjson.dumps([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}])
            + self._tail
        )

    def render(self, ev: Any) -> bytes:
        """The SSE bytes for one event (may be empty: usage is held for the end)."""
        out = b""
        if not self._sent_role and isinstance(ev, (TextDelta, ToolCallDelta, Finish)):
            self._sent_role = True
            out = self._choice({"role": "assistant", "content": ""})
        if isinstance(ev, TextDelta):
            return out + self._choice({"content": ev.text})
        if isinstance(ev, ToolCallDelta):
            call: dict[str, Any] = {"index": ev.index}
            if ev.index not in self._tool_seen:
                self._tool_seen.add(ev.index)
                call["id"] = ev.id or f"call_{ev.index}"
                call["type"] = "function"
                call["function"] = {"name": ev.name or "", "arguments": ev.arguments}
            else:
                call["function"] = {"arguments": ev.arguments}
            return out + self._choice({"tool_calls": [call]})
        if isinstance(ev, Finish):
            return out + self._choice({}, ev.reason)
        if isinstance(ev, UsageEvent):
            self.usage = ev.usage
        return out

    def end(self, cost_usd: float | None = None) -> bytes:
        out = b""
        if self.include_usage:
            usage = (self.usage or Usage()).to_openai()
            if cost_usd is not None:
                usage["cost_usd"] = round(cost_usd, 10)
            out += self._head + b"[]," + b'"usage":' + orjson.dumps(usage) + self._tail
        return out + b"data: [DONE]\n\n"

    @staticmethod
    def error(envelope: dict) -> bytes:
        return b"data: " + orjson.dumps(envelope) + b"\n\n"


class _ChunkEncoder:
    """``ChunkRenderer`` as a ``StreamEncoder``."""

    def __init__(self, facts: ReplyFacts) -> None:
        self._r = ChunkRenderer(request_id=facts.request_id, model=facts.model, include_usage=facts.include_usage)
        self._facts = facts

    def render(self, ev: Any) -> bytes:
        out = self._r.render(ev)  # the finish chunk (and the usage chunk, at the end) say a resume happened
        return with_marker(out, resume_marker(self._facts)) if isinstance(ev, Finish) else out

    def end(self, cost_usd: float) -> bytes:
        return with_marker(self._r.end(cost_usd), resume_marker(self._facts))

    def error(self, err: GatewayError) -> bytes:
        return ChunkRenderer.error(err.envelope())


class OpenAIChatCodec:
    """The ``FrontCodec`` of ``POST /v1/chat/completions``: errors in OpenAI's ``{"error": ...}``."""

    def parse_request(self, body: bytes, bounds: InputBounds = DEFAULT_BOUNDS) -> ChatRequest:
        # Plain conversations skip the general walk (``openai_fast``: the same result, or None).
        return fast_chat_request(data := decode_json(body), bounds) or parse_chat_request(data, bounds)

    def encode_reply(self, response: ChatResponse, facts: ReplyFacts) -> bytes:
        return render_response(response, request_id=facts.request_id, model=facts.model, cost_usd=facts.cost_usd)

    def stream_encoder(self, facts: ReplyFacts) -> _ChunkEncoder:
        return _ChunkEncoder(facts)

    def encode_error(self, err: GatewayError) -> tuple[int, bytes, dict[str, str]]:
        return err.status, orjson.dumps(err.envelope()), dict(err.headers)
