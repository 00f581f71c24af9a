"""The legacy text-completions front (``POST /v1/completions``): validate a client's body into a
``ChatRequest`` of kind ``completion``, and render answers as OpenAI ``text_completion`` objects
and stream chunks. Pure data, no I/O.

Passed through to OpenAI-compatible upstreams (``/completions``) as the client sent it, with the
deployment's model; other providers have no such endpoint (a 400 from the pipeline). The prompt
is the request's one user message, so limits, the log and the cache read it as a chat's. One
prompt and one choice per request: a list of several prompts, ``n`` or ``best_of`` above 1 and
``logprobs`` are refused (faregate reserves, charges and renders one answer).
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from ..core.errors import GatewayError, InvalidRequest
from ..core.types import ChatRequest, ChatResponse, Finish, TextDelta, UsageEvent
from ..core.usage import Usage
from . import input_checks as checks
from .codec import ReplyFacts, decode_json
from .embeddings_front import is_integer, tokens
from .input_checks import DEFAULT_BOUNDS, InputBounds
from .openai_front import INT64_MAX, INT64_MIN, OpenAIChatCodec, _bad, _int, _num, _stop

PASSTHROUGH = frozenset(("suffix", "echo", "presence_penalty", "frequency_penalty", "logit_bias"))
KNOWN = PASSTHROUGH | frozenset(
    (
        *("model", "prompt", "stream", "stream_options", "max_tokens", "temperature", "top_p", "n"),
        *("logprobs", "stop", "best_of", "user", "seed", "faregate"),
    )
)


def _prompt(body: dict[str, Any]) -> str | list[int]:
    p = body.get("prompt")
    if isinstance(p, list) and len(p) == 1 and isinstance(p[0], (str, list)):
        p = p[0]  # a list of one prompt
    if isinstance(p, str):
        return p
    if isinstance(p, list) and p and all(is_integer(t) for t in p):
        return tokens(p, "prompt")
    if isinstance(p, list) and len(p) > 1:
        raise _bad("prompt", "send one prompt per request (faregate returns one choice per request)")
    raise _bad("prompt", "expected a string, or a non-empty token array (non-negative integers)")


def _scalars(body: dict[str, Any]) -> dict[str, Any]:
    best_of = body.get("best_of")
    if best_of is not None and (isinstance(best_of, bool) or best_of != 1):
        raise InvalidRequest(
            f"Unsupported value for 'best_of': {best_of!r}; faregate bills and returns one completion, send 1 or omit it.",
            param="best_of",
            code="unsupported_parameter",
        )
    seed = body.get("seed")
    if isinstance(seed, float) and seed.is_integer() and INT64_MIN <= seed <= INT64_MAX:
        seed = int(seed)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not INT64_MIN <= seed <= INT64_MAX):
        raise _bad("seed", "expected a 64-bit integer")
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise _bad("user", "expected a string")
    for flag in ("stream", "echo"):
        if body.get(flag) is not None and not isinstance(body[flag], bool):
            raise _bad(flag, "expected true or false")
    so = body.get("stream_options")
    if so is not None and not isinstance(so, dict):
        raise _bad("stream_options", 'expected an object like {"include_usage": true}')
    if body.get("suffix") is not None and not isinstance(body["suffix"], str):
        raise _bad("suffix", "expected a string")
    return {
        "temperature": _num(body, "temperature", 0, 2),
        "top_p": _num(body, "top_p", 0, 1),
        "max_tokens": _int(body, "max_tokens"),
        "stop": _stop(body),
        "seed": seed,
        "user": user,
    }


def parse_completion_request(body: Any, bounds: InputBounds = DEFAULT_BOUNDS) -> ChatRequest:
    """Validate an OpenAI completions body (already JSON-decoded) into a ``ChatRequest``."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    checks.check_openai_body(body, bounds, KNOWN, 1)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("Missing required parameter: 'model'.", param="model")
    prompt = _prompt(body)
    scalars = _scalars(body)
    routing = body.get("faregate")
    if routing is not None and not isinstance(routing, dict):
        raise _bad("faregate", 'expected an object like {"cache": "no-store"}')
    so = body.get("stream_options") or {}
    content: Any = prompt if isinstance(prompt, str) else [{"type": "tokens", "tokens": prompt}]
    return ChatRequest(
        model=model,
        messages=[{"role": "user", "content": content}],
        stream=bool(body.get("stream")),
        include_usage=bool(so.get("include_usage")),
        routing=routing,
        extra={k: body[k] for k in PASSTHROUGH if body.get(k) is not None},
        kind="completion",
        **scalars,
    )


def _usage(usage: Usage, cost_usd: float) -> dict[str, Any]:
    u = usage.to_openai()
    u.pop("prompt_tokens_details", None)
    u["cost_usd"] = round(cost_usd, 10)
    return u


def render_completion(resp: ChatResponse, facts: ReplyFacts) -> bytes:
    choice = {"text": resp.content or "", "index": 0, "logprobs": None, "finish_reason": resp.finish_reason}
    return orjson.dumps(
        {
            "id": facts.request_id,
            "object": "text_completion",
            "created": resp.created or int(time.time()),
            "model": facts.model,
            "choices": [choice],
            "usage": _usage(resp.usage, facts.cost_usd),
        }
    )


class CompletionChunks:
    """Canonical events to ``text_completion`` SSE chunks, for one streamed answer."""

    def __init__(self, facts: ReplyFacts) -> None:
        self._facts, self._created, self._usage = facts, int(time.time()), Usage()

    def _chunk(self, choices: list[dict[str, Any]], **more: Any) -> bytes:
        f = self._facts
        obj = {"id": f.request_id, "object": "text_completion", "created": self._created, "model": f.model}
        return b"data: " + orjson.dumps({**obj, "choices": choices, **more}) + b"\n\n"

    def render(self, ev: Any) -> bytes:
        if isinstance(ev, TextDelta):
            return self._chunk([{"text": ev.text, "index": 0, "logprobs": None, "finish_reason": None}])
        if isinstance(ev, Finish):
            return self._chunk([{"text": "", "index": 0, "logprobs": None, "finish_reason": ev.reason}])
        if isinstance(ev, UsageEvent):
            self._usage = ev.usage
        return b""

    def end(self, cost_usd: float) -> bytes:
        out = self._chunk([], usage=_usage(self._usage, cost_usd)) if self._facts.include_usage else b""
        return out + b"data: [DONE]\n\n"

    def error(self, err: GatewayError) -> bytes:
        return b"data: " + orjson.dumps(err.envelope()) + b"\n\n"


class CompletionsCodec(OpenAIChatCodec):
    """The ``FrontCodec`` of ``POST /v1/completions`` (errors in OpenAI's envelope, as chat's)."""

    def parse_request(self, body: bytes, bounds: InputBounds = DEFAULT_BOUNDS) -> ChatRequest:
        return parse_completion_request(decode_json(body), bounds)

    def encode_reply(self, response: ChatResponse, facts: ReplyFacts) -> bytes:
        return render_completion(response, facts)

    def stream_encoder(self, facts: ReplyFacts) -> CompletionChunks:  # type: ignore[override]
        return CompletionChunks(facts)
