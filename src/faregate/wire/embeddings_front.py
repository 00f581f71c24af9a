"""The OpenAI embeddings front (``POST /v1/embeddings``): validate a client's body into an
embedding ``ChatRequest`` (``core.embeddings``), and render the vectors back as OpenAI's
``list`` of ``embedding`` objects, as floats or base64. Pure data, no I/O.

Accepted: ``input`` as a string, a list of strings, a token array (a list of integers) or a list
of token arrays (at most ``MAX_INPUTS``, none empty); ``dimensions``; ``encoding_format``
``float`` (the default) or ``base64``; ``user``; faregate's own ``faregate`` object (cache
directives). The upstream is always asked for floats: base64 is rendered here, the same for
every provider (Gemini has floats only).
"""

from __future__ import annotations

from typing import Any

import orjson

from ..core.embeddings import EmbedInput, as_base64, decode_vectors, embedding_request
from ..core.errors import InvalidRequest
from ..core.types import ChatRequest, ChatResponse
from . import input_checks as checks
from .codec import ReplyFacts, decode_json
from .input_checks import DEFAULT_BOUNDS, InputBounds
from .openai_front import OpenAIChatCodec

MAX_INPUTS = 2048  # OpenAI's own cap on inputs per request
KNOWN = frozenset(("model", "input", "dimensions", "encoding_format", "user", "faregate"))
_INPUT_SHAPES = "a string, a list of strings, a token array (integers) or a list of token arrays"


def _bad(param: str, what: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid value for '{param}': {what}", param=param)


def is_integer(t: Any) -> bool:
    """An integer, as JSON has it: 5.0 is the integer 5 (as JSON Schema says)."""
    return (isinstance(t, int) and not isinstance(t, bool)) or (isinstance(t, float) and t.is_integer())


def tokens(v: list[Any], where: str) -> list[int]:
    """A token array: non-empty, non-negative 32-bit integers."""
    if not v:
        raise _bad(where, "a token array must not be empty")
    if not all(is_integer(t) and 0 <= t < 2**31 for t in v):
        raise _bad(where, "a token array holds non-negative integers (below 2**31) only")
    return [int(t) for t in v]


def _inputs(body: dict[str, Any]) -> list[EmbedInput]:
    raw = body.get("input")
    if raw is None:
        raise InvalidRequest(f"Missing required parameter: 'input' ({_INPUT_SHAPES}).", param="input")
    if isinstance(raw, str):
        raw = [raw]
    elif isinstance(raw, list) and raw and all(is_integer(t) for t in raw):
        return [tokens(raw, "input")]
    if not isinstance(raw, list) or not raw:
        raise _bad("input", f"expected {_INPUT_SHAPES}, not empty")
    if len(raw) > MAX_INPUTS:
        raise _bad("input", f"{len(raw)} inputs is too many; at most {MAX_INPUTS} per request")
    out: list[EmbedInput] = []
    for i, x in enumerate(raw):
        if isinstance(x, str):
            if not x:
                raise _bad(f"input[{i}]", "an empty string has no embedding")
            out.append(x)
        elif isinstance(x, list):
            out.append(tokens(x, f"input[{i}]"))
        else:
            raise _bad(f"input[{i}]", f"expected a string or a token array, got {type(x).__name__}")
    return out


def parse_embedding_request(body: Any, bounds: InputBounds = DEFAULT_BOUNDS) -> ChatRequest:
    """Validate an OpenAI embeddings body (already JSON-decoded) into a ``ChatRequest``."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    checks.check_openai_body(body, bounds, KNOWN, MAX_INPUTS)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("Missing required parameter: 'model' (an embedding model's name).", param="model")
    dims = body.get("dimensions")
    if isinstance(dims, float) and dims.is_integer():
        dims = int(dims)
    if dims is not None and (isinstance(dims, bool) or not isinstance(dims, int) or not 1 <= dims <= 65536):
        raise _bad("dimensions", "expected an integer from 1 to 65536")
    fmt = body.get("encoding_format")
    if fmt is None:
        fmt = "float"
    if fmt not in ("float", "base64"):
        raise _bad("encoding_format", "expected 'float' or 'base64'")
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise _bad("user", "expected a string")
    routing = body.get("faregate")
    if routing is not None and not isinstance(routing, dict):
        raise _bad("faregate", 'expected an object like {"cache": "no-store"}')
    req = embedding_request(model, _inputs(body), dimensions=dims, encoding_format=fmt, user=user)
    req.routing = routing
    return req


def render_embeddings(resp: ChatResponse, facts: ReplyFacts) -> bytes:
    req = facts.request
    base64_out = req is not None and req.extra.get("encoding_format") == "base64"
    data = [
        {"object": "embedding", "index": i, "embedding": as_base64(v) if base64_out else v}
        for i, v in enumerate(decode_vectors(resp.content))
    ]
    n = resp.usage.input_tokens
    usage = {"prompt_tokens": n, "total_tokens": n, "cost_usd": round(facts.cost_usd, 10)}
    return orjson.dumps({"object": "list", "data": data, "model": facts.model, "usage": usage})


class EmbeddingsCodec(OpenAIChatCodec):
    """The ``FrontCodec`` of ``POST /v1/embeddings`` (errors in OpenAI's envelope, as chat's).

    An embeddings request never streams, so the inherited ``stream_encoder`` is never asked for."""

    def parse_request(self, body: bytes, bounds: InputBounds = DEFAULT_BOUNDS) -> ChatRequest:
        return parse_embedding_request(decode_json(body), bounds)

    def encode_reply(self, response: ChatResponse, facts: ReplyFacts) -> bytes:
        return render_embeddings(response, facts)
