"""The Responses API front (``POST /v1/responses``): a Responses body into a ``ResponsesCall``
(the canonical ``ChatRequest`` plus what the front keeps for rendering and storing). Pure data.

``input`` items translate to chat messages: a message item (``input_text``/``input_image``/
``output_text`` parts) to a message, ``function_call`` items to an assistant message's
``tool_calls``, ``function_call_output`` to a ``tool`` message; ``instructions`` is the system
message. Function tools, ``tool_choice``, ``text.format`` and ``max_output_tokens`` have chat
equivalents. What has none (built-in tools such as ``web_search``) is listed in
``ResponsesCall.native_only``: only an upstream serving the Responses API can take it, and the
route refuses the request (400) when the model is served otherwise. The whole body travels in
``ChatRequest.responses`` for such an upstream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.errors import InvalidRequest
from ..core.types import ChatRequest
from . import input_checks as checks
from .input_checks import DEFAULT_BOUNDS, InputBounds

MAX_ITEMS = 4096
ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}
# Parameters an upstream serving the Responses API understands and faregate does not interpret.
PASSTHROUGH = frozenset(
    ("reasoning", "truncation", "include", "top_logprobs", "service_tier", "prompt_cache_key", "safety_identifier")
)
KNOWN = (
    frozenset(
        (
            "model",
            "input",
            "instructions",
            "tools",
            "tool_choice",
            "parallel_tool_calls",
            "text",
            "max_output_tokens",
            "temperature",
            "top_p",
            "stream",
            "stream_options",
            "store",
            "previous_response_id",
            "metadata",
            "user",
            "faregate",
        )
    )
    | PASSTHROUGH
)
# Items a conversation may carry that have no chat equivalent and change nothing for a chat model.
SKIPPED_ITEMS = frozenset(("reasoning", "web_search_call", "file_search_call", "image_generation_call"))


def bad(param: str, what: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid value for '{param}': {what}", param=param)


@dataclass(slots=True)
class ResponsesCall:
    """One validated Responses request.

    ``body``: the request as sent (validated). ``items``: the conversation's input items, the
    previous response's history first, then this request's ``input`` (what is stored, and sent
    to an upstream serving the API). ``native_only``: features only such an upstream has.
    """

    request: ChatRequest
    body: dict[str, Any]
    items: list[dict[str, Any]]
    store: bool = True
    previous_response_id: str | None = None
    native_only: list[str] = field(default_factory=list)


def input_items(body: dict) -> list[dict]:
    """``input`` as a list of items (a string is one user message)."""
    raw = body.get("input")
    if raw is None:
        raise InvalidRequest("Missing required parameter: 'input' (a string or a list of items).", param="input")
    if isinstance(raw, str):
        return [{"type": "message", "role": "user", "content": raw}]
    if not isinstance(raw, list):
        raise bad("input", f"expected a string or an array of items, got {type(raw).__name__}")
    if len(raw) > MAX_ITEMS:
        raise bad("input", f"{len(raw)} items is too many; at most {MAX_ITEMS} are accepted")
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise bad(f"input[{i}]", "each item must be an object")
    return raw


def _part(p: Any, where: str, role: str) -> dict:
    if not isinstance(p, dict):
        raise bad(where, "a content part must be an object")
    kind = p.get("type")
    if kind in ("input_text", "output_text", "text", "summary_text"):
        if not isinstance(p.get("text"), str):
            raise bad(f"{where}.text", "a text part needs a string 'text'")
        return {"type": "text", "text": p["text"]}
    if kind == "refusal":
        return {"type": "text", "text": str(p.get("refusal", ""))}
    if kind == "input_image" and role == "user":
        url = p.get("image_url")
        if not isinstance(url, str) or not url:
            raise bad(
                f"{where}.image_url", "an input_image needs image_url (an https or data: URL); file_id is not supported"
            )
        image: dict[str, Any] = {"url": url}
        if isinstance(p.get("detail"), str):
            image["detail"] = p["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file" and role == "user" and isinstance(p.get("file_data"), str):
        return {"type": "file", "file": {k: p[k] for k in ("file_data", "filename") if isinstance(p.get(k), str)}}
    raise bad(f"{where}.type", f"unsupported content part {kind!r} in a {role} message")


def _message(item: dict, where: str) -> dict:
    role = ROLES.get(item.get("role"))  # type: ignore[arg-type]
    if role is None:
        raise bad(f"{where}.role", f"expected user, assistant, system or developer; got {item.get('role')!r}")
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise bad(f"{where}.content", "expected a string or an array of content parts")
    parts = [_part(p, f"{where}.content[{j}]", role) for j, p in enumerate(content)]
    if role != "user":  # system and assistant content is text
        return {"role": role, "content": "".join(p.get("text", "") for p in parts)}
    return {"role": role, "content": parts}


def _call(item: dict, where: str) -> dict:
    for key in ("call_id", "name"):
        if not isinstance(item.get(key), str) or not item[key]:
            raise bad(f"{where}.{key}", f"a function_call item needs a string '{key}'")
    args = item.get("arguments", "")
    if not isinstance(args, str):
        raise bad(f"{where}.arguments", "must be a JSON string")
    return {"id": item["call_id"], "type": "function", "function": {"name": item["name"], "arguments": args}}


def _output_text(output: Any, where: str) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        return "".join(str(p.get("text", "")) for p in output if isinstance(p, dict))
    raise bad(where, "expected a string (or an array of input_text parts)")


def items_to_messages(items: list[dict], instructions: str | None) -> list[dict]:
    """The chat messages of a conversation's items (see the module docstring)."""
    out: list[dict] = [{"role": "system", "content": instructions}] if instructions else []
    for i, item in enumerate(items):
        where = f"input[{i}]"
        kind = item.get("type", "message")
        if kind == "message":
            out.append(_message(item, where))
        elif kind == "function_call":
            call = _call(item, where)
            last = out[-1] if out else None
            if last is not None and last["role"] == "assistant" and (last.get("tool_calls") or not last.get("content")):
                last.setdefault("tool_calls", []).append(call)
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            if not isinstance(item.get("call_id"), str) or not item["call_id"]:
                raise bad(f"{where}.call_id", "a function_call_output needs the 'call_id' it answers")
            out.append(
                {
                    "role": "tool",
                    "tool_call_id": item["call_id"],
                    "content": _output_text(item.get("output"), f"{where}.output"),
                }
            )
        elif kind not in SKIPPED_ITEMS:
            raise bad(
                f"{where}.type",
                f"unsupported item type {kind!r}; expected message, function_call or function_call_output",
            )
    if not any(m["role"] != "system" for m in out):
        raise bad("input", "the conversation has no message; send at least one user message")
    return out


