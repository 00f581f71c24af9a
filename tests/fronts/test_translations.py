"""The translations against payloads as the providers document them (OpenAI's embeddings and
completions references, Google's Gemini embeddings guide, Anthropic's token counting API):
what faregate sends, and what it reads back."""

from __future__ import annotations

import orjson
import pytest

from faregate.adapters.azure import AzureOpenAIAdapter
from faregate.adapters.base import Target
from faregate.adapters.gemini import GeminiAdapter
from faregate.adapters.openai import OpenAIAdapter
from faregate.core.embeddings import as_base64, decode_vectors, embedding_request
from faregate.core.errors import InvalidRequest, UpstreamError
from faregate.core.types import Finish, TextDelta, UsageEvent
from faregate.wire.completions_front import parse_completion_request

OPENAI = Target("m#0", "m", "openai", "text-embedding-3-small", "https://api.openai.com/v1", "sk-x")
GEMINI = Target("g#0", "g", "gemini", "gemini-embedding-001", "https://generativelanguage.googleapis.com", "AIza")

# OpenAI API reference, "The embedding object" / "Create embeddings" response.
OPENAI_EMBEDDINGS = b"""{
  "object": "list",
  "data": [
    {"object": "embedding", "embedding": [0.0023064255, -0.009327292, -0.0028842222], "index": 0}
  ],
  "model": "text-embedding-3-small",
  "usage": {"prompt_tokens": 8, "total_tokens": 8}
}"""
# Gemini API embeddings guide: embedContent and batchEmbedContents answers.
GEMINI_ONE = b'{"embedding": {"values": [0.013168517, -0.00871193, -0.046782672]}}'
GEMINI_BATCH = b'{"embeddings": [{"values": [0.1, 0.2]}, {"values": [0.3, 0.4]}]}'
# Vertex-style answers carry a per-embedding token count.
GEMINI_STATS = b'{"embeddings": [{"values": [0.5], "statistics": {"tokenCount": 6}}, {"values": [0.6], "statistics": {"tokenCount": 3}}]}'
# OpenAI API reference, legacy "Create completion" response and stream chunk.
COMPLETION = b"""{
  "id": "cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7",
  "object": "text_completion",
  "created": 1589478378,
  "model": "gpt-3.5-turbo-instruct",
  "system_fingerprint": "fp_44709d6fcb",
  "choices": [{"text": "\\n\\nThis is indeed a test", "index": 0, "logprobs": null, "finish_reason": "length"}],
  "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
}"""
COMPLETION_STREAM = (
    b'data: {"id":"cmpl-7iA7iJjj8V2zOkCGvWF2hAkDWBQZe","object":"text_completion","created":1690759702,'
    b'"choices":[{"text":"This","index":0,"logprobs":null,"finish_reason":null}],"model":"gpt-3.5-turbo-instruct"}\n\n'
    b'data: {"id":"cmpl-7iA7iJjj8V2zOkCGvWF2hAkDWBQZe","object":"text_completion","created":1690759702,'
    b'"choices":[{"text":" is","index":0,"logprobs":null,"finish_reason":"length"}],"model":"gpt-3.5-turbo-instruct"}\n\n'
    b'data: {"id":"cmpl-7iA7iJjj8V2zOkCGvWF2hAkDWBQZe","object":"text_completion","created":1690759702,'
    b'"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}\n\n'
    b"data: [DONE]\n\n"
)


def test_openai_embeddings_request_and_documented_answer():
    req = embedding_request("m", ["The food was delicious and the waiter..."], dimensions=3, encoding_format="base64")
    up = OpenAIAdapter().request_for(req, OPENAI, stream=False)
    assert up.url == "https://api.openai.com/v1/embeddings" and up.headers["authorization"] == "Bearer sk-x"
    assert orjson.loads(up.body) == {
        "model": "text-embedding-3-small",
        "input": ["The food was delicious and the waiter..."],
        "encoding_format": "float",
        "dimensions": 3,
    }
    resp = OpenAIAdapter().response_for(req, OPENAI_EMBEDDINGS, model="m")
    assert decode_vectors(resp.content) == [[0.0023064255, -0.009327292, -0.0028842222]]
    assert resp.usage.input_tokens == 8 and resp.usage.output_tokens == 0


