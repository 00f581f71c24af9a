"""Bounds on the structure a client sends: how deep its JSON nests, how many values it holds,
and how large a JSON Schema grows once its ``$ref``s are inlined. Pure functions, no I/O.

Every transformation of a request (validation, re-serialisation, a provider's schema rewrite,
text extraction, token estimates) is linear in what these bound, so checking them once at the
front bounds the work of the whole request. The walks stop at the first value over a cap: the
check itself costs at most ``max_nodes`` steps whatever the body holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .errors import InvalidRequest


@dataclass(frozen=True, slots=True)
class InputBounds:
    """The caps (``config.bounds`` holds the configured values; these defaults are its defaults)."""

    max_json_depth: int = 64
    max_json_nodes: int = 200_000
    max_schema_nodes: int = 20_000
    max_image_parts: int = 64


DEFAULT_BOUNDS = InputBounds()
# Refs followed inside refs: a rewrite recurses once per link, so a long chain is refused.
MAX_REF_CHAIN = 32


class TooLarge(InvalidRequest):
    """A request over one of the input bounds (400, code ``request_too_complex``)."""

    code = "request_too_complex"


def check_structure(body: dict[str, Any], bounds: InputBounds = DEFAULT_BOUNDS) -> None:
    """Refuse a body nested deeper than ``max_json_depth`` or holding more than ``max_json_nodes``
    JSON values, naming the top-level field at fault."""
    nodes = 0
    for name, value in body.items():
        stack: list[tuple[Any, int]] = [(value, 1)]
        nodes += 1
        while stack:
            v, depth = stack.pop()
            if depth > bounds.max_json_depth:
                raise TooLarge(
                    f"'{name}' is nested more than {bounds.max_json_depth} levels deep; "
                    f"flatten it (bounds.max_json_depth).",
                    param=str(name),
                )
            if isinstance(v, (dict, list)):
                # Counted before they are pushed: a huge flat array costs one step, not its length.
                nodes += len(v)
                if nodes > bounds.max_json_nodes:
                    raise TooLarge(
                        f"The request holds more than {bounds.max_json_nodes} JSON values (counted up to "
                        f"'{name}'); send less structure (bounds.max_json_nodes).",
                        param=str(name),
                    )
                stack.extend((x, depth + 1) for x in (v.values() if isinstance(v, dict) else v))


def _defs(schema: dict[str, Any]) -> dict[str, Any]:
    defs: dict[str, Any] = {}
    for key in ("definitions", "$defs"):
        d = schema.get(key)
        if isinstance(d, dict):
            defs.update(d)
    return defs


def inlined_size(schema: Any, cap: int) -> int:
    """How many schema nodes ``schema`` has once every local ``$ref`` is inlined (as a Gemini
    rewrite does), counted up to ``cap`` + 1. Each definition's size is computed once, so
    schemas whose refs fan out exponentially are measured in time linear in their text."""
    if not isinstance(schema, dict):
        return 0
    defs = _defs(schema)
    memo: dict[str, int] = {}
    active: set[str] = set()

    def ref_size(ref: str) -> int:
        name = ref.rsplit("/", 1)[-1]
        if name in memo:
            return memo[name]
        target = defs.get(name)
        if not isinstance(target, dict) or name in active:
            return 1  # unknown or recursive: a rewrite stops there
        if len(active) >= MAX_REF_CHAIN:
            return cap + 1  # a chain of refs this long is refused like a schema this large
        active.add(name)
        memo[name] = size(target)
        active.discard(name)
        return memo[name]

    def size(node: Any) -> int:
        if not isinstance(node, dict):
            return 0
        total = 1
        ref = node.get("$ref")
        if isinstance(ref, str):
            total += ref_size(ref)
        for key, value in node.items():
            if key in ("definitions", "$defs"):
                continue
            for child in _children(key, value):
                total += size(child)
                if total > cap:
                    return cap + 1
        return min(total, cap + 1)

    return size(schema)


def _children(key: str, value: Any) -> Iterable[Any]:
    if key in ("properties", "patternProperties") and isinstance(value, dict):
        return value.values()
    if key in ("items", "additionalProperties", "not") and isinstance(value, dict):
        return (value,)
    if key in ("anyOf", "oneOf", "allOf", "prefixItems") and isinstance(value, list):
        return value
    return ()


def check_schema(schema: Any, where: str, bounds: InputBounds = DEFAULT_BOUNDS) -> None:
    """Refuse a JSON Schema that grows past ``max_schema_nodes`` once its ``$ref``s are inlined
    (or whose refs chain more than ``MAX_REF_CHAIN`` deep)."""
    cap = bounds.max_schema_nodes
    if inlined_size(schema, cap) > cap:
        raise TooLarge(
            f"The JSON Schema at '{where}' grows past {cap} nodes once its $refs are inlined (or chains "
            f"$refs more than {MAX_REF_CHAIN} deep); "
            f"reference definitions fewer times or define them flat (bounds.max_schema_nodes).",
            param=where,
        )
