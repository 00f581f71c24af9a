"""The ``FrontCodec`` of ``POST /v1/responses`` (``responses_front`` parses, ``responses_render``
renders). One codec per request: it carries the request's echoed fields into the response
object. Errors use OpenAI's ``{"error": ...}`` envelope."""

from __future__ import annotations

import orjson

from ..core.errors import GatewayError
from ..core.types import ChatRequest, ChatResponse
from .codec import ReplyFacts, decode_json
from .input_checks import DEFAULT_BOUNDS, InputBounds
from .responses_front import ResponsesCall, build_call, check_body
from .responses_render import ECHO, ResponseShape, ResponseStreamEncoder, render_response


class ResponsesCodec:
    """Parses a body with no stored history; ``for_call`` gives the codec of one parsed call."""

    def __init__(self, call: ResponsesCall | None = None) -> None:
        echo = {k: v for k, v in (call.body.items() if call else ()) if k in ECHO}
        if call is not None:
            echo["store"] = call.store
        self.shape = ResponseShape(echo)

    @staticmethod
    def for_call(call: ResponsesCall) -> ResponsesCodec:
        return ResponsesCodec(call)

    def parse_request(self, body: bytes, bounds: InputBounds = DEFAULT_BOUNDS) -> ChatRequest:
        return build_call(check_body(decode_json(body), bounds), [], bounds).request

    def response_object(self, response: ChatResponse, facts: ReplyFacts) -> dict:
        return render_response(response, facts, self.shape)

    def encode_reply(self, response: ChatResponse, facts: ReplyFacts) -> bytes:
        return orjson.dumps(self.response_object(response, facts))

    def stream_encoder(self, facts: ReplyFacts) -> ResponseStreamEncoder:
        return ResponseStreamEncoder(facts, self.shape)

    def encode_error(self, err: GatewayError) -> tuple[int, bytes, dict[str, str]]:
        return err.status, orjson.dumps(err.envelope()), dict(err.headers)
