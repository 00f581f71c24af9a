"""The OpenAPI operations of the fronts beyond chat and messages: ``/v1/embeddings``,
``/v1/completions`` and ``/v1/messages/count_tokens`` (``server/fronts_routes.py``). The request
schemas list exactly the fields their validators accept (``wire/embeddings_front.py``,
``wire/completions_front.py``); ``tests/fronts/test_openapi_fronts.py`` checks they agree."""

from __future__ import annotations

from ..wire import completions_front as cf
from ..wire import embeddings_front as ef
from ..wire.openai_front import INT64_MAX, INT64_MIN
from .openapi_admin import ref_response
from .openapi_schemas import Schema, completion_object, nullable, ref, tokens

_TEXT: Schema = {"type": "string"}
_TOKEN_ARRAY: Schema = {
    "type": "array",
    "minItems": 1,
    "items": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
}
_SSE = {"text/event-stream": {"schema": {"type": "string"}}}


def embeddings_request() -> Schema:
    props: dict[str, Schema] = {
        "model": {"type": "string", "minLength": 1, "description": "An embedding model (`mode: embedding`)."},
        "input": {
            "anyOf": [
                {"type": "string", "minLength": 1},
                _TOKEN_ARRAY,
                {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": ef.MAX_INPUTS,
                    "items": {"anyOf": [{"type": "string", "minLength": 1}, _TOKEN_ARRAY]},
                },
            ]
        },
        "dimensions": nullable({"type": "integer", "minimum": 1, "maximum": 65536}),
        "encoding_format": nullable({"enum": ["float", "base64"]}),
        "user": nullable(_TEXT),
        "faregate": nullable(ref("Routing")),
    }
    assert set(props) == ef.KNOWN, "the embeddings schema lists exactly the fields the validator accepts"
    return {"type": "object", "required": ["model", "input"], "properties": props, "additionalProperties": False}


def completion_request(max_tokens: int | None) -> Schema:
    props: dict[str, Schema] = {name: {} for name in ("presence_penalty", "frequency_penalty", "logit_bias")}
    props.update(
        {
            "model": {"type": "string", "minLength": 1},
            "prompt": {
                "anyOf": [
                    _TEXT,
                    _TOKEN_ARRAY,
                    {"type": "array", "minItems": 1, "maxItems": 1, "items": {"anyOf": [_TEXT, _TOKEN_ARRAY]}},
                ],
                "description": "One prompt: faregate returns one choice per request.",
            },
            "suffix": nullable(_TEXT),
            "echo": nullable({"type": "boolean"}),
            "stream": nullable({"type": "boolean"}),
            "stream_options": nullable({"type": "object", "properties": {"include_usage": {"type": "boolean"}}}),
            "max_tokens": nullable(tokens(max_tokens)),
            "temperature": nullable({"type": "number", "minimum": 0, "maximum": 2}),
            "top_p": nullable({"type": "number", "minimum": 0, "maximum": 1}),
            "n": nullable({"const": 1}),
            "best_of": nullable({"const": 1}),
            "logprobs": nullable({"const": False}),
            "stop": {"anyOf": [_TEXT, {"type": "array", "items": _TEXT, "maxItems": 4}, {"type": "null"}]},
            "seed": nullable({"type": "integer", "minimum": INT64_MIN, "maximum": INT64_MAX}),
            "user": nullable(_TEXT),
            "faregate": nullable(ref("Routing")),
        }
    )
    assert set(props) == cf.KNOWN, "the completions schema lists exactly the fields the validator accepts"
    return {"type": "object", "required": ["model", "prompt"], "properties": props, "additionalProperties": False}


_USAGE: Schema = {
    "type": "object",
    "required": ["prompt_tokens", "total_tokens"],
    "properties": {k: {"type": "integer"} for k in ("prompt_tokens", "completion_tokens", "total_tokens")},
}
EMBEDDING_LIST: Schema = {
    "type": "object",
    "required": ["object", "data", "model", "usage"],
    "properties": {
        "object": {"const": "list"},
        "data": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["object", "index", "embedding"],
                "properties": {
                    "object": {"const": "embedding"},
                    "index": {"type": "integer", "minimum": 0},
                    "embedding": {"anyOf": [{"type": "array", "items": {"type": "number"}}, _TEXT]},
                },
            },
        },
        "model": _TEXT,
        "usage": _USAGE,
    },
}
TEXT_COMPLETION: Schema = completion_object(
    "text_completion",
    ["text", "index", "finish_reason"],
    {"text": _TEXT, "index": {"const": 0}, "finish_reason": _TEXT},
    _USAGE,
)
TOKEN_COUNT: Schema = {
    "type": "object",
    "required": ["input_tokens"],
    "properties": {"input_tokens": {"type": "integer", "minimum": 0}},
}


def fronts_schemas(max_tokens: int | None, messages_request: Schema) -> dict[str, Schema]:
    """The components; ``messages_request``: the Messages body schema (a count takes it without ``max_tokens``)."""
    return {
        "EmbeddingsRequest": embeddings_request(),
        "EmbeddingList": EMBEDDING_LIST,
        "CompletionRequest": completion_request(max_tokens),
        "TextCompletion": TEXT_COMPLETION,
        "CountTokensRequest": {**messages_request, "required": ["model", "messages"]},
        "TokenCount": TOKEN_COUNT,
    }


def _op(op_id: str, summary: str, body: str, ok: str, error: str, *, stream: bool = False) -> Schema:
    content: Schema = {"application/json": {"schema": ref(ok)}, **(_SSE if stream else {})}
    return {
        "operationId": op_id,
        "summary": summary,
        "security": [{"gatewayKey": []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": ref(body)}}},
        "responses": {"200": {"description": "The answer", "content": content}, "default": ref_response(error)},
    }


def fronts_paths() -> dict[str, Schema]:
    return {
        "/v1/embeddings": {
            "post": _op("createEmbedding", "OpenAI embeddings", "EmbeddingsRequest", "EmbeddingList", "OpenAIError")
        },
        "/v1/completions": {
            "post": _op(
                "createCompletion",
                "OpenAI legacy text completions (OpenAI-compatible providers)",
                "CompletionRequest",
                "TextCompletion",
                "OpenAIError",
                stream=True,
            )
        },
        "/v1/messages/count_tokens": {
            "post": {
                **_op(
                    "countMessageTokens", "Anthropic token count", "CountTokensRequest", "TokenCount", "AnthropicError"
                ),
                "description": "The provider's count where it has the endpoint (Anthropic), else faregate's "
                "estimate; the x-faregate-token-count-source header says which (provider or estimate).",
            }
        },
    }
