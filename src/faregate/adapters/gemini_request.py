"""Canonical request -> Gemini GenerateContentRequest (``build_body``).

``system``/``developer`` messages become ``systemInstruction``; assistant turns are role
``model``; tool results are ``functionResponse`` parts named after the call they answer; replayed
function calls carry Google's placeholder thought signature (the canonical history has none).
"""

from __future__ import annotations

from typing import Any

import orjson

from ..core.errors import InvalidRequest
from ..core.types import ChatRequest, content_text
from .gemini_schema import gemini_schema, with_property_ordering

# Documented by Google for histories whose function calls come from elsewhere (no real signature).
PLACEHOLDER_THOUGHT_SIGNATURE = "skip_thought_signature_validator"

_IMAGE_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "heic": "image/heic",
    "heif": "image/heif",
    "pdf": "application/pdf",
}


def _mime_from_url(url: str) -> str | None:
    tail = url.split("?", 1)[0].rsplit(".", 1)
    return _IMAGE_TYPES.get(tail[-1].lower()) if len(tail) == 2 else None


def _parts(content: Any, where: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    out: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text":
            if part.get("text"):
                out.append({"text": part["text"]})
        elif part.get("type") == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str) or not url:
                continue
            if url.startswith("data:"):
                header, sep, data = url[5:].partition(",")
                mime, _, encoding = header.partition(";")
                if not sep or encoding != "base64" or not data:
                    param = f"{where}.{j}.image_url.url"
                    raise InvalidRequest(
                        f"{param}: a data URL image must be base64 encoded (data:image/png;base64,...)", param=param
                    )
                out.append({"inlineData": {"mimeType": mime or "image/png", "data": data}})
            else:
                file_data = {"fileUri": url}
                guessed = _mime_from_url(url)
                if guessed:
                    file_data["mimeType"] = guessed
                out.append({"fileData": file_data})
    return out


def _function_response(m: dict[str, Any], name: str) -> dict[str, Any]:
    text = content_text(m.get("content"), sep="")
    try:
        value = orjson.loads(text) if text else ""
    except orjson.JSONDecodeError:
        value = text
    response = value if isinstance(value, dict) else {"output": value}
    return {"functionResponse": {"name": name, "response": response}}


def _contents(messages: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    system: list[str] = []
    out: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool_call_id -> function name, from the assistant turns seen so far

    def push(role: str, parts: list[dict[str, Any]]) -> None:
        if not parts:
            return
        if out and out[-1]["role"] == role:
            out[-1]["parts"].extend(parts)
        else:
            out.append({"role": role, "parts": parts})

    for i, m in enumerate(messages):
        role = m.get("role")
        where = f"messages.{i}"
        if role in ("system", "developer"):
            text = content_text(m.get("content"), sep="")
            if text:
                system.append(text)
        elif role == "user":
            push("user", _parts(m.get("content"), f"{where}.content"))
        elif role == "assistant":
            parts = _parts(m.get("content"), f"{where}.content")
            for j, call in enumerate(m.get("tool_calls") or ()):
                fn = call.get("function") or {}
                raw = fn.get("arguments")
                try:
                    args = raw if isinstance(raw, dict) else (orjson.loads(raw) if raw else {})
                except orjson.JSONDecodeError:
                    param = f"{where}.tool_calls.{j}.function.arguments"
                    raise InvalidRequest(f"{param}: not valid JSON", param=param) from None
                name = fn.get("name") or ""
                if call.get("id"):
                    names[call["id"]] = name
                part: dict[str, Any] = {
                    "functionCall": {"name": name, "args": args if isinstance(args, dict) else {"value": args}}
                }
                if j == 0:
                    part["thoughtSignature"] = PLACEHOLDER_THOUGHT_SIGNATURE
                parts.append(part)
            push("model", parts)
        elif role == "tool":
            call_id = m.get("tool_call_id") or ""
            name = names.get(call_id) or m.get("name") or call_id
            push("user", [_function_response(m, name)])
    return system, out


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if choice == "auto":
        return {"functionCallingConfig": {"mode": "AUTO"}}
    if choice == "none":
        return {"functionCallingConfig": {"mode": "NONE"}}
    if choice == "required":
        return {"functionCallingConfig": {"mode": "ANY"}}
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name", "")
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    return None


def _declaration(tool: dict[str, Any]) -> dict[str, Any]:
    fn = tool.get("function") or {}
    decl: dict[str, Any] = {"name": fn.get("name", "")}
    if fn.get("description"):
        decl["description"] = fn["description"]
    params = fn.get("parameters")
    if isinstance(params, dict) and params.get("properties"):  # Gemini rejects an OBJECT without properties
        decl["parameters"] = gemini_schema(params)
    return decl


def build_body(req: ChatRequest) -> dict[str, Any]:
    """The Gemini GenerateContentRequest for ``req`` (public for the tests and the fake provider)."""
    system, contents = _contents(req.messages)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    if req.tools:
        body["tools"] = [{"functionDeclarations": [_declaration(t) for t in req.tools]}]
        config = _tool_config(req.tool_choice)
        if config:
            body["toolConfig"] = config
    gen: dict[str, Any] = {}
    if req.temperature is not None:
        gen["temperature"] = req.temperature
    if req.top_p is not None:
        gen["topP"] = req.top_p
    if req.max_tokens is not None:
        gen["maxOutputTokens"] = req.max_tokens
    if req.stop:
        gen["stopSequences"] = list(req.stop)
    if req.seed is not None:
        gen["seed"] = req.seed
    fmt = req.response_format or {}
    if fmt.get("type") in ("json_object", "json_schema"):
        gen["responseMimeType"] = "application/json"
        schema = (fmt.get("json_schema") or {}).get("schema") if fmt.get("type") == "json_schema" else None
        if isinstance(schema, dict):
            gen["responseSchema"] = with_property_ordering(gemini_schema(schema))
    if gen:
        body["generationConfig"] = gen
    return body