def split_tools(body: dict) -> tuple[list[dict] | None, list[str]]:
    """(the function tools in chat shape, the names of built-in tools asked for)."""
    tools = body.get("tools")
    if tools is None:
        return None, []
    if not isinstance(tools, list):
        raise bad("tools", "expected an array of tools")
    chat, builtin = [], []
    for i, t in enumerate(tools):
        if not isinstance(t, dict) or not isinstance(t.get("type"), str):
            raise bad(f"tools[{i}]", 'expected {"type": "function", "name", "parameters"} or a built-in tool')
        if t["type"] != "function":
            builtin.append(t["type"])
            continue
        if not isinstance(t.get("name"), str) or not t["name"]:
            raise bad(f"tools[{i}].name", "a function tool needs a name")
        params = t.get("parameters")
        if params is not None and not isinstance(params, dict):
            raise bad(f"tools[{i}].parameters", "must be a JSON Schema object")
        fn: dict[str, Any] = {"name": t["name"], "parameters": params or {"type": "object", "properties": {}}}
        if isinstance(t.get("description"), str):
            fn["description"] = t["description"]
        if isinstance(t.get("strict"), bool):
            fn["strict"] = t["strict"]
        chat.append({"type": "function", "function": fn})
    return chat or None, builtin


def tool_choice(body: dict) -> tuple[Any, str | None]:
    """(the chat tool_choice, the built-in tool forced, if any)."""
    tc = body.get("tool_choice")
    if tc is None or tc in ("none", "auto", "required"):
        return tc, None
    if isinstance(tc, dict) and tc.get("type") == "function" and isinstance(tc.get("name"), str):
        return {"type": "function", "function": {"name": tc["name"]}}, None
    if isinstance(tc, dict) and isinstance(tc.get("type"), str) and tc["type"] != "function":
        return None, f"tool_choice {tc['type']}"
    raise bad("tool_choice", "expected 'none', 'auto', 'required' or {\"type\": \"function\", \"name\"}")


