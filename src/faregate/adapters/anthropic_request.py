"""Canonical request -> Anthropic Messages body (``build_body``).

System and developer messages are hoisted into ``system``; tool messages become ``tool_result``
blocks in a user turn; consecutive same-role turns are merged (Anthropic wants user and
assistant to alternate); ``max_tokens`` defaults to ``DEFAULT_MAX_TOKENS``; ``temperature`` is
clamped to 0..1 and wins over ``top_p``; JSON mode comes from ``anthropic_json_mode``.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..core.errors import InvalidRequest
from ..core.types import ChatRequest, content_text
from .anthropic_json_mode import JSON_TOOL, json_instruction, json_tool
from .anthropic_prompt_cache import apply as plan_prompt_cache

DEFAULT_MAX_TOKENS = 4096


def image_block(url: str, where: str) -> dict[str, Any]:
    """An OpenAI ``image_url`` into an Anthropic image block (base64 data URL or a web URL)."""
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if not sep or encoding != "base64" or not data:
            raise InvalidRequest(
                f"{where}: a data URL image must be base64 encoded (data:image/png;base64,...)", param=where
            )
        media_type = "image/jpeg" if media_type == "image/jpg" else (media_type or "image/png")
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _blocks(content: Any, where: str) -> list[dict[str, Any]]:
    """Canonical content (a string or parts) into Anthropic content blocks; empty text is dropped."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    out: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text":
            if part.get("text"):
                block = {"type": "text", "text": part["text"]}
                if isinstance(part.get("cache_control"), dict):
                    block["cache_control"] = part["cache_control"]  # a prompt-caching breakpoint
                out.append(block)
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if isinstance(url, str) and url:
                out.append(image_block(url, f"{where}.{j}.image_url.url"))
    return out


def _tool_use(call: dict[str, Any], where: str) -> dict[str, Any]:
    fn = call.get("function") or {}
    raw = fn.get("arguments")
    if isinstance(raw, dict):
        args: Any = raw
    else:
        try:
            args = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            raise InvalidRequest(
                f"{where}.function.arguments: not valid JSON", param=f"{where}.function.arguments"
            ) from None
    if not isinstance(args, dict):
        args = {"value": args}  # Anthropic's tool input must be an object
    return {"type": "tool_use", "id": call.get("id") or "", "name": fn.get("name") or "", "input": args}


def _messages(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []

    def push(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})

    for i, m in enumerate(messages):
        role = m.get("role")
        where = f"messages.{i}"
        if role in ("system", "developer"):
            if isinstance(m.get("content"), list) and any("cache_control" in p for p in m["content"]):
                system += _blocks(m["content"], f"{where}.content")
                continue
            text = content_text(m.get("content"), sep="")
            if text:
                system.append({"type": "text", "text": text})
        elif role == "user":
            push("user", _blocks(m.get("content"), f"{where}.content"))
        elif role == "assistant":
            blocks = _blocks(m.get("content"), f"{where}.content")
            blocks += [_tool_use(c, f"{where}.tool_calls.{j}") for j, c in enumerate(m.get("tool_calls") or ())]
            push("assistant", blocks)
        elif role == "tool":
            content = m.get("content")
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": m.get("tool_call_id") or ""}
            if isinstance(content, str):
                if content:
                    result["content"] = content
            else:
                blocks = _blocks(content, f"{where}.content")
                if blocks:
                    result["content"] = blocks
            push("user", [result])
    for msg in out:  # a turn that is one text block reads better (and is smaller) as a string
        c = msg["content"]
        if len(c) == 1 and c[0]["type"] == "text" and "cache_control" not in c[0]:
            msg["content"] = c[0]["text"]
    return system, out


def _tool_choice(choice: Any, parallel: bool | None) -> dict[str, Any] | None:
    out: dict[str, Any] | None
    if choice is None:
        out = None
    elif choice == "auto":
        out = {"type": "auto"}
    elif choice == "none":
        out = {"type": "none"}
    elif choice == "required":
        out = {"type": "any"}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        out = {"type": "tool", "name": (choice.get("function") or {}).get("name", "")}
    else:
        out = None
    if parallel is False:
        if out is None:
            out = {"type": "auto"}
        if out["type"] != "none":
            out["disable_parallel_tool_use"] = True
    return out


def build_body(req: ChatRequest, model: str, *, stream: bool) -> dict[str, Any]:
    """The Anthropic Messages body for ``req`` (public for the tests and the fake provider)."""
    system, messages = _messages(req.messages)
    forced = None if req.tools else json_tool(req.response_format)
    instruction = None if forced else json_instruction(req.response_format)
    if instruction:
        system.append({"type": "text", "text": instruction})
    body: dict[str, Any] = {"model": model, "max_tokens": req.max_tokens or DEFAULT_MAX_TOKENS, "messages": messages}
    if any("cache_control" in b for b in system):
        body["system"] = system  # blocks: a breakpoint sits on one of them
    elif system:
        body["system"] = "\n\n".join(b["text"] for b in system)
    if req.tools:
        tools = []
        for t in req.tools:
            fn = t.get("function") or {}
            tool = {
                "name": fn.get("name", ""),
                "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
            }
            if fn.get("description"):
                tool["description"] = fn["description"]
            if isinstance(t.get("cache_control"), dict):
                tool["cache_control"] = t["cache_control"]  # a breakpoint closing the tools prefix
            tools.append(tool)
        body["tools"] = tools
        choice = _tool_choice(req.tool_choice, req.parallel_tool_calls)
        if choice is not None:
            body["tool_choice"] = choice
    if forced:
        body["tools"] = [forced]
        body["tool_choice"] = {"type": "tool", "name": JSON_TOOL}
    if req.stop:
        stops = [s for s in req.stop if s.strip()]  # Anthropic rejects whitespace-only stop sequences
        if stops:
            body["stop_sequences"] = stops
    if req.temperature is not None:
        body["temperature"] = min(max(float(req.temperature), 0.0), 1.0)
    elif req.top_p is not None:
        body["top_p"] = req.top_p
    if req.user:
        body["metadata"] = {"user_id": req.user}
    if stream:
        body["stream"] = True
    if req.prompt_caching != "pass" or _has_markers(body):
        plan_prompt_cache(body, req.prompt_caching)
    return body


def _has_markers(body: dict[str, Any]) -> bool:
    if any("cache_control" in t for t in body.get("tools") or ()):
        return True
    return isinstance(body.get("system"), list) or any(
        isinstance(m["content"], list) and any("cache_control" in b for b in m["content"]) for m in body["messages"]
    )
