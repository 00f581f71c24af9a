"""``POST /v1/embeddings`` end to end with the official ``openai`` SDK, against the OpenAI and
Gemini fakes: vectors, ``dimensions``, float and base64, token arrays, usage, cost, and the
exact upstream payloads."""

from __future__ import annotations

import base64
import struct

import openai
import pytest

from faregate.testing.fake_fronts import fake_token_count, fake_vector, token_text
from helpers import GATEWAY_KEY

from .fronts_config import EMBED_PRICES, fronts_config, post


@pytest.fixture
def srv(start_server, upstreams):
    return start_server(fronts_config(upstreams))


def client(srv) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=10)


def test_openai_protocol_list_input_with_dimensions(srv, upstreams):
    raw = client(srv).embeddings.with_raw_response.create(
        model="fake-embed", input=["first text", "the second one"], dimensions=4, encoding_format="float"
    )
    res = raw.parse()
    assert [d.embedding for d in res.data] == [fake_vector("first text", 4), fake_vector("the second one", 4)]
    assert [d.index for d in res.data] == [0, 1] and res.model == "fake-embed"
    tokens = fake_token_count("first text") + fake_token_count("the second one")
    assert res.usage.prompt_tokens == tokens == res.usage.total_tokens  # the provider's count, not an estimate
    cost = float(raw.headers["x-faregate-cost-usd"])
    assert cost == pytest.approx(tokens * EMBED_PRICES["fake-embed"] / 1e6)
    assert raw.headers["x-faregate-model"] == "fake-embed"
    rec = upstreams["openai"].last_request()
    assert rec["path"] == "/v1/embeddings"
    assert rec["headers"]["authorization"] == "Bearer sk-upstream-embed"
    assert rec["body"] == {
        "model": "text-embedding-3-small",
        "input": ["first text", "the second one"],
        "encoding_format": "float",
        "dimensions": 4,
    }


def test_sdk_default_base64_is_decoded_by_the_sdk(srv, upstreams):
    # The SDK asks for base64 when not told otherwise, and decodes it itself.
    res = client(srv).embeddings.create(model="fake-embed", input="hello world")
    assert res.data[0].embedding == fake_vector("hello world")
    assert upstreams["openai"].last_request()["body"]["encoding_format"] == "float"  # faregate renders base64


def test_base64_is_little_endian_float32(srv):
    status, body, _ = post(
        srv, "/embeddings", {"model": "fake-embed", "input": "bytes please", "encoding_format": "base64"}
    )
    assert status == 200, body
    raw = base64.b64decode(body["data"][0]["embedding"])
    assert list(struct.unpack(f"<{len(raw) // 4}f", raw)) == fake_vector("bytes please")


def test_token_array_inputs(srv, upstreams):
    res = client(srv).embeddings.create(model="fake-embed", input=[[1, 2, 3], [40, 50]], encoding_format="float")
    assert [d.embedding for d in res.data] == [fake_vector(token_text([1, 2, 3])), fake_vector(token_text([40, 50]))]
    assert upstreams["openai"].last_request()["body"]["input"] == [[1, 2, 3], [40, 50]]
    one = client(srv).embeddings.create(model="fake-embed", input=[7, 8, 9], encoding_format="float")
    assert one.data[0].embedding == fake_vector(token_text([7, 8, 9]))


def test_user_is_passed_on(srv, upstreams):
    client(srv).embeddings.create(model="fake-embed", input="x", user="end-user-42")
    assert upstreams["openai"].last_request()["body"]["user"] == "end-user-42"


def test_gemini_one_input_is_embed_content(srv, upstreams):
    raw = client(srv).embeddings.with_raw_response.create(
        model="fake-gemini-embed", input="a single text", dimensions=6, encoding_format="float"
    )
    res = raw.parse()
    assert res.data[0].embedding == fake_vector("a single text", 6)
    rec = upstreams["gemini"].last_request()
    assert rec["path"] == "/v1beta/models/gemini-embedding-001:embedContent"
    assert rec["headers"]["x-goog-api-key"] == "gemini-upstream-embed"
    assert rec["body"] == {"content": {"parts": [{"text": "a single text"}]}, "outputDimensionality": 6}
    # Gemini reports no usage: faregate estimates (~4 characters a token) and prices that.
    assert res.usage.prompt_tokens == 4  # 13 characters
    assert float(raw.headers["x-faregate-cost-usd"]) == pytest.approx(4 * EMBED_PRICES["fake-gemini-embed"] / 1e6)


def test_gemini_several_inputs_are_batch_embed_contents(srv, upstreams):
    res = client(srv).embeddings.create(model="fake-gemini-embed", input=["one", "two", "three"])
    assert [d.embedding for d in res.data] == [fake_vector(t) for t in ("one", "two", "three")]
    rec = upstreams["gemini"].last_request()
    assert rec["path"] == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert rec["body"] == {
        "requests": [
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": t}]}}
            for t in ("one", "two", "three")
        ]
    }


def test_gemini_refuses_token_arrays_clearly(srv, upstreams):
    with pytest.raises(openai.BadRequestError) as exc:
        client(srv).embeddings.create(model="fake-gemini-embed", input=[1, 2, 3])
    assert "Gemini embeds text only" in str(exc.value)
    assert upstreams["gemini"].requests() == []


def test_upstream_error_is_relayed_in_openai_envelope(srv, upstreams):
    upstreams["openai"].script({"status": 400, "error_message": "input too long for this model"})
    with pytest.raises(openai.BadRequestError) as exc:
        client(srv).embeddings.create(model="fake-embed", input="x")
    assert "input too long for this model" in str(exc.value)