def test_openai_embeddings_answer_in_base64_and_out_of_order():
    req = embedding_request("m", ["a", "b"])
    body = orjson.dumps(
        {"data": [{"index": 1, "embedding": as_base64([0.5, -1.0])}, {"index": 0, "embedding": [0.25, 0.75]}]}
    )
    resp = OpenAIAdapter().response_for(req, body, model="m")
    assert decode_vectors(resp.content) == [[0.25, 0.75], [0.5, -1.0]]
    assert resp.usage.input_tokens == 2  # no usage: estimated


@pytest.mark.parametrize("body", [b"{}", b'{"data": [{"embedding": "%%%"}]}', b'{"data": []}', b"[1]"])
def test_openai_malformed_embeddings_fail_over(body):
    with pytest.raises(UpstreamError) as exc:
        OpenAIAdapter().response_for(embedding_request("m", ["a"]), body, model="m")
    assert exc.value.kind == "transient"


def test_gemini_embed_content_request_and_documented_answer():
    req = embedding_request("g", ["What is the meaning of life?"], dimensions=768)
    up = GeminiAdapter().request_for(req, GEMINI, stream=False)
    assert up.url == "https://generativelanguage.googleapis.com/v1beta/models/gemini-embedding-001:embedContent"
    assert up.headers["x-goog-api-key"] == "AIza"
    assert orjson.loads(up.body) == {
        "content": {"parts": [{"text": "What is the meaning of life?"}]},
        "outputDimensionality": 768,
    }
    resp = GeminiAdapter().response_for(req, GEMINI_ONE, model="g")
    assert decode_vectors(resp.content) == [[0.013168517, -0.00871193, -0.046782672]]
    assert resp.usage.input_tokens == 7  # 28 characters, estimated: Gemini reports none


def test_gemini_batch_embed_contents_request_and_documented_answer():
    req = embedding_request("g", ["What is the meaning of life?", "How does the brain work?"])
    up = GeminiAdapter().request_for(req, GEMINI, stream=False)
    assert up.url.endswith("/models/gemini-embedding-001:batchEmbedContents")
    assert orjson.loads(up.body) == {
        "requests": [
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "What is the meaning of life?"}]}},
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "How does the brain work?"}]}},
        ]
    }
    assert decode_vectors(GeminiAdapter().response_for(req, GEMINI_BATCH, model="g").content) == [
        [0.1, 0.2],
        [0.3, 0.4],
    ]
    assert GeminiAdapter().response_for(req, GEMINI_STATS, model="g").usage.input_tokens == 9


def test_gemini_answer_with_the_wrong_count_fails_over():
    req = embedding_request("g", ["a", "b", "c"])
    with pytest.raises(UpstreamError, match="2 embeddings for 3 inputs"):
        GeminiAdapter().response_for(req, GEMINI_BATCH, model="g")


def test_gemini_refuses_token_arrays_before_calling():
    with pytest.raises(InvalidRequest, match="Gemini embeds text only"):
        GeminiAdapter().request_for(embedding_request("g", [[1, 2]]), GEMINI, stream=False)


def test_completion_request_passthrough_and_documented_answer():
    req = parse_completion_request(
        {"model": "m", "prompt": "Say this is a test", "max_tokens": 7, "temperature": 0, "echo": True, "n": 1}
    )
    target = Target("m#0", "m", "openai", "gpt-3.5-turbo-instruct", "https://api.openai.com/v1", "sk-x")
    up = OpenAIAdapter().request_for(req, target, stream=False)
    assert up.url == "https://api.openai.com/v1/completions"
    assert orjson.loads(up.body) == {
        "model": "gpt-3.5-turbo-instruct",
        "prompt": "Say this is a test",
        "max_tokens": 7,
        "temperature": 0.0,
        "echo": True,
    }
    resp = OpenAIAdapter().response_for(req, COMPLETION, model="m")
    assert resp.content == "\n\nThis is indeed a test" and resp.finish_reason == "length"
    assert (resp.usage.input_tokens, resp.usage.output_tokens) == (5, 7)


