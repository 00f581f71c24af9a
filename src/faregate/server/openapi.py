"""``GET /openapi.json``: the OpenAPI 3.1 description of every route, served without a key.

Built from what validates requests (``openapi_schemas``, ``openapi_admin``), once per process;
``tests/security/test_openapi.py`` checks every route of the app is described and nothing
else, and ``test_openapi_schemathesis.py`` fuzzes a live gateway against it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aiohttp import web

from ..config import GatewayConfig
from ..pipeline.gateway import Gateway
from ..wire.anthropic_render import ERROR_TYPES
from . import openapi_schemas as S
from .admin_input import MAX_LIMIT
from .http import GATEWAY, json_response
from .openapi_admin import SCHEMAS as ADMIN_SCHEMAS
from .openapi_admin import admin_paths, ref_response
from .openapi_batch import BATCH_OBJECT, batch_paths
from .openapi_fronts import fronts_paths, fronts_schemas
from .openapi_observe import observe_paths, observe_schemas
from .openapi_responses import responses_paths, responses_schemas
from .openapi_runtime import runtime_paths, runtime_schemas
from .request_checks import output_limit

Schema = dict[str, Any]
OPENAPI_PATH = "/openapi.json"

_BLOCK_TYPES = ["text", "image", "tool_use", "tool_result", "thinking", "redacted_thinking"]


def messages_request(max_tokens: int | None) -> Schema:
    return {**_MESSAGES_REQUEST, "properties": {**_MESSAGES_REQUEST["properties"], "max_tokens": S.tokens(max_tokens)}}


_MESSAGES_REQUEST: Schema = {
    "type": "object",
    "required": ["model", "max_tokens", "messages"],
    "properties": {
        "model": {"type": "string", "minLength": 1},
        "max_tokens": {"type": "integer", "minimum": 1},
        "messages": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["role", "content"],
                "properties": {
                    "role": {"enum": ["user", "assistant"]},
                    "content": {
                        "anyOf": [
                            {"type": "string"},
                            {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["type"],
                                    "properties": {"type": {"enum": ["text"]}, "text": {"type": "string"}},
                                },
                            },
                        ]
                    },
                },
            },
        },
        "system": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]},
        "tools": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}, "description": {}, "input_schema": {"type": "object"}},
            },
        },
        "tool_choice": {
            "type": "object",
            "required": ["type"],
            "properties": {"type": {"enum": ["auto", "any", "none"]}},
        },
        "stop_sequences": {"type": "array", "items": {"type": "string"}},
        "temperature": {"type": "number", "minimum": 0, "maximum": 1},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
        "stream": {"type": "boolean"},
        "metadata": {"type": "object", "properties": {"user_id": {"type": "string"}}},
        "faregate": S.ref("Routing"),
    },
    "description": "Content blocks accepted: " + ", ".join(_BLOCK_TYPES) + " (only text is described for fuzzing).",
}
MESSAGE: Schema = {
    "type": "object",
    "required": ["id", "type", "role", "model", "content", "stop_reason", "usage"],
    "properties": {
        "id": {"type": "string"},
        "type": {"const": "message"},
        "role": {"const": "assistant"},
        "model": {"type": "string"},
        "content": {"type": "array", "items": {"type": "object", "required": ["type"]}},
        "stop_reason": {"type": ["string", "null"]},
        "usage": {"type": "object", "required": ["input_tokens", "output_tokens"]},
    },
}
FEEDBACK: Schema = {
    "type": "object",
    "required": ["request_id"],
    "properties": {
        "request_id": {"type": "string", "minLength": 1},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "thumbs": {"enum": ["up", "down"]},
        "comment": {"type": "string"},
    },
    "oneOf": [{"required": ["score"]}, {"required": ["thumbs"]}],
}
_SSE = {"text/event-stream": {"schema": {"type": "string"}}}


def _front(op_id: str, summary: str, body: str, ok: str, error: str, deferred: Schema | None = None) -> Schema:
    later = {"202": {"description": "Deferred", "content": {"application/json": {"schema": deferred}}}}
    return {
        "operationId": op_id,
        "summary": summary,
        "security": [{"gatewayKey": []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": S.ref(body)}}},
        "responses": {
            "200": {
                "description": "The answer (an event stream when the request says stream: true)",
                "content": {"application/json": {"schema": S.ref(ok)}, **_SSE},
            },
            **(later if deferred is not None else {}),
            "default": ref_response(error),
        },
    }


def _simple(op_id: str, summary: str, ok: Schema, *, public: bool = False, body: str | None = None) -> Schema:
    op: Schema = {
        "operationId": op_id,
        "summary": summary,
        "security": [] if public else [{"gatewayKey": []}],
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": ok}}},
            "default": ref_response("OpenAIError"),
        },
    }
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": S.ref(body)}}}
    return op


def _components(max_tokens: int | None) -> Schema:
    schemas: dict[str, Schema] = {
        "ChatCompletionRequest": S.chat_request(max_tokens=max_tokens),
        "RouteRequest": S.chat_request(model_required=False, max_tokens=max_tokens),
        "ChatMessage": S.CHAT_MESSAGE,
        "ChatCompletion": S.CHAT_COMPLETION,
        "Routing": S.routing_schema(),
        "MessagesRequest": messages_request(max_tokens),
        "Message": MESSAGE,
        "Feedback": FEEDBACK,
        "OpenAIError": S.OPENAI_ERROR,
        "AnthropicError": S.ANTHROPIC_ERROR,
        "LimitSet": S.limit_set(MAX_LIMIT),
        **ADMIN_SCHEMAS,
        **runtime_schemas(),
        **observe_schemas(),
        **fronts_schemas(max_tokens, messages_request(max_tokens)),
        **responses_schemas(max_tokens),
    }
    return {
        "schemas": schemas,
        "securitySchemes": {
            "gatewayKey": {"type": "http", "scheme": "bearer", "description": "A gateway key (or x-api-key)."},
            "masterKey": {"type": "http", "scheme": "bearer", "description": "The master key (admin routes)."},
        },
    }


@lru_cache(maxsize=8)
def build_spec(max_tokens: int | None = None) -> Schema:
    """The whole spec. It describes the API, not the models, except ``max_tokens``: at most
    the largest output limit of the configured models (``spec_for``)."""
    model_list = {
        "type": "object",
        "required": ["object", "data"],
        "properties": {
            "object": {"const": "list"},
            "data": {"type": "array", "items": {"type": "object", "required": ["id", "object", "owned_by"]}},
        },
    }
    paths: dict[str, Schema] = {
        "/v1/chat/completions": {
            "post": _front(
                "createChatCompletion",
                "OpenAI chat completions",
                "ChatCompletionRequest",
                "ChatCompletion",
                "OpenAIError",
                # A request with a deadline planned onto the batch tier: the batch to poll.
                deferred=BATCH_OBJECT,
            )
        },
        "/v1/messages": {
            "post": _front("createMessage", "Anthropic messages", "MessagesRequest", "Message", "AnthropicError")
        },
        "/v1/models": {"get": _simple("listModels", "Models and routes a key can name", model_list)},
        "/v1/route": {
            "post": _simple(
                "planRoute", "The routing plan, without calling a model", {"type": "object"}, body="RouteRequest"
            )
        },
        "/v1/feedback": {"post": _simple("giveFeedback", "Score an answer", {"type": "object"}, body="Feedback")},
        "/health": {"get": _simple("health", "Liveness", {"type": "object", "required": ["status"]}, public=True)},
        OPENAPI_PATH: {"get": _simple("openapi", "This document", {"type": "object"}, public=True)},
        **admin_paths(),
        **runtime_paths(),
        **observe_paths(),
        **fronts_paths(),
        **responses_paths(),
        **batch_paths(),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "faregate",
            "version": "1",
            "description": "An OpenAI- and Anthropic-compatible LLM gateway. Errors on /v1/messages (and its "
            "count_tokens) use Anthropic's "
            f"envelope (types by status: {sorted(set(ERROR_TYPES.values()))}); every other route uses OpenAI's.",
        },
        "paths": paths,
        "components": _components(max_tokens),
    }


def spec_for(config: GatewayConfig) -> Schema:
    """The spec of a gateway serving ``config``."""
    return build_spec(max((output_limit(m)[0] for m in config.models), default=None))


async def openapi_handler(request: web.Request) -> web.Response:
    return json_response(spec_for(request.app[GATEWAY].config))


def add_openapi_routes(app: web.Application, gateway: Gateway) -> None:
    """``GET /openapi.json`` (public: ``app.PUBLIC_PATHS``)."""
    app.router.add_get(OPENAPI_PATH, openapi_handler)
