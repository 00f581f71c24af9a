"""OpenAI chat completions: also every OpenAI-compatible server (Groq, Together, DeepSeek,
Mistral, vLLM, Ollama, llama.cpp server) by base URL."""

from __future__ import annotations

from typing import Any

import orjson

from ..core.errors import UpstreamError
from ..core.types import (
    ChatRequest,
    ChatResponse,
    Event,
    Finish,
    StreamStart,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    UsageEvent,
)
from ..core.usage import Usage
from . import openai_kinds as kinds
from .base import Adapter, StreamParser, Target, UpstreamRequest, malformed
from .openai_responses import ResponsesEventReader, is_responses_event, parse_responses_body, responses_request
from .sse import SSEDecoder

DEFAULT_BASE_URL = "https://api.openai.com/v1"

# Canonical field -> OpenAI body key, for the optional scalars copied as they are.
_OPTIONAL = (
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "temperature",
    "top_p",
    "max_tokens",
    "stop",
    "seed",
    "user",
    "metadata",
)


def usage_from_openai(u: dict[str, Any] | None) -> Usage:
    if not u:
        return Usage()
    details = u.get("prompt_tokens_details") or {}
    return Usage(
        int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0), int(details.get("cached_tokens") or 0)
    )


class OpenAIAdapter(Adapter):
    """The OpenAI chat completions wire (every OpenAI-compatible server too)."""

    protocol = "openai"

    def build_request(self, req: ChatRequest, target: Target, *, stream: bool) -> UpstreamRequest:
        # A stream resumed with a prefill (``continue_final_message``) is a chat continuation.
        if req.responses is not None and target.responses_api and "continue_final_message" not in req.extra:
            return responses_request(req, target, (target.base_url or DEFAULT_BASE_URL).rstrip("/"), stream=stream)
        body: dict[str, Any] = {"model": target.upstream_model, "messages": req.messages}
        for name in _OPTIONAL:
            value = getattr(req, name)
            if value is not None:
                body[name] = value
        if req.extra:
            body.update(req.extra)
        if req.tools and any("cache_control" in t for t in req.tools):  # an Anthropic marker, not OpenAI's
            body["tools"] = [{k: v for k, v in t.items() if k != "cache_control"} for t in req.tools]
        if stream:
            body["stream"] = True
            # Always ask for usage: cost accounting needs it even when the client did not.
            body["stream_options"] = {"include_usage": True}
        return UpstreamRequest("POST", self.url(target, "chat/completions"), self.headers(target), orjson.dumps(body))

    # The endpoint layout: Azure OpenAI (``adapters/azure.py``) overrides these two only.

    def url(self, target: Target, path: str) -> str:
        """The URL of endpoint ``path`` (``chat/completions``, ``embeddings``, ``completions``)."""
        return f"{(target.base_url or DEFAULT_BASE_URL).rstrip('/')}/{path}"

    def headers(self, target: Target) -> dict[str, str]:
        headers = {"content-type": "application/json", **target.headers}
        if target.api_key:
            headers["authorization"] = f"Bearer {target.api_key}"
        return headers

    # Embeddings and legacy completions (``openai_kinds``).

    def build_embed_request(self, req: ChatRequest, target: Target) -> UpstreamRequest:
        body = kinds.embed_body(req, target.upstream_model)
        return UpstreamRequest("POST", self.url(target, "embeddings"), self.headers(target), body)

    def parse_embed_response(self, body: bytes, req: ChatRequest, *, model: str) -> ChatResponse:
        return kinds.parse_embeddings(body, req, model=model)

    def build_completion_request(self, req: ChatRequest, target: Target, *, stream: bool) -> UpstreamRequest:
        body = kinds.completion_body(req, target.upstream_model, stream=stream)
        return UpstreamRequest("POST", self.url(target, "completions"), self.headers(target), body)

    def parse_completion_response(self, body: bytes, *, model: str) -> ChatResponse:
        return kinds.parse_completion(body, model=model)

    def completion_stream_parser(self) -> StreamParser:
        return _OpenAIStream(completion=True)

    def parse_response(self, body: bytes, *, model: str) -> ChatResponse:
        try:
            data = orjson.loads(body)
            if isinstance(data, dict) and data.get("object") == "response":  # the Responses API's answer
                return parse_responses_body(data, model=model)
            choice = data["choices"][0]
            msg = choice.get("message") or {}
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
            raise malformed(self.protocol, "the body is not a chat.completion object") from None
        calls = [
            ToolCall(
                c.get("id") or f"call_{i}",
                (c.get("function") or {}).get("name", ""),
                (c.get("function") or {}).get("arguments", ""),
            )
            for i, c in enumerate(msg.get("tool_calls") or [])
        ]
        return ChatResponse(
            id=data.get("id") or "",
            model=model,
            content=msg.get("content"),
            tool_calls=calls,
            finish_reason=choice.get("finish_reason") or "stop",
            usage=usage_from_openai(data.get("usage")),
            created=int(data.get("created") or 0),
        )

    def stream_parser(self) -> StreamParser:
        return _OpenAIStream()

    def error_message(self, status: int, body: bytes) -> str:
        try:
            data = orjson.loads(body)
            err = data.get("error") if isinstance(data, dict) else None
            if isinstance(err, dict) and err.get("message"):
                return str(err["message"])
            if isinstance(err, str):
                return err
            if isinstance(data, dict) and data.get("message"):
                return str(data["message"])
        except orjson.JSONDecodeError:
            pass
        text = body[:500].decode("utf-8", "replace").strip()
        return text or f"HTTP {status}"


