"""The JSON Schemas of the OpenAPI spec (``server.openapi``), built from what validates requests.

Where a request is validated by a pydantic model (``LimitSet``), its schema is that model's
JSON Schema. Where validation is hand-written (the OpenAI and Anthropic fronts, the admin and
feedback bodies), the schema here is hand-described from the same constants the validator uses
(roles, part types, passthrough fields, routing ranges, field sets), and
``tests/security/test_openapi_agreement.py`` checks the two agree on a set of samples.
"""

from __future__ import annotations

from typing import Any

from ..cache.directives import MAX_TTL_S
from ..config import LimitSet
from ..core.bounds import DEFAULT_BOUNDS
from ..core.durations import PATTERN as DURATION_PATTERN
from ..routing.constraints import FLAGS, MAX_TASK_LEN, MAX_URL_LEN, RANGES
from ..routing.modes import MODES
from ..storage.analytics import GROUP_BYS
from ..wire import openai_front as oa

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def routing_schema() -> Schema:
    props: dict[str, Schema] = {}
    for name, (lo, hi, inclusive) in RANGES.items():
        bound = {"minimum": lo} if inclusive else {"exclusiveMinimum": lo}
        props[name] = {"type": "number", **bound, "maximum": hi}
    props["task"] = {"type": "string", "minLength": 1, "maxLength": MAX_TASK_LEN}
    props["mode"] = {"enum": list(MODES), "description": "Optimisation mode (routing.modes); default: cost."}
    for flag in FLAGS:
        props[flag] = {"type": "boolean"}
    props["deadline"] = {
        "description": "How long the answer may take ('30m', '2h', '24h', '1d', or seconds): opens the batch tier "
        "(a 202 with a batch to poll when it is cheaper; docs/batch.md).",
        "anyOf": [{"type": "string", "pattern": DURATION_PATTERN}, {"type": "number", "exclusiveMinimum": 0}],
    }
    props["callback_url"] = {
        "type": "string",
        "maxLength": MAX_URL_LEN,
        "pattern": r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s]*)?$",
        "description": "Where a request deferred to the batch tier gets its answer line POSTed.",
    }
    # Per-request cache control (the cache step's; the header's syntax also works as a string).
    flags = "(no-store|no-cache|sampled)"
    props["cache"] = {
        "anyOf": [
            {"type": "string", "pattern": f"^{flags}(,{flags})*$"},
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "no_store": {"type": "boolean"},
                    "no_cache": {"type": "boolean"},
                    "sampled": {"type": "boolean"},
                    "ttl": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_TTL_S},
                    "semantic": {"type": "number", "minimum": 0, "maximum": 1},
                },
            },
        ]
    }
    return {
        "type": "object",
        "description": "faregate's routing constraints (also as x-faregate-* headers).",
        "properties": props,
        "additionalProperties": False,
    }


_TEXT = {"type": "string"}
_PARTS: list[Schema] = [
    {"type": "object", "required": ["type", "text"], "properties": {"type": {"const": "text"}, "text": _TEXT}},
    {
        "type": "object",
        "required": ["type", "image_url"],
        "properties": {
            "type": {"const": "image_url"},
            "image_url": {
                "type": "object",
                "required": ["url"],
                "properties": {"url": {"type": "string", "minLength": 1}},
            },
        },
    },
    {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"enum": sorted(oa.PART_TYPES - {"text", "image_url"})}},
    },
]
_TOOL_CALL: Schema = {
    "type": "object",
    "required": ["id", "function"],
    "properties": {
        "id": _TEXT,
        "type": {"const": "function"},
        "function": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": _TEXT, "arguments": _TEXT},
        },
    },
}
CHAT_MESSAGE: Schema = {
    "type": "object",
    "required": ["role"],
    "properties": {
        "role": {"enum": sorted(oa.ROLES)},
        "content": {"anyOf": [_TEXT, {"type": "array", "items": {"anyOf": _PARTS}}, {"type": "null"}]},
        "name": _TEXT,
        "tool_call_id": _TEXT,
        "tool_calls": {"type": "array", "items": _TOOL_CALL},
    },
    # content is required, except on an assistant message that carries tool calls
    "if": {
        "not": {
            "required": ["tool_calls"],
            "properties": {"role": {"const": "assistant"}, "tool_calls": {"type": "array", "minItems": 1}},
        }
    },
    "then": {"required": ["content"], "properties": {"content": {"not": {"type": "null"}}}},
    "allOf": [
        {
            "if": {"properties": {"role": {"const": "tool"}}},
            "then": {"required": ["tool_call_id"]},
        }
    ],
}
_TOOL: Schema = {
    "type": "object",
    "required": ["function"],
    "properties": {
        "type": {"const": "function"},
        "function": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "description": _TEXT,
                "parameters": {"type": "object"},
            },
        },
    },
}
_RESPONSE_FORMAT: Schema = {
    "anyOf": [
        {"type": "object", "required": ["type"], "properties": {"type": {"enum": ["text", "json_object"]}}},
        {
            "type": "object",
            "required": ["type", "json_schema"],
            "properties": {
                "type": {"const": "json_schema"},
                "json_schema": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": _TEXT, "schema": {"type": "object"}, "strict": {"type": "boolean"}},
                },
            },
        },
        {"type": "null"},
    ]
}
# The fields that would multiply the cost: only their neutral values (see wire/input_checks.py).
_NEUTRAL: dict[str, Schema] = {
    "n": nullable({"const": 1}),
    "logprobs": nullable({"const": False}),
    "top_logprobs": nullable({"const": 0}),
    "audio": {"type": "null"},
    "modalities": nullable({"type": "array", "items": {"const": "text"}}),
}


