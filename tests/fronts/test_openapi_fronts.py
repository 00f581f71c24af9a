"""The embeddings and completions request schemas of the spec agree with their validators: on
each sample, the schema accepts exactly when the validator does."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest

from faregate.core.errors import GatewayError
from faregate.server.openapi import build_spec
from faregate.wire.completions_front import parse_completion_request
from faregate.wire.embeddings_front import MAX_INPUTS, parse_embedding_request

SPEC = build_spec(128_000)


def _valid(component: str, body: Any) -> bool:
    root = {"$ref": f"#/components/schemas/{component}", "components": SPEC["components"]}
    return jsonschema_rs.validator_for(root).is_valid(body)


def _accepts(parse, body: Any) -> bool:
    try:
        parse(body)
    except GatewayError as err:
        assert err.status == 400
        return False
    return True


EMBEDDINGS = [
    {"model": "m", "input": "x"},
    {"model": "m", "input": ""},
    {"model": "m", "input": ["a", "b"]},
    {"model": "m", "input": ["a", ""]},
    {"model": "m", "input": []},
    {"model": "m", "input": [1, 2, 3]},
    {"model": "m", "input": [1.0, 2]},
    {"model": "m", "input": [1.5]},
    {"model": "m", "input": [-1]},
    {"model": "m", "input": [2**31]},
    {"model": "m", "input": [[1, 2], [3]]},
    {"model": "m", "input": [[1, 2], []]},
    {"model": "m", "input": ["a", [1, 2]]},
    {"model": "m", "input": ["a", 1]},
    {"model": "m", "input": [True]},
    {"model": "m", "input": {"text": "x"}},
    {"model": "m", "input": ["x"] * (MAX_INPUTS + 1)},
    {"model": "m"},
    {"input": "x"},
    {"model": "", "input": "x"},
    {"model": "m", "input": "x", "dimensions": 256},
    {"model": "m", "input": "x", "dimensions": 256.0},
    {"model": "m", "input": "x", "dimensions": 0},
    {"model": "m", "input": "x", "dimensions": True},
    {"model": "m", "input": "x", "dimensions": None},
    {"model": "m", "input": "x", "encoding_format": "base64"},
    {"model": "m", "input": "x", "encoding_format": "int8"},
    {"model": "m", "input": "x", "encoding_format": None},
    {"model": "m", "input": "x", "user": "u"},
    {"model": "m", "input": "x", "user": 5},
    {"model": "m", "input": "x", "colour": "red"},
    {"model": "m", "input": "x", "faregate": {"cache": "no-store"}},
]


@pytest.mark.parametrize("body", EMBEDDINGS, ids=range(len(EMBEDDINGS)))
def test_embeddings_schema_agrees_with_the_validator(body):
    assert _valid("EmbeddingsRequest", body) == _accepts(parse_embedding_request, body), body


COMPLETIONS = [
    {"model": "m", "prompt": "x"},
    {"model": "m", "prompt": ""},
    {"model": "m", "prompt": ["x"]},
    {"model": "m", "prompt": ["x", "y"]},
    {"model": "m", "prompt": [1, 2]},
    {"model": "m", "prompt": [[1, 2]]},
    {"model": "m", "prompt": [[]]},
    {"model": "m", "prompt": []},
    {"model": "m", "prompt": 5},
    {"model": "m"},
    {"model": "m", "prompt": "x", "n": 1, "best_of": 1, "logprobs": False},
    {"model": "m", "prompt": "x", "n": 2},
    {"model": "m", "prompt": "x", "best_of": 2},
    {"model": "m", "prompt": "x", "logprobs": 3},
    {"model": "m", "prompt": "x", "max_tokens": 0},
    {"model": "m", "prompt": "x", "max_tokens": 16.0},
    {"model": "m", "prompt": "x", "temperature": 2.5},
    {"model": "m", "prompt": "x", "top_p": 0.5, "seed": 7, "user": "u", "stop": ["a", "b"]},
    {"model": "m", "prompt": "x", "stop": ["a", "b", "c", "d", "e"]},
    {"model": "m", "prompt": "x", "stream": "yes"},
    {"model": "m", "prompt": "x", "echo": 1},
    {"model": "m", "prompt": "x", "suffix": 5},
    {"model": "m", "prompt": "x", "suffix": "end", "echo": True, "presence_penalty": 0.5},
    {"model": "m", "prompt": "x", "seed": 1.5},
    {"model": "m", "prompt": "x", "stream_options": "yes"},
    {"model": "m", "prompt": "x", "top_logprobs": 2},
]


@pytest.mark.parametrize("body", COMPLETIONS, ids=range(len(COMPLETIONS)))
def test_completions_schema_agrees_with_the_validator(body):
    assert _valid("CompletionRequest", body) == _accepts(parse_completion_request, body), body


def test_count_tokens_takes_a_messages_body_without_max_tokens():
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert _valid("CountTokensRequest", body) and not _valid("MessagesRequest", body)