class _OpenAIStream(StreamParser):
    """Chat completion chunks; with ``completion``, legacy text-completion chunks (``choices[].text``)."""

    __slots__ = ("_sse", "_done", "_started", "_finished", "_completion", "_responses")

    def __init__(self, *, completion: bool = False) -> None:
        self._completion = completion
        self._responses: ResponsesEventReader | None = None  # set once the stream is the Responses API's
        self._sse = SSEDecoder()
        self._done = False
        self._started = False
        self._finished = False

    def feed(self, data: bytes) -> list[Event]:
        return self._events(self._sse.feed(data))

    def close(self) -> list[Event]:
        out = self._events(self._sse.flush())
        if not self._done and not self._finished:
            raise UpstreamError("openai upstream closed the stream before it finished", kind="transient")
        if self.skipped and not self._finished:
            # The event skipped may have been the one that ended the answer: do not pass it as whole.
            raise malformed("openai", "no finish_reason after a malformed event")
        return out

    def _events(self, pairs: list[tuple[str | None, str]]) -> list[Event]:
        out: list[Event] = []
        for _event, data in pairs:
            if data == "[DONE]":
                self._done = True
                continue
            try:
                chunk = orjson.loads(data)
            except orjson.JSONDecodeError:
                self.skip_malformed("openai", "a stream event is not JSON")
                continue
            if not isinstance(chunk, dict):
                self.skip_malformed("openai", "a stream event is not an object")
                continue
            if self._responses is not None or is_responses_event(chunk):
                self._responses = self._responses or ResponsesEventReader()
                out += self._responses.read(chunk)
                self._finished = self._responses.finished
                continue
            if "error" in chunk:
                err = chunk["error"]
                msg = err.get("message") if isinstance(err, dict) else str(err)
                raise UpstreamError(f"openai upstream sent an error event: {msg}", kind="transient")
            if not self._started:
                self._started = True
                out.append(StreamStart(chunk.get("id") or "", chunk.get("model") or ""))
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                text = choice.get("text") if self._completion else delta.get("content")
                if text:
                    out.append(TextDelta(text))
                for tc in delta.get("tool_calls") or ():
                    fn = tc.get("function") or {}
                    out.append(
                        ToolCallDelta(
                            int(tc.get("index") or 0), tc.get("id"), fn.get("name"), fn.get("arguments") or ""
                        )
                    )
                if choice.get("finish_reason"):
                    self._finished = True
                    out.append(Finish(choice["finish_reason"]))
            if chunk.get("usage"):
                out.append(UsageEvent(usage_from_openai(chunk["usage"])))
        return out
