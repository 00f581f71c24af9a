"""``ResponsesCodec`` as a ``FrontCodec``: bad bodies are 400s, a body parses into the canonical
request and its answer renders back with the request's fields echoed, errors in OpenAI's envelope
(in a stream: ``error`` then ``response.failed``)."""

from __future__ import annotations

import orjson
import pytest

from faregate.core.errors import InvalidRequest, RateLimited, UpstreamError
from faregate.core.types import ChatResponse, TextDelta
from faregate.core.usage import Usage
from faregate.wire.codec import ReplyFacts
from faregate.wire.responses_codec import ResponsesCodec
from faregate.wire.responses_front import build_call, check_body

FACTS = ReplyFacts(request_id="req_00ff", model="m-answered", cost_usd=0.0005)


@pytest.mark.parametrize("raw", [b"", b"{not json", b"[1, 2]", b'{"model": ""}', b'{"model": "m"}'])
def test_bad_bodies_are_invalid_requests(raw):
    with pytest.raises(InvalidRequest) as exc:
        ResponsesCodec().parse_request(raw)
    assert exc.value.status == 400


def test_round_trip_echoes_the_request():
    body = {
        "model": "auto",
        "input": "hi",
        "instructions": "Be terse.",
        "stream": True,
        "max_output_tokens": 40,
        "metadata": {"k": "v"},
        "faregate": {"min_quality": 0.5},
    }
    req = ResponsesCodec().parse_request(orjson.dumps(body))
    assert (req.model, req.stream, req.include_usage, req.max_tokens) == ("auto", True, True, 40)
    assert req.routing == {"min_quality": 0.5} and req.messages[0] == {"role": "system", "content": "Be terse."}
    codec = ResponsesCodec.for_call(build_call(check_body(body), []))
    out = orjson.loads(codec.encode_reply(ChatResponse("up", "m", "Hello", usage=Usage(3, 2)), FACTS))
    assert (
        out["id"] == "resp_00ff" and out["model"] == "m-answered" and out["output"][0]["content"][0]["text"] == "Hello"
    )
    assert (out["instructions"], out["max_output_tokens"], out["metadata"]) == ("Be terse.", 40, {"k": "v"})
    assert out["usage"]["total_tokens"] == 5 and out["usage"]["cost_usd"] == 0.0005


def test_errors_in_openai_envelope_and_in_band():
    codec = ResponsesCodec()
    status, body, headers = codec.encode_error(InvalidRequest("input: bad", param="input"))
    assert status == 400 and orjson.loads(body)["error"]["param"] == "input" and headers == {}
    status, _, headers = codec.encode_error(RateLimited("slow down", retry_after_s=2))
    assert status == 429 and headers["retry-after"] == "2"
    enc = codec.stream_encoder(FACTS)
    enc.render(TextDelta("partial"))
    events = [
        orjson.loads(line[6:])
        for line in enc.error(UpstreamError("broke")).decode().splitlines()
        if line.startswith("data: ")
    ]
    assert [e["type"] for e in events] == ["error", "response.failed"]
    assert (
        events[1]["response"]["error"]["message"] == "broke" and events[1]["response"]["output"][0]["type"] == "message"
    )
