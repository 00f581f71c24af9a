"""Embedding requests and answers in the canonical types (``ChatRequest`` of kind ``embedding``).

An embedding request rides the chat pipeline unchanged: each input is one user message (a text,
or a ``{"type": "tokens"}`` part holding a token array), so limits, the request log and the cache
key read it as they read a chat. ``extra`` holds ``dimensions`` and ``encoding_format``. The
answer's vectors travel as the ``ChatResponse`` content (``encode_vectors``): the cache stores
and replays them like any answer, and the embeddings front renders them as floats or base64.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

import orjson

from .types import ChatRequest

EmbedInput = str | list[int]


def embedding_request(
    model: str,
    inputs: list[EmbedInput],
    *,
    dimensions: int | None = None,
    encoding_format: str = "float",
    user: str | None = None,
) -> ChatRequest:
    """The canonical request that embeds ``inputs`` (texts or token arrays) with ``model``."""
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": x if isinstance(x, str) else [{"type": "tokens", "tokens": x}]} for x in inputs
    ]
    extra: dict[str, Any] = {"encoding_format": encoding_format}
    if dimensions is not None:
        extra["dimensions"] = dimensions
    return ChatRequest(model=model, messages=messages, user=user, extra=extra, kind="embedding")


def embed_inputs(req: ChatRequest) -> list[EmbedInput]:
    """The inputs of an embedding request, in order: texts, or token arrays."""
    out: list[EmbedInput] = []
    for m in req.messages:
        c: Any = m.get("content")
        out.append(c if isinstance(c, str) else list(c[0]["tokens"]))
    return out


def input_token_estimate(inputs: list[EmbedInput]) -> int:
    """Tokens of the inputs when the provider reports none: a token array's length, ~4 characters
    a token for a text (the estimate faregate uses everywhere, ``routing.estimate``)."""
    return sum(len(x) if isinstance(x, list) else max(1, (len(x) + 3) // 4) for x in inputs)


def encode_vectors(vectors: list[list[float]]) -> str:
    """Vectors as the answer's content text (compact JSON)."""
    return orjson.dumps(vectors).decode()


def decode_vectors(content: str | None) -> list[list[float]]:
    return orjson.loads(content) if content else []


def as_base64(vector: list[float]) -> str:
    """OpenAI's ``encoding_format: base64``: the little-endian float32 bytes, base64-encoded."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
