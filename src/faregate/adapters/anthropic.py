"""Anthropic Messages API (``POST {base_url}/v1/messages``): canonical <-> Anthropic wire.

Translation choices worth knowing:

- ``system`` and ``developer`` messages, wherever they sit, are hoisted in order into ``system``.
- Tool messages become ``tool_result`` blocks in a user turn; consecutive same-role turns are
  merged, since Anthropic wants user and assistant to alternate.
- ``max_tokens`` is required by Anthropic: ``DEFAULT_MAX_TOKENS`` when the request has none.
- ``temperature`` is clamped to Anthropic's 0..1 range; when both ``temperature`` and ``top_p``
  are set only ``temperature`` is sent (recent Claude models reject the pair).
- ``response_format`` (json_object / json_schema): this API version has no JSON mode. When the
  request has no tools of its own, the schema becomes the input schema of one reserved tool
  (``JSON_TOOL``) that Claude is forced to call; the parsers turn that call back into the text
  answer (streamed as text deltas, finish reason ``stop``), so the client sees plain JSON text that
  matches the schema. With the client's own tools (a forced tool would shut them out), or a schema
  whose root is not an object (tool inputs must be objects), an instruction appended to ``system``
  asks for bare JSON matching the schema instead.
- ``seed`` and OpenAI-only extras have no Anthropic equivalent and are dropped.
"""

from __future__ import annotations

import orjson

from ..core.types import ChatRequest, ChatResponse
from .anthropic_request import build_body
from .anthropic_response import error_message, parse_message
from .anthropic_stream import AnthropicStream
from .base import Adapter, StreamParser, Target, UpstreamRequest, count_from

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
# What Anthropic's counting endpoint accepts of a Messages body.
_COUNTED_FIELDS = ("model", "messages", "system", "tools", "tool_choice", "thinking")


class AnthropicAdapter(Adapter):
    """The Anthropic Messages wire: request building, whole answers, streams and error bodies."""

    protocol = "anthropic"

    def build_request(self, req: ChatRequest, target: Target, *, stream: bool) -> UpstreamRequest:
        body = build_body(req, target.upstream_model, stream=stream)
        headers = {"content-type": "application/json", "anthropic-version": API_VERSION, **target.headers}
        if target.api_key:
            headers["x-api-key"] = target.api_key
        base = (target.base_url or DEFAULT_BASE_URL).rstrip("/")
        url = f"{base}/messages" if base.endswith("/v1") else f"{base}/v1/messages"
        return UpstreamRequest("POST", url, headers, orjson.dumps(body))

    def parse_response(self, body: bytes, *, model: str) -> ChatResponse:
        return parse_message(body, model=model)

    def build_count_request(self, req: ChatRequest, target: Target) -> UpstreamRequest:
        """``/v1/messages/count_tokens``: the Messages body without what a count refuses (max_tokens, stream...)."""
        up = self.build_request(req, target, stream=False)
        sent = orjson.loads(up.body)
        body = {k: sent[k] for k in _COUNTED_FIELDS if k in sent}
        return UpstreamRequest("POST", up.url + "/count_tokens", up.headers, orjson.dumps(body))

    def parse_count_response(self, body: bytes) -> int:
        return count_from(body, "input_tokens", self.protocol)

    def stream_parser(self) -> StreamParser:
        return AnthropicStream()

    def error_message(self, status: int, body: bytes) -> str:
        return error_message(status, body)
