"""Anthropic JSON mode: this API version has none, so faregate builds it from a forced tool.

When the request has no tools of its own, the ``response_format`` schema becomes the input
schema of one reserved tool (``JSON_TOOL``) that Claude is forced to call; the response and
stream parsers turn that call back into the text answer. With the client's own tools (a forced
tool would shut them out), or a schema whose root is not an object (tool inputs must be
objects), ``json_instruction`` asks for bare JSON in ``system`` instead.
"""

from __future__ import annotations

from typing import Any

import orjson

# The reserved tool that carries JSON-mode answers; a name no client tool is likely to have, since the
# parsers recognise it by name alone.
JSON_TOOL = "faregate_json_response"
JSON_TOOL_DESCRIPTION = (
    "Give your final answer by calling this tool: its input is the answer, "
    "a JSON value that conforms to the input schema."
)

JSON_OBJECT_INSTRUCTION = (
    "Respond with a single valid JSON object and nothing else: no prose before or after it and no Markdown code fences."
)
JSON_SCHEMA_INSTRUCTION = (
    "Respond with a single valid JSON value that conforms to the JSON Schema below, "
    "and nothing else: no prose before or after it and no Markdown code fences."
)


def json_instruction(fmt: dict[str, Any] | None) -> str | None:
    kind = (fmt or {}).get("type")
    if kind == "json_object":
        return JSON_OBJECT_INSTRUCTION
    if kind == "json_schema":
        spec = fmt.get("json_schema") or {}  # type: ignore[union-attr]
        schema = spec.get("schema")
        if schema is None:
            return JSON_OBJECT_INSTRUCTION
        name = f" (named {spec['name']!r})" if spec.get("name") else ""
        return f"{JSON_SCHEMA_INSTRUCTION}\nSchema{name}:\n{orjson.dumps(schema).decode()}"
    return None


def json_tool(fmt: dict[str, Any] | None) -> dict[str, Any] | None:
    """The reserved tool for JSON mode, or None when the format is not JSON or the schema root is not an
    object (Anthropic tool inputs are objects)."""
    kind = (fmt or {}).get("type")
    if kind == "json_object":
        schema: Any = {"type": "object"}
    elif kind == "json_schema":
        schema = ((fmt or {}).get("json_schema") or {}).get("schema") or {"type": "object"}
        if not isinstance(schema, dict) or schema.get("type") != "object":
            return None
    else:
        return None
    return {"name": JSON_TOOL, "description": JSON_TOOL_DESCRIPTION, "input_schema": schema}
