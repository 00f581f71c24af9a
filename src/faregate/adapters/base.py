"""The adapter contract: a pure translator between canonical types and one wire format.

An adapter does no I/O. The executor asks it to build the upstream HTTP request, then hands
it the bytes that came back: a whole body (``parse_response``) or stream chunks as they
arrive (``stream_parser().feed``). Many endpoints share one adapter (every OpenAI-compatible
server is the OpenAI adapter with another base URL).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import orjson

from ..core.errors import InvalidRequest, UpstreamError, upstream_kind_for_status
from ..core.types import ChatRequest, ChatResponse, Event
from ..core.usage import Prices, Usage


@dataclass(frozen=True, slots=True)
class Target:
    """One resolved deployment: where to send, with which credentials, at which prices."""

    deployment: str  # unique id, e.g. "fake-openai#0"
    model_name: str  # the name clients use
    provider: str  # "openai" | "anthropic" | "gemini"
    upstream_model: str  # the provider's model id
    base_url: str
    api_key: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    prices: Prices = Prices()
    # Provider-specific settings of the endpoint (Azure: ``api_version``, ``auth``).
    options: dict[str, str] = field(default_factory=dict)
    # The upstream serves OpenAI's Responses API: a request from the Responses front goes there as it is.
    responses_api: bool = False


@dataclass(slots=True)
class UpstreamRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


class StreamParser(ABC):
    """Turns a provider's streamed bytes into canonical events, chunk by chunk.

    ``tolerate``: how many malformed events (not JSON, not an object) a stream may skip before
    one fails it; ``skipped`` counts those skipped. 0 by default (strict); the executor sets it
    from the model's ``failover.malformed_events_skipped``. A malformed event that would have
    ended the stream still fails it: the parser's ``close`` finds no end.
    """

    tolerate: int = 0
    skipped: int = 0

    def configure(self, *, tolerate: int, max_line_bytes: int) -> None:
        """Set the malformed-event tolerance and the SSE line cap of this parser."""
        self.tolerate = tolerate
        sse = getattr(self, "_sse", None)
        if sse is not None:
            sse.max_line = max_line_bytes

    def partial_usage(self) -> Usage | None:
        """Usage reported so far by a stream not finished (Anthropic's message_start), if any."""
        return None

    def skip_malformed(self, protocol: str, what: str) -> None:
        """Skip one malformed event (counted), or raise when the tolerance is used up."""
        if self.skipped >= self.tolerate:
            raise malformed(protocol, what + (f" (after {self.skipped} skipped)" if self.skipped else ""))
        self.skipped += 1

    @abstractmethod
    def feed(self, data: bytes) -> list[Event]:
        """Consume the next bytes (any split, even mid-line); return the events now complete.

        Raise ``UpstreamError`` for an in-band error event or a malformed event.
        """

    @abstractmethod
    def close(self) -> list[Event]:
        """The connection ended. Return what is left; raise ``UpstreamError(kind="transient")``
        if the stream ended before the protocol's end marker (a cut stream)."""


class Adapter(ABC):
    """A wire format. Subclasses implement these four methods and nothing with I/O."""

    protocol: str = ""

    @abstractmethod
    def build_request(self, req: ChatRequest, target: Target, *, stream: bool) -> UpstreamRequest:
        """The HTTP request that asks ``target`` for ``req``; credentials come from ``target`` only."""

    @abstractmethod
    def parse_response(self, body: bytes, *, model: str) -> ChatResponse:
        """A whole non-streaming 2xx body into a response; raise ``UpstreamError`` if malformed."""

    @abstractmethod
    def stream_parser(self) -> StreamParser:
        """A fresh parser for one streamed answer."""

    @abstractmethod
    def error_message(self, status: int, body: bytes) -> str:
        """The provider's own message from an error body (never echoing credentials)."""

    # -- other request kinds (the extension point for non-chat fronts) -----------------------
    #
    # A non-chat request (``ChatRequest.kind``) flows through the same pipeline as chat (keys,
    # limits, the cache, failover, the log); only the upstream call differs. The executor asks
    # ``request_for`` / ``response_for`` / ``parser_for``, which dispatch on the kind; an adapter
    # serves a kind by overriding its methods below (and its provider lists the kind in
    # ``ProviderSpec.kinds``). The answer comes back as a ``ChatResponse``: a completion's text is
    # its content, embedding vectors are ``core.embeddings.encode_vectors`` text.

    def build_embed_request(self, req: ChatRequest, target: Target) -> UpstreamRequest:
        """The HTTP request that embeds ``req``'s inputs (``core.embeddings.embed_inputs``)."""
        raise unsupported(self.protocol, "embedding")

    def parse_embed_response(self, body: bytes, req: ChatRequest, *, model: str) -> ChatResponse:
        """An embeddings answer: content = ``encode_vectors(vectors)``, usage in input tokens."""
        raise unsupported(self.protocol, "embedding")

    def build_completion_request(self, req: ChatRequest, target: Target, *, stream: bool) -> UpstreamRequest:
        """A legacy text completion (``req.extra`` holds the client's body)."""
        raise unsupported(self.protocol, "completion")

    def parse_completion_response(self, body: bytes, *, model: str) -> ChatResponse:
        raise unsupported(self.protocol, "completion")

    def completion_stream_parser(self) -> StreamParser:
        raise unsupported(self.protocol, "completion")

    def build_count_request(self, req: ChatRequest, target: Target) -> UpstreamRequest | None:
        """The provider's token-counting call for ``req``'s input; ``None``: it has none (faregate
        then answers its own estimate, ``wire.token_count``)."""
        return None

    def parse_count_response(self, body: bytes) -> int:
        """The input-token count of a counting call's 2xx body; raise ``UpstreamError`` if malformed."""
        raise unsupported(self.protocol, "count_tokens")

    def request_for(self, req: ChatRequest, target: Target, *, stream: bool) -> UpstreamRequest:
        """The upstream request for ``req`` of any kind (what the executor calls)."""
        if req.kind == "embedding":
            return self.build_embed_request(req, target)
        if req.kind == "completion":
            return self.build_completion_request(req, target, stream=stream)
        return self.build_request(req, target, stream=stream)

    def response_for(self, req: ChatRequest, body: bytes, *, model: str) -> ChatResponse:
        """A whole 2xx body for ``req`` of any kind."""
        if req.kind == "embedding":
            return self.parse_embed_response(body, req, model=model)
        if req.kind == "completion":
            return self.parse_completion_response(body, model=model)
        return self.parse_response(body, model=model)

    def parser_for(self, req: ChatRequest) -> StreamParser:
        """A fresh stream parser for ``req``'s kind (embeddings never stream)."""
        return self.completion_stream_parser() if req.kind == "completion" else self.stream_parser()

    def classify_error(
        self, status: int, body: bytes, *, retry_after_s: float | None, deployment: str
    ) -> UpstreamError:
        """An error HTTP status into an ``UpstreamError`` with its retry ``kind``."""
        message = self.error_message(status, body)
        kind = upstream_kind_for_status(status, message)
        return UpstreamError(
            f"{self.protocol} upstream returned {status}: {message}",
            kind=kind,
            provider_status=status,
            retry_after_s=retry_after_s,
            deployment=deployment,
        )


def unsupported(protocol: str, kind: str) -> InvalidRequest:
    """A 400 for a request kind this wire format has no endpoint for."""
    what = {"embedding": "embeddings (/v1/embeddings)", "completion": "legacy text completions (/v1/completions)"}
    return InvalidRequest(
        f"The {protocol} API has no {what.get(kind, kind)}; send this request to a model of a provider that has.",
        param="model",
        code="unsupported_endpoint",
    )


def count_from(body: bytes, key: str, protocol: str) -> int:
    """The non-negative integer ``key`` of a counting answer, or a malformed-reply error."""
    try:
        n = orjson.loads(body).get(key)
    except (orjson.JSONDecodeError, AttributeError):
        n = None
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise malformed(protocol, f"a token count without {key!r}")
    return n


def malformed(protocol: str, what: str) -> UpstreamError:
    return UpstreamError(f"{protocol} upstream sent a malformed reply: {what}", kind="transient")
