"""The OpenAI wire's other request kinds: ``/embeddings`` and legacy ``/completions`` bodies and
answers (the OpenAI and Azure adapters send them; pure functions, no I/O)."""

from __future__ import annotations

import base64
import struct
from typing import Any

import orjson

from ..core.embeddings import embed_inputs, encode_vectors, input_token_estimate
from ..core.types import ChatRequest, ChatResponse
from ..core.usage import Usage
from .base import malformed

# Canonical fields a text completion sends as they are (the rest of the client's body is in ``extra``).
_COMPLETION_SCALARS = ("temperature", "top_p", "max_tokens", "stop", "seed", "user")


def embed_body(req: ChatRequest, upstream_model: str) -> bytes:
    """Always asks for floats: faregate renders base64 itself, the same for every provider."""
    body: dict[str, Any] = {"model": upstream_model, "input": embed_inputs(req), "encoding_format": "float"}
    if req.extra.get("dimensions") is not None:
        body["dimensions"] = req.extra["dimensions"]
    if req.user is not None:
        body["user"] = req.user
    return orjson.dumps(body)


def _vector(v: Any) -> list[float]:
    if isinstance(v, str):  # a server that answers base64 whatever was asked
        raw = base64.b64decode(v, validate=True)
        if not raw or len(raw) % 4:
            raise ValueError("not float32 bytes")
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))
    if not isinstance(v, list) or not v:
        raise TypeError("not a vector")
    return [float(x) for x in v]


def parse_embeddings(body: bytes, req: ChatRequest, *, model: str) -> ChatResponse:
    """An OpenAI ``list`` of ``embedding`` objects, in input order (by ``index``)."""
    try:
        data = orjson.loads(body)
        items = sorted(data["data"], key=lambda d: int(d.get("index") or 0))
        vectors = [_vector(d["embedding"]) for d in items]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError, struct.error):
        raise malformed("openai", "the body is not a list of embeddings") from None
    n = len(req.messages)
    if len(vectors) != n:
        raise malformed("openai", f"{len(vectors)} embeddings for {n} inputs")
    u = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    tokens = int(u.get("prompt_tokens") or 0) or input_token_estimate(embed_inputs(req))
    return ChatResponse(id="", model=model, content=encode_vectors(vectors), usage=Usage(tokens, 0))


def completion_body(req: ChatRequest, upstream_model: str, *, stream: bool) -> bytes:
    """The client's completion body, with the deployment's model and faregate's stream options."""
    content = req.messages[0]["content"] if req.messages else ""
    prompt = content if isinstance(content, str) else content[0]["tokens"]
    body: dict[str, Any] = {"model": upstream_model, "prompt": prompt}
    for name in _COMPLETION_SCALARS:
        value = getattr(req, name)
        if value is not None:
            body[name] = value
    body.update(req.extra)
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}  # cost accounting needs it
    return orjson.dumps(body)


def _usage(u: Any) -> Usage:
    if not isinstance(u, dict):
        return Usage()
    details = u.get("prompt_tokens_details") or {}
    return Usage(
        int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0), int(details.get("cached_tokens") or 0)
    )


def parse_completion(body: bytes, *, model: str) -> ChatResponse:
    try:
        data = orjson.loads(body)
        choice = data["choices"][0]
        text = choice.get("text")
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
        raise malformed("openai", "the body is not a text_completion object") from None
    return ChatResponse(
        id=data.get("id") or "",
        model=model,
        content=text if isinstance(text, str) else "",
        finish_reason=choice.get("finish_reason") or "stop",
        usage=_usage(data.get("usage")),
        created=int(data.get("created") or 0),
    )
