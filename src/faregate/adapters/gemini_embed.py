"""Gemini embeddings: ``models/{model}:embedContent`` for one input, ``:batchEmbedContents`` for
several (pure functions, no I/O).

One input is sent as ``{"content": {"parts": [{"text": ...}]}, "outputDimensionality": n}``;
several as ``{"requests": [{"model": "models/<id>", "content": ..., "outputDimensionality": n},
...]}``. The answers are ``{"embedding": {"values": [...]}}`` and ``{"embeddings": [{"values":
[...]}, ...]}``. The Gemini API reports no token usage for embeddings: faregate estimates the
input tokens (~4 characters a token) so the per-million input price still applies; a count the
answer does carry (``usageMetadata``, Vertex AI's ``statistics.tokenCount``) is used instead. Gemini embeds
text only: a token-array input is a clear 400.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..core.embeddings import embed_inputs, encode_vectors, input_token_estimate
from ..core.errors import InvalidRequest
from ..core.types import ChatRequest, ChatResponse
from ..core.usage import Usage
from .base import malformed


def embed_call(req: ChatRequest, upstream_model: str) -> tuple[str, bytes]:
    """(the method, ``embedContent`` or ``batchEmbedContents``; the JSON body)."""
    inputs = embed_inputs(req)
    texts: list[str] = []
    for i, x in enumerate(inputs):
        if not isinstance(x, str):
            raise InvalidRequest(
                f"Invalid value for 'input[{i}]': Gemini embeds text only; send text, or use an "
                "OpenAI-compatible embedding model for token arrays.",
                param="input",
            )
        texts.append(x)
    dims = req.extra.get("dimensions")

    def one(text: str) -> dict[str, Any]:
        item: dict[str, Any] = {"content": {"parts": [{"text": text}]}}
        if dims is not None:
            item["outputDimensionality"] = dims
        return item

    if len(texts) == 1:
        return "embedContent", orjson.dumps(one(texts[0]))
    model = "models/" + upstream_model.removeprefix("models/")
    return "batchEmbedContents", orjson.dumps({"requests": [{"model": model, **one(t)} for t in texts]})


def parse_embed(body: bytes, req: ChatRequest, *, model: str) -> ChatResponse:
    try:
        data = orjson.loads(body)
        items = data["embeddings"] if "embeddings" in data else [data["embedding"]]
        vectors = [[float(x) for x in item["values"]] for item in items]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise malformed("gemini", "the body is not an embedding answer") from None
    inputs = embed_inputs(req)
    if len(vectors) != len(inputs):
        raise malformed("gemini", f"{len(vectors)} embeddings for {len(inputs)} inputs")
    tokens = _reported_tokens(data, items)
    return ChatResponse(
        id="", model=model, content=encode_vectors(vectors), usage=Usage(tokens or input_token_estimate(inputs), 0)
    )


def _reported_tokens(data: dict[str, Any], items: list[Any]) -> int:
    """Tokens the answer reports, if it does: ``usageMetadata.promptTokenCount``, or (Vertex AI's
    shape) each embedding's ``statistics.tokenCount``; 0 when it reports none."""
    meta = data.get("usageMetadata")
    if isinstance(meta, dict) and meta.get("promptTokenCount"):
        return int(meta["promptTokenCount"])
    stats = [item.get("statistics") for item in items if isinstance(item, dict)]
    return sum(int(s.get("tokenCount") or 0) for s in stats if isinstance(s, dict))
