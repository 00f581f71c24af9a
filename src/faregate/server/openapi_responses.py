"""The OpenAPI description of the Responses API routes (``responses_routes``): the request as
``wire/responses_front`` validates it (narrower where the validator's rules are cross-field: only
text parts, function tools and the item types a chat translation carries are described), the
``response`` object, and the stored-response and input-token operations."""

from __future__ import annotations

from .openapi_admin import ref_response
from .openapi_schemas import Schema, ref, tokens

_TEXT: Schema = {"type": "string"}
_ID: Schema = {"type": "string", "minLength": 1}
_PARTS: Schema = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["type", "text"],
        "properties": {"type": {"enum": ["input_text", "output_text"]}, "text": _TEXT},
    },
}
_MESSAGE: Schema = {
    "type": "object",
    "required": ["role", "content"],
    "properties": {
        "type": {"const": "message"},
        "role": {"enum": ["user", "assistant", "system", "developer"]},
        "content": {"anyOf": [_TEXT, _PARTS]},
    },
}
_CALL: Schema = {
    "type": "object",
    "required": ["type", "call_id", "name", "arguments"],
    "properties": {"type": {"const": "function_call"}, "call_id": _ID, "name": _ID, "arguments": _TEXT},
}
_CALL_OUTPUT: Schema = {
    "type": "object",
    "required": ["type", "call_id", "output"],
    "properties": {"type": {"const": "function_call_output"}, "call_id": _ID, "output": _TEXT},
}
# A conversation needs one item that is not a system or developer message.
_NOT_SYSTEM: Schema = {
    "anyOf": [
        {"type": "object", "required": ["role"], "properties": {"role": {"enum": ["user", "assistant"]}}},
        {
            "type": "object",
            "required": ["type"],
            "properties": {"type": {"enum": ["function_call", "function_call_output"]}},
        },
    ]
}
_FUNCTION_TOOL: Schema = {
    "type": "object",
    "required": ["type", "name"],
    "properties": {
        "type": {"const": "function"},
        "name": _ID,
        "description": _TEXT,
        "parameters": {"type": "object"},
        "strict": {"type": "boolean"},
    },
}
_FORMAT: Schema = {
    "anyOf": [
        {"type": "object", "required": ["type"], "properties": {"type": {"enum": ["text", "json_object"]}}},
        {
            "type": "object",
            "required": ["type", "name", "schema"],
            "properties": {
                "type": {"const": "json_schema"},
                "name": _ID,
                "schema": {"type": "object"},
                "strict": {"type": "boolean"},
                "description": _TEXT,
            },
        },
    ]
}


def responses_request(max_tokens: int | None) -> Schema:
    props: dict[str, Schema] = {
        "model": {"type": "string", "minLength": 1, "description": "A model, a route, or 'auto'."},
        "input": {
            "anyOf": [
                _TEXT,
                {
                    "type": "array",
                    "minItems": 1,
                    "items": {"anyOf": [_MESSAGE, _CALL, _CALL_OUTPUT]},
                    "contains": _NOT_SYSTEM,
                },
            ]
        },
        "instructions": _TEXT,
        "tools": {"type": "array", "items": _FUNCTION_TOOL},
        "tool_choice": {
            "anyOf": [
                {"enum": ["none", "auto", "required"]},
                {
                    "type": "object",
                    "required": ["type", "name"],
                    "properties": {"type": {"const": "function"}, "name": _TEXT},
                },
            ]
        },
        "parallel_tool_calls": {"type": "boolean"},
        "text": {"type": "object", "properties": {"format": _FORMAT}},
        "max_output_tokens": tokens(max_tokens),
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
        "stream": {"type": "boolean"},
        "store": {"type": "boolean", "description": "Keep the response for previous_response_id (default true)."},
        "previous_response_id": {**_ID, "description": "A stored response of the same key to continue."},
        "metadata": {"type": "object", "maxProperties": 16, "additionalProperties": _TEXT},
        "user": _TEXT,
        "faregate": ref("Routing"),
    }
    return {
        "type": "object",
        "required": ["model", "input"],
        "properties": props,
        "additionalProperties": False,
        "description": "Also accepted and passed to an upstream serving the Responses API: reasoning, truncation, "
        "include, top_logprobs, service_tier, prompt_cache_key, safety_identifier; built-in tools (web_search, ...) "
        "where the model is served over that API; image and file parts.",
    }


RESPONSE: Schema = {
    "type": "object",
    "required": ["id", "object", "created_at", "status", "model", "output"],
    "properties": {
        "id": _TEXT,
        "object": {"const": "response"},
        "created_at": {"type": "integer"},
        "status": {"enum": ["completed", "incomplete", "failed", "in_progress"]},
        "model": _TEXT,
        "output": {"type": "array", "items": {"type": "object", "required": ["type"]}},
        "usage": {"anyOf": [{"type": "object", "required": ["input_tokens", "output_tokens"]}, {"type": "null"}]},
    },
}
_DELETED: Schema = {
    "type": "object",
    "required": ["id", "object", "deleted"],
    "properties": {"id": _TEXT, "object": {"const": "response"}, "deleted": {"const": True}},
}
_COUNT: Schema = {
    "type": "object",
    "required": ["object", "input_tokens"],
    "properties": {"object": {"const": "response.input_tokens"}, "input_tokens": {"type": "integer", "minimum": 0}},
}
_PATH_ID = [{"name": "id", "in": "path", "required": True, "schema": _ID}]


def _op(op_id: str, summary: str, ok: Schema, *, body: str | None = None, **kw: object) -> Schema:
    op: Schema = {
        "operationId": op_id,
        "summary": summary,
        "security": [{"gatewayKey": []}],
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": ok}}},
            "default": ref_response("OpenAIError"),
        },
        **kw,
    }
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(body)}}}
    return op


def responses_schemas(max_tokens: int | None) -> dict[str, Schema]:
    return {"ResponsesRequest": responses_request(max_tokens), "Response": RESPONSE}


def responses_paths() -> dict[str, Schema]:
    create = _op("createResponse", "OpenAI Responses API", ref("Response"), body="ResponsesRequest")
    create["responses"]["200"]["description"] = "The response (an event stream when the request says stream: true)"
    create["responses"]["200"]["content"]["text/event-stream"] = {"schema": {"type": "string"}}
    count = _op("countResponseInputTokens", "Input tokens of a Responses request", _COUNT, body="ResponsesRequest")
    count["responses"]["200"]["headers"] = {
        "x-faregate-token-count-source": {
            "description": "provider (the upstream counted) or estimate (faregate's estimate)",
            "schema": {"enum": ["provider", "estimate"]},
        }
    }
    return {
        "/v1/responses": {"post": create},
        "/v1/responses/input_tokens": {"post": count},
        "/v1/responses/{id}": {
            "get": _op("getResponse", "A stored response of this key", ref("Response"), parameters=_PATH_ID),
            "delete": _op("deleteResponse", "Delete a stored response of this key", _DELETED, parameters=_PATH_ID),
        },
    }
