"""JSON Schema -> the OpenAPI 3.0 subset Gemini's ``Schema`` accepts.

``$ref`` inlined, ``type: [x, "null"]`` and null variants turned into ``nullable``, ``const``
into ``enum``, keys Gemini rejects (``additionalProperties``, ``$schema``, ``strict``...)
dropped; ``with_property_ordering`` keeps a response schema's key order in the JSON answer.
"""

from __future__ import annotations

from typing import Any

from ..core.bounds import TooLarge

# Gemini's Schema object (an OpenAPI 3.0 subset): anything else is rejected with a 400.
_SCHEMA_KEYS = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "maxItems",
        "minItems",
        "properties",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "anyOf",
        "propertyOrdering",
        "default",
        "items",
        "minimum",
        "maximum",
    }
)
_FORMATS = {"STRING": {"enum", "date-time"}, "INTEGER": {"int32", "int64"}, "NUMBER": {"float", "double"}}
# Inlining $refs can grow a small schema exponentially (each level referencing the next twice):
# the rewrite stops at this many output nodes, whatever the front already checked.
MAX_OUTPUT_NODES = 20_000
MAX_DEPTH = 40


class _Budget:
    __slots__ = ("left",)

    def __init__(self, nodes: int) -> None:
        self.left = nodes

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise TooLarge(
                f"A tool or response schema grows past {MAX_OUTPUT_NODES} nodes once its $refs are inlined "
                "for Gemini; reference definitions fewer times.",
                param="tools",
            )


def gemini_schema(
    schema: Any, defs: dict[str, Any] | None = None, depth: int = 0, budget: _Budget | None = None
) -> Any:
    """A JSON Schema rewritten into the subset Gemini's ``Schema`` accepts (``TooLarge``, a 400,
    when inlining its refs would produce more than ``MAX_OUTPUT_NODES`` nodes)."""
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return {} if depth > MAX_DEPTH else schema
    if budget is None:
        budget = _Budget(MAX_OUTPUT_NODES)
    budget.spend()
    if defs is None:
        defs = {**(schema.get("definitions") or {}), **(schema.get("$defs") or {})}
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = defs.get(ref.rsplit("/", 1)[-1])
        if isinstance(target, dict):
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            return gemini_schema({**target, **rest}, defs, depth + 1, budget)
    return _rewrite(schema, defs, depth, budget)


def _rewrite(schema: dict[str, Any], defs: dict[str, Any], depth: int, budget: _Budget) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type":
            if isinstance(value, list):
                kinds = [t for t in value if t != "null"]
                if len(kinds) < len(value):
                    out["nullable"] = True
                value = kinds[0] if kinds else "null"
            if isinstance(value, str):
                out["type"] = value.upper()
        elif key == "const":
            out["enum"] = [value]
        elif key == "properties" and isinstance(value, dict):
            out["properties"] = {k: gemini_schema(v, defs, depth + 1, budget) for k, v in value.items()}
        elif key == "items":
            out["items"] = gemini_schema(value, defs, depth + 1, budget)
        elif key in ("anyOf", "oneOf") and isinstance(value, list):
            variants = []
            for v in value:
                if isinstance(v, dict) and v.get("type") == "null":
                    out["nullable"] = True
                else:
                    variants.append(gemini_schema(v, defs, depth + 1, budget))
            if len(variants) == 1:
                out.update({k: v for k, v in variants[0].items() if k not in out})
            elif variants:
                out["anyOf"] = variants
        elif key in _SCHEMA_KEYS:
            out[key] = value
    if "enum" in out:
        if all(isinstance(v, str) for v in out["enum"]):
            out.setdefault("type", "STRING")
        else:
            del out["enum"]  # Gemini enums are strings only
    fmt = out.get("format")
    if fmt is not None and fmt not in _FORMATS.get(out.get("type", ""), ()):
        del out["format"]
    if out.get("type") == "OBJECT" and "properties" not in out:
        out.pop("required", None)
    return out


def with_property_ordering(schema: Any) -> Any:
    """Gemini writes JSON properties in alphabetical order unless told otherwise: keep the schema's order."""
    if isinstance(schema, dict):
        props = schema.get("properties")
        if isinstance(props, dict):
            for sub in props.values():
                with_property_ordering(sub)
            if len(props) > 1:
                schema.setdefault("propertyOrdering", list(props))
        with_property_ordering(schema.get("items"))
        for sub in schema.get("anyOf") or ():
            with_property_ordering(sub)
    return schema
