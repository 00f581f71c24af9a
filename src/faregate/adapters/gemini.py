"""Google Gemini (``{base_url}/v1beta/models/{model}:generateContent`` and
``:streamGenerateContent?alt=sse``): canonical <-> Gemini wire.

Translation choices worth knowing:

- ``system``/``developer`` messages become ``systemInstruction``; assistant turns are role
  ``model``; tool results are ``functionResponse`` parts in a user turn, named after the call they
  answer (looked up by ``tool_call_id`` in the earlier assistant message). A tool result that is a
  JSON object is sent as the response itself, anything else as ``{"output": ...}``.
- Gemini function calls carry no id: answers number them ``call_0``, ``call_1``... within one reply.
- JSON schemas (tool parameters, ``responseSchema``) are rewritten into Gemini's OpenAPI subset:
  ``$ref`` inlined, ``type: [x, "null"]`` and null variants turned into ``nullable``, ``const``
  into ``enum``, keys Gemini rejects (``additionalProperties``, ``$schema``, ``strict``...) dropped;
  ``responseSchema`` also gets ``propertyOrdering`` so the JSON keeps the schema's key order.
- Gemini 3 requires a thought signature on replayed function calls; the canonical history has none,
  so replayed calls carry Google's documented placeholder (``PLACEHOLDER_THOUGHT_SIGNATURE``).
- ``user``, ``metadata`` and ``parallel_tool_calls`` have no Gemini equivalent and are dropped.
"""

from __future__ import annotations

import orjson

from ..core.types import ChatRequest, ChatResponse
from .base import Adapter, StreamParser, Target, UpstreamRequest, count_from
from .gemini_embed import embed_call, parse_embed
from .gemini_request import build_body
from .gemini_response import GeminiStream, error_message, parse_message

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"


class GeminiAdapter(Adapter):
    """The Gemini generateContent wire: request building, whole answers, streams and error bodies."""

    protocol = "gemini"

    def build_request(self, req: ChatRequest, target: Target, *, stream: bool) -> UpstreamRequest:
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return UpstreamRequest("POST", _url(target, method), _headers(target), orjson.dumps(build_body(req)))

    def build_embed_request(self, req: ChatRequest, target: Target) -> UpstreamRequest:
        method, body = embed_call(req, target.upstream_model)
        return UpstreamRequest("POST", _url(target, method), _headers(target), body)

    def parse_embed_response(self, body: bytes, req: ChatRequest, *, model: str) -> ChatResponse:
        return parse_embed(body, req, model=model)

    def build_count_request(self, req: ChatRequest, target: Target) -> UpstreamRequest:
        """``models/{model}:countTokens`` over the whole generate request (system, tools included)."""
        model = "models/" + target.upstream_model.removeprefix("models/")
        body = {"generateContentRequest": {"model": model, **build_body(req)}}
        return UpstreamRequest("POST", _url(target, "countTokens"), _headers(target), orjson.dumps(body))

    def parse_count_response(self, body: bytes) -> int:
        return count_from(body, "totalTokens", self.protocol)

    def parse_response(self, body: bytes, *, model: str) -> ChatResponse:
        return parse_message(body, model=model)

    def stream_parser(self) -> StreamParser:
        return GeminiStream()

    def error_message(self, status: int, body: bytes) -> str:
        return error_message(status, body)


def _headers(target: Target) -> dict[str, str]:
    headers = {"content-type": "application/json", **target.headers}
    if target.api_key:
        headers["x-goog-api-key"] = target.api_key
    return headers


def _url(target: Target, method: str) -> str:
    base = (target.base_url or DEFAULT_BASE_URL).rstrip("/")
    if not (base.endswith("/v1beta") or base.endswith("/v1")):
        base += "/v1beta"
    return f"{base}/models/{target.upstream_model.removeprefix('models/')}:{method}"
