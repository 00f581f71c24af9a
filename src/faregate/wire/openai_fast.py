"""The fast path of the OpenAI chat front's validation: the common body shape, checked in one
pass over what it holds, without the general walk of ``openai_front.parse_chat_request``.

Plain conversations (``model``, text ``messages`` of system, developer, user or assistant,
optionally ``stream``, ``stream_options: {include_usage}``, ``temperature``, ``top_p``,
``max_tokens``/``max_completion_tokens``, ``user``) are most of a gateway's traffic. For such a
body every check of the general path has a known outcome (no unknown field, no cost multiplier,
depth 3, no image, no schema), so ``fast_chat_request`` builds the same ``ChatRequest`` directly.
Anything else, and anything not valid, returns ``None``: the general path then decides, so its
error messages stay the only ones. ``tests/wire/test_openai_fast.py`` checks both give the same
result over random bodies, valid and not.
"""

from __future__ import annotations

from typing import Any

from ..core.bounds import InputBounds
from ..core.types import ChatRequest

_FIELDS = frozenset(
    ("model", "messages", "stream", "stream_options", "temperature", "top_p", "max_tokens", "max_completion_tokens")
) | {"user"}
_ROLES = frozenset(("system", "developer", "user", "assistant"))
_MESSAGE_KEYS = frozenset(("role", "content", "name"))
MAX_MESSAGES = 4096  # openai_front.MAX_MESSAGES (a test keeps them equal)
_DEPTH = 3  # body -> messages -> a message -> its content


def _number(v: Any, hi: float) -> bool:
    return (type(v) is float or type(v) is int) and 0 <= v <= hi


def _count(v: Any) -> bool:
    return type(v) is int and v >= 1


def _messages_ok(msgs: Any) -> int:
    """The JSON values under ``messages`` when every message is plain text (-1 otherwise)."""
    if type(msgs) is not list or not 0 < len(msgs) <= MAX_MESSAGES:
        return -1
    nodes = len(msgs)
    for m in msgs:
        role = m.get("role") if type(m) is dict else None
        if type(role) is not str or role not in _ROLES or type(m.get("content")) is not str:
            return -1
        if len(m) > 2 and (not _MESSAGE_KEYS.issuperset(m) or type(m.get("name", "")) is not str):
            return -1
        nodes += len(m)
    return nodes


def fast_chat_request(body: Any, bounds: InputBounds) -> ChatRequest | None:
    """The ``ChatRequest`` of a plain, valid body; ``None``: use the general path."""
    if type(body) is not dict or not _FIELDS.issuperset(body):
        return None
    if bounds.max_json_depth < _DEPTH or bounds.max_image_parts < 0:
        return None
    model = body.get("model")
    if type(model) is not str or not model:
        return None
    nodes = _messages_ok(body.get("messages"))
    if nodes < 0:
        return None
    stream = body.get("stream", False)
    so = body.get("stream_options")
    temperature, top_p = body.get("temperature"), body.get("top_p")
    mct, mt = body.get("max_completion_tokens"), body.get("max_tokens")
    user = body.get("user")
    if (
        type(stream) is not bool
        or (so is not None and (type(so) is not dict or so.keys() - {"include_usage"} or "include_usage" not in so))
        or (so is not None and type(so["include_usage"]) is not bool)
        or (temperature is not None and not _number(temperature, 2))
        or (top_p is not None and not _number(top_p, 1))
        or (mct is not None and not _count(mct))
        or (mt is not None and not _count(mt))
        or (user is not None and type(user) is not str)
        or len(body) + nodes + (len(so) if so else 0) > bounds.max_json_nodes
    ):
        return None
    return ChatRequest(
        model=model,
        messages=body["messages"],
        stream=stream,
        include_usage=bool(so and so["include_usage"]),
        temperature=None if temperature is None else float(temperature),
        top_p=None if top_p is None else float(top_p),
        max_tokens=mct or mt,
        user=user,
        extra={},
    )