def text_format(body: dict) -> dict | None:
    """``text.format`` as a chat ``response_format`` (None for plain text)."""
    text = body.get("text")
    if text is None:
        return None
    if not isinstance(text, dict):
        raise bad("text", 'expected an object like {"format": {"type": "json_schema", ...}}')
    fmt = text.get("format")
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind != "json_schema":
        raise bad("text.format.type", "expected 'text', 'json_object' or 'json_schema'")
    assert isinstance(fmt, dict)
    if not isinstance(fmt.get("name"), str) or not fmt["name"]:
        raise bad("text.format.name", "a json_schema format needs a name")
    if not isinstance(fmt.get("schema"), dict):
        raise bad("text.format.schema", "a json_schema format needs a JSON Schema object")
    schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
    return {"type": "json_schema", "json_schema": schema}


def _number(body: dict, name: str, hi: float) -> float | None:
    v = body.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= hi:
        raise bad(name, f"expected a number between 0 and {hi:g}")
    return float(v)


def _max_output(body: dict) -> int | None:
    v = body.get("max_output_tokens")
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**63:
        v = int(v)
    if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
        raise bad("max_output_tokens", "expected a positive integer")
    return v


def _flags(body: dict) -> tuple[bool, bool, str | None]:
    for name in ("stream", "store", "parallel_tool_calls"):
        if body.get(name) is not None and not isinstance(body[name], bool):
            raise bad(name, "expected true or false")
    prev = body.get("previous_response_id")
    if prev is not None and (not isinstance(prev, str) or not prev):
        raise bad("previous_response_id", "expected the id of a stored response")
    if body.get("instructions") is not None and not isinstance(body["instructions"], str):
        raise bad("instructions", "expected a string")
    for name in ("user",):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise bad(name, "expected a string")
    meta = body.get("metadata")
    if meta is not None and (
        not isinstance(meta, dict) or len(meta) > 16 or not all(isinstance(v, str) for v in meta.values())
    ):
        raise bad("metadata", "expected an object of at most 16 string values")
    return bool(body.get("stream")), body.get("store") is not False, prev


def check_body(body: Any, bounds: InputBounds = DEFAULT_BOUNDS) -> dict:
    """The structural checks of a decoded body, before any history is loaded."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    checks.check_structure(body, bounds)
    unknown = sorted(k for k in body if k not in KNOWN)
    if unknown:
        raise InvalidRequest(f"Unrecognized request argument supplied: {', '.join(unknown[:5])}.", param=unknown[0])
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("Missing required parameter: 'model' (a model name, or 'auto' to route).", param="model")
    routing = body.get("faregate")
    if routing is not None and not isinstance(routing, dict):
        raise bad("faregate", 'expected an object like {"min_quality": 0.85}')
    _flags(body)
    input_items(body)
    return body


def build_call(body: dict, history: list[dict], bounds: InputBounds = DEFAULT_BOUNDS) -> ResponsesCall:
    """The validated call of a checked body (``check_body``), after ``history`` (the previous
    response's input and output items) was loaded."""
    stream, store, prev = _flags(body)
    items = [*history, *input_items(body)]
    messages = items_to_messages(items, body.get("instructions"))
    tools, builtin = split_tools(body)
    choice, forced = tool_choice(body)
    response_format = text_format(body)
    checks.count_images(messages, bounds)
    checks.check_schemas(tools, response_format, bounds)
    native = [f"tool {b}" for b in builtin] + ([forced] if forced else [])
    routing = body.get("faregate")
    request = ChatRequest(
        model=body["model"],
        messages=messages,
        stream=stream,
        include_usage=True,
        tools=tools,
        tool_choice=choice if tools or choice == "none" else None,
        parallel_tool_calls=body.get("parallel_tool_calls"),
        response_format=response_format,
        temperature=_number(body, "temperature", 2),
        top_p=_number(body, "top_p", 1),
        max_tokens=_max_output(body),
        user=body.get("user"),
        metadata=body.get("metadata"),
        routing=dict(routing) if isinstance(routing, dict) else None,
        responses={**body, "input": items},
    )
    if native:  # built-in tools search the web or files: an answer that must not come from the cache
        request.routing = {**(request.routing or {}), "cache": "no-cache, no-store"}
    return ResponsesCall(request, body, items, store=store, previous_response_id=prev, native_only=native)