def tokens(limit: int | None) -> Schema:
    return {"type": "integer", "minimum": 1, **({"maximum": limit} if limit else {})}


def _chat_properties(max_tokens: int | None) -> dict[str, Schema]:
    props: dict[str, Schema] = {name: {} for name in sorted(oa.PASSTHROUGH)}
    props.update(_NEUTRAL)
    props.update(
        {
            "model": {"type": "string", "minLength": 1, "description": "A model, a route, or 'auto'."},
            "messages": {
                "type": "array",
                "minItems": 1,
                "maxItems": oa.MAX_MESSAGES,
                "items": ref("ChatMessage"),
            },
            "stream": nullable({"type": "boolean"}),
            "stream_options": nullable({"type": "object", "properties": {"include_usage": {"type": "boolean"}}}),
            "tools": nullable({"type": "array", "items": _TOOL}),
            "tool_choice": {
                "anyOf": [
                    {"enum": ["none", "auto", "required"]},
                    {
                        "type": "object",
                        "required": ["function"],
                        "properties": {
                            "function": {"type": "object", "required": ["name"], "properties": {"name": _TEXT}}
                        },
                    },
                    {"type": "null"},
                ]
            },
            "parallel_tool_calls": nullable({"type": "boolean"}),
            "response_format": _RESPONSE_FORMAT,
            "temperature": nullable({"type": "number", "minimum": 0, "maximum": 2}),
            "top_p": nullable({"type": "number", "minimum": 0, "maximum": 1}),
            "max_tokens": nullable(tokens(max_tokens)),
            "max_completion_tokens": nullable(tokens(max_tokens)),
            "stop": {"anyOf": [_TEXT, {"type": "array", "items": _TEXT, "maxItems": 4}, {"type": "null"}]},
            "seed": nullable({"type": "integer", "minimum": oa.INT64_MIN, "maximum": oa.INT64_MAX}),
            "user": nullable(_TEXT),
            "metadata": nullable({"type": "object", "maxProperties": 16, "additionalProperties": _TEXT}),
            "faregate": nullable(ref("Routing")),
        }
    )
    assert set(props) == oa.KNOWN, "the chat schema lists exactly the fields the validator accepts"
    return props


def chat_request(*, model_required: bool = True, max_tokens: int | None = None) -> Schema:
    """``max_tokens``: the largest output limit among the configured models (a model's own may
    be lower: asking it for more is a 400 naming its limit)."""
    return {
        "type": "object",
        "required": ["model", "messages"] if model_required else ["messages"],
        "properties": _chat_properties(max_tokens),
        "additionalProperties": False,
        "description": (
            f"Bounded: JSON nested at most {DEFAULT_BOUNDS.max_json_depth} levels, at most "
            f"{DEFAULT_BOUNDS.max_json_nodes} values, schemas of at most {DEFAULT_BOUNDS.max_schema_nodes} "
            "nodes once $refs are inlined (defaults; see docs/security.md)."
        ),
    }


_USAGE: Schema = {
    "type": "object",
    "required": ["prompt_tokens", "completion_tokens", "total_tokens"],
    "properties": {k: {"type": "integer"} for k in ("prompt_tokens", "completion_tokens", "total_tokens")},
}


def completion_object(
    obj: str, choice_required: list[str], choice_properties: Schema, usage: Schema | None = None
) -> Schema:
    """An OpenAI completion answer (``chat.completion``, ``text_completion``): one choice, usage."""
    return {
        "type": "object",
        "required": ["id", "object", "created", "model", "choices", "usage"],
        "properties": {
            "id": _TEXT,
            "object": {"const": obj},
            "created": {"type": "integer"},
            "model": _TEXT,
            "choices": {
                "type": "array",
                "minItems": 1,
                "maxItems": 1,
                "items": {"type": "object", "required": choice_required, "properties": choice_properties},
            },
            "usage": _USAGE if usage is None else usage,
        },
    }


CHAT_COMPLETION: Schema = completion_object(
    "chat.completion",
    ["index", "message", "finish_reason"],
    {
        "index": {"const": 0},
        "message": {
            "type": "object",
            "required": ["role", "content"],
            "properties": {
                "role": {"const": "assistant"},
                "content": nullable(_TEXT),
                "tool_calls": {"type": "array", "items": _TOOL_CALL},
            },
        },
        "logprobs": {"type": "null"},
        "finish_reason": _TEXT,
    },
)
OPENAI_ERROR: Schema = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "additionalProperties": False,
            "properties": {
                "message": _TEXT,
                "type": _TEXT,
                "param": nullable(_TEXT),
                "code": nullable(_TEXT),
            },
        }
    },
}
ANTHROPIC_ERROR: Schema = {
    "type": "object",
    "required": ["type", "error"],
    "additionalProperties": False,
    "properties": {
        "type": {"const": "error"},
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "additionalProperties": False,
            "properties": {"type": _TEXT, "message": _TEXT},
        },
    },
}


def limit_set(maximum: int) -> Schema:
    """The pydantic model that validates limits, as JSON Schema, with the admin API's own
    bound on every number (``admin_routes.MAX_LIMIT``)."""
    schema = LimitSet.model_json_schema()
    for prop in schema["properties"].values():
        for branch in prop.get("anyOf", [prop]):
            if branch.get("type") in ("integer", "number"):
                branch["maximum"] = maximum
    return schema


GROUP_BY: Schema = {"enum": list(GROUP_BYS)}