def test_completion_stream_documented_chunks():
    parser = OpenAIAdapter().parser_for(parse_completion_request({"model": "m", "prompt": "x", "stream": True}))
    events = parser.feed(COMPLETION_STREAM[:100]) + parser.feed(COMPLETION_STREAM[100:]) + parser.close()
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["This", " is"]
    assert [e.reason for e in events if isinstance(e, Finish)] == ["length"]
    usage = [e.usage for e in events if isinstance(e, UsageEvent)]
    assert (usage[0].input_tokens, usage[0].output_tokens) == (5, 2)


def test_azure_layout_and_credentials():
    key = Target(
        "a#0",
        "a",
        "azure",
        "gpt-4o-prod",
        "https://contoso.openai.azure.com/",
        "k",
        options={"api_version": "2024-10-21", "auth": "api-key"},
    )
    req = embedding_request("a", ["x"])
    up = AzureOpenAIAdapter().request_for(req, key, stream=False)
    assert up.url == "https://contoso.openai.azure.com/openai/deployments/gpt-4o-prod/embeddings?api-version=2024-10-21"
    assert up.headers["api-key"] == "k" and "authorization" not in up.headers
    bearer = Target(
        "a#0", "a", "azure", "gpt 4o", "https://contoso.openai.azure.com/openai", "tok", options={"auth": "bearer"}
    )
    from faregate.wire.openai_front import parse_chat_request

    up = AzureOpenAIAdapter().request_for(
        parse_chat_request({"model": "a", "messages": [{"role": "user", "content": "hi"}]}), bearer, stream=True
    )
    assert (
        up.url == "https://contoso.openai.azure.com/openai/deployments/gpt%204o/chat/completions?api-version=2024-10-21"
    )
    assert up.headers["authorization"] == "Bearer tok" and "api-key" not in up.headers
    assert orjson.loads(up.body)["stream"] is True


def test_anthropic_has_no_embeddings_or_completions():
    from faregate.adapters.anthropic import AnthropicAdapter

    target = Target("c#0", "c", "anthropic", "claude", "https://api.anthropic.com", "k")
    with pytest.raises(InvalidRequest, match="has no embeddings"):
        AnthropicAdapter().request_for(embedding_request("c", ["x"]), target, stream=False)
    with pytest.raises(InvalidRequest, match="has no legacy text completions"):
        AnthropicAdapter().request_for(parse_completion_request({"model": "c", "prompt": "x"}), target, stream=False)


def test_token_count_calls_and_documented_answers():
    from faregate.adapters.anthropic import AnthropicAdapter
    from faregate.wire.anthropic_front import parse_messages_request

    req = parse_messages_request(
        {
            "model": "c",
            "max_tokens": 9,
            "stream": True,
            "system": "sys",
            "messages": [{"role": "user", "content": "Hello"}],
        }
    )
    claude = Target("c#0", "c", "anthropic", "claude-sonnet-4-5", "https://api.anthropic.com", "k")
    up = AnthropicAdapter().build_count_request(req, claude)
    assert up is not None and up.url == "https://api.anthropic.com/v1/messages/count_tokens"
    body = orjson.loads(up.body)
    assert body["model"] == "claude-sonnet-4-5" and "max_tokens" not in body and "stream" not in body
    assert AnthropicAdapter().parse_count_response(b'{"input_tokens": 2095}') == 2095  # Anthropic's documented answer
    gemini = Target("g#0", "g", "gemini", "gemini-2.5-flash", "https://generativelanguage.googleapis.com", "AIza")
    up = GeminiAdapter().build_count_request(req, gemini)
    assert up is not None and up.url.endswith("/v1beta/models/gemini-2.5-flash:countTokens")
    gen = orjson.loads(up.body)["generateContentRequest"]
    assert gen["model"] == "models/gemini-2.5-flash" and gen["contents"][0]["parts"] == [{"text": "Hello"}]
    assert GeminiAdapter().parse_count_response(b'{"totalTokens": 10}') == 10  # Google's documented answer
    assert OpenAIAdapter().build_count_request(req, OPENAI) is None  # no endpoint: faregate estimates
    with pytest.raises(UpstreamError):
        GeminiAdapter().parse_count_response(b'{"tokens": 3}')
