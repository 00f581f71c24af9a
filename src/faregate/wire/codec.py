"""The front-codec protocol: what one client-facing API (a "front") must provide so the one
generic HTTP handler can serve it. Pure data, no I/O.

A front is a wire format a client speaks: OpenAI chat completions (``openai_front``), Anthropic
messages (``anthropic_front``); the Responses and Embeddings fronts are added the same way, one
codec each. The server's handler does everything else (authentication, the body-size cap,
routing headers, the pipeline, the faregate response headers, writing a stream), so a codec only
translates: a request body in, a canonical ``ChatRequest`` out; a canonical response, event or
error in, this front's bytes out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from ..core.bounds import DEFAULT_BOUNDS, InputBounds
from ..core.errors import GatewayError, InvalidRequest
from ..core.types import ChatRequest, ChatResponse


@dataclass(frozen=True, slots=True)
class ReplyFacts:
    """What the gateway knows about an answer that a front may render.

    ``request_id``: the id faregate gave the request (answers carry it as their ``id``).
    ``model``: the model name to show (the model that answered, else the one asked for).
    ``cost_usd``: the cost so far (for a stream, the cost when the stream opened).
    ``include_usage``: the client asked for usage in the stream (OpenAI ``stream_options``).
    ``resumed_at``: read when a stream ends: where the answer was resumed on another deployment
    (the characters sent before the cut), ``None`` when it was not; an encoder marks its final
    event with ``resume_marker`` then.
    ``request``: the canonical request answered (a front reads its own options from it, e.g.
    the embeddings front's ``encoding_format``).
    """

    request_id: str
    model: str
    cost_usd: float = 0.0
    include_usage: bool = False
    resumed_at: Callable[[], int | None] = lambda: None
    request: ChatRequest | None = None


def resume_marker(facts: ReplyFacts) -> dict[str, Any] | None:
    """The ``faregate`` field of a resumed stream's final event (``None``: not resumed)."""
    at = facts.resumed_at()
    return None if at is None else {"resumed": True, "resume_offset": at}


def with_marker(sse: bytes, marker: dict[str, Any] | None) -> bytes:
    """``sse`` with ``"faregate": marker`` added to its last JSON data event (unchanged without
    a marker, or without such an event: ``data: [DONE]`` is not one)."""
    end = sse.rfind(b"}\n\n")
    if marker is None or end < 0:
        return sse
    return sse[:end] + b',"faregate":' + orjson.dumps(marker) + sse[end:]


class StreamEncoder(Protocol):
    """One streamed answer in one front's SSE format. Stateful: one encoder per stream."""

    def render(self, ev: Any) -> bytes:
        """The bytes for one canonical stream event (``TextDelta``, ``ToolCallDelta``, ``Finish``,
        ``UsageEvent``); may be ``b""`` when the event is held (usage waits for the end)."""
        ...

    def end(self, cost_usd: float) -> bytes:
        """The bytes that close a stream that ended normally (the front's final events, its
        terminator); ``cost_usd`` is the request's cost once the stream is done."""
        ...

    def error(self, err: GatewayError) -> bytes:
        """The bytes for an in-band error: the stream's headers are already sent, so the error
        travels as this front's error event, and nothing follows it."""
        ...


class FrontCodec(Protocol):
    """A client-facing API. Registering one is ``add_front(app, path, Codec())`` in the server."""

    def parse_request(self, body: bytes, bounds: InputBounds = DEFAULT_BOUNDS) -> ChatRequest:
        """Decode and validate a raw request body into the canonical request.

        Raises ``InvalidRequest`` (status 400) naming the field at fault for anything this front
        does not accept; the body may be empty, not JSON, or any JSON value. ``bounds`` caps its
        structure (``core.bounds``) before anything walks it."""
        ...

    def encode_reply(self, response: ChatResponse, facts: ReplyFacts) -> bytes:
        """The JSON body of a complete (non-streamed) answer, in this front's shape."""
        ...

    def stream_encoder(self, facts: ReplyFacts) -> StreamEncoder:
        """A fresh encoder for one streamed answer (see ``StreamEncoder``)."""
        ...

    def encode_error(self, err: GatewayError) -> tuple[int, bytes, dict[str, str]]:
        """An error answered before any byte of a reply: (HTTP status, JSON body in this front's
        error envelope, headers the error itself carries, e.g. ``retry-after``). The server adds
        its own faregate headers to these."""
        ...


def decode_json(raw: bytes) -> Any:
    """Parse a request body; invalid UTF-8, malformed or too deeply nested JSON give a clear 400."""
    if not raw:
        raise InvalidRequest("The request body is empty: send a JSON object.")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        msg = str(exc)
        if "utf-8" in msg.lower() or "surrogate" in msg.lower():
            raise InvalidRequest("The request body is not valid UTF-8.", code="invalid_json") from None
        if "recursion" in msg.lower() or "depth" in msg.lower():
            raise InvalidRequest("The request body's JSON is nested too deeply.", code="invalid_json") from None
        raise InvalidRequest(f"The request body is not valid JSON ({msg}).", code="invalid_json") from None
