"""Checks every front runs on a decoded body before it trusts its structure: the input bounds
(``core.bounds``), and the OpenAI fields that would multiply a request's cost past what
faregate reserves, charges and returns. Pure data, no I/O.

Why refuse rather than support ``n``: the limits step reserves one completion, the executor
charges the usage an upstream reports, and every front renders one choice. Forwarding ``n=4``
would bill four answers and return one; supporting it needs all three to change together, so
until then ``n`` other than 1 is a clear 400, as are ``logprobs`` (the answer always carries
``logprobs: null``) and audio output (not rendered, billed at audio rates).
"""

from __future__ import annotations

from typing import Any

from ..core.bounds import DEFAULT_BOUNDS, InputBounds, TooLarge, check_schema, check_structure
from ..core.errors import InvalidRequest

IMAGE_PART_TYPES = frozenset(("image_url", "image", "input_image"))


def _refuse(param: str, what: str) -> InvalidRequest:
    return InvalidRequest(f"Unsupported value for '{param}': {what}", param=param, code="unsupported_parameter")


def refuse_cost_multipliers(body: dict[str, Any]) -> None:
    """``n``, ``logprobs``/``top_logprobs`` and audio output: only their neutral values pass."""
    n = body.get("n")
    if n is not None and (isinstance(n, bool) or n != 1):
        raise _refuse(
            "n", f"{n!r}; faregate returns one choice per request, so send n=1 (or omit it) and one request per answer."
        )
    lp = body.get("logprobs")
    if lp is not None and lp is not False:
        raise _refuse("logprobs", f"{lp!r}; faregate does not return log probabilities: omit it or send false.")
    tlp = body.get("top_logprobs")
    if tlp is not None and (isinstance(tlp, bool) or tlp != 0):
        raise _refuse("top_logprobs", f"{tlp!r}; faregate does not return log probabilities: omit it or send 0.")
    if body.get("audio") is not None:
        raise _refuse("audio", "audio output is not supported (it would be billed and not returned): omit 'audio'.")
    mods = body.get("modalities")
    if mods is not None and (not isinstance(mods, list) or any(m != "text" for m in mods)):
        raise _refuse("modalities", f'{mods!r}; only ["text"] is supported.')


def check_openai_body(body: dict[str, Any], bounds: InputBounds, known: frozenset[str], max_messages: int) -> None:
    """What an OpenAI chat body is checked for before it is walked: unknown fields, the message
    count (the clearer error, before counting values), the structure, the cost multipliers."""
    unknown = [k for k in body if k not in known]
    if unknown:
        raise InvalidRequest(
            f"Unrecognized request argument supplied: {', '.join(map(str, unknown[:5]))}", param=str(unknown[0])
        )
    msgs = body.get("messages")
    if isinstance(msgs, list) and len(msgs) > max_messages:
        raise InvalidRequest(
            f"Invalid value for 'messages': {len(msgs)} messages is too many; at most {max_messages} are accepted",
            param="messages",
        )
    check_structure(body, bounds)
    refuse_cost_multipliers(body)


def count_images(messages: Any, bounds: InputBounds) -> None:
    """Refuse more than ``bounds.max_image_parts`` image parts (each is billed as input, unseen by estimates)."""
    n = 0
    for m in messages if isinstance(messages, list) else ():
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, list):
            n += sum(1 for p in content if isinstance(p, dict) and p.get("type") in IMAGE_PART_TYPES)
    if n > bounds.max_image_parts:
        raise TooLarge(
            f"The request has {n} image parts; at most {bounds.max_image_parts} are accepted (bounds.max_image_parts).",
            param="messages",
        )


def check_schemas(tools: list[dict[str, Any]] | None, response_format: Any, bounds: InputBounds) -> None:
    """Every tool's parameters and the response schema, measured with their ``$ref``s inlined."""
    for i, t in enumerate(tools or ()):
        fn = t.get("function") if isinstance(t, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("parameters"), dict):
            check_schema(fn["parameters"], f"tools[{i}].function.parameters", bounds)
    if isinstance(response_format, dict):
        js = response_format.get("json_schema")
        if isinstance(js, dict) and isinstance(js.get("schema"), dict):
            check_schema(js["schema"], "response_format.json_schema.schema", bounds)


__all__ = [
    "check_openai_body",
    "DEFAULT_BOUNDS",
    "InputBounds",
    "check_schemas",
    "check_structure",
    "count_images",
    "refuse_cost_multipliers",
]
