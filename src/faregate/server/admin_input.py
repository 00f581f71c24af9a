"""Checks of the admin API's body fields: each error names the field at fault (400), and no
value the store cannot keep exactly gets past (booleans as numbers, integers beyond 2**53)."""

from __future__ import annotations

import time
from typing import Any

from pydantic import ValidationError

from ..config import LimitSet
from ..core.errors import InvalidRequest


def opt_str(data: dict, field: str) -> Any:
    v = data.get(field)
    if v is not None and (not isinstance(v, str) or not 0 < len(v) <= 200):
        raise InvalidRequest(f"{field} must be a string of 1 to 200 characters.", param=field)
    return v


def flag(data: dict, field: str) -> bool | None:
    v = data.get(field)
    if v is not None and not isinstance(v, bool):
        raise InvalidRequest(f"{field} must be true or false.", param=field)
    return v


def num(v: Any, field: str) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InvalidRequest(f"{field} must be a number.", param=field)
    return float(v)


MAX_LIMIT = 2**53  # the largest integer every JSON reader keeps exact


def limit_value(name: str, v: Any) -> Any:
    """One limit's value: a boolean is no number, an integral float is an integer, and nothing
    beyond ``MAX_LIMIT`` (pydantic's lax mode would take false as 0)."""
    if name == "budget_soft" or v is None:
        return v
    if isinstance(v, bool):
        raise InvalidRequest(f"limits.{name}: expected a number, got {str(v).lower()}.", param=f"limits.{name}")
    if isinstance(v, (int, float)) and abs(v) > MAX_LIMIT:
        raise InvalidRequest(f"limits.{name}: {v!r} is over the largest limit, {MAX_LIMIT}.", param=f"limits.{name}")
    return int(v) if isinstance(v, float) and v.is_integer() else v


def limits_field(v: Any) -> dict[str, Any] | None:
    """A limits object checked against ``LimitSet`` here, so the error names the field at fault."""
    if v is None:
        return None
    if not isinstance(v, dict):
        raise InvalidRequest("limits must be an object.", param="limits")
    v = {k: limit_value(k, x) for k, x in v.items()}
    try:
        LimitSet.model_validate(v)
    except ValidationError as exc:
        e = exc.errors()[0]
        where = ".".join(["limits", *map(str, e["loc"])])
        allowed = ", ".join(LimitSet.model_fields)
        hint = f"; allowed fields: {allowed}" if e["type"] == "extra_forbidden" else ""
        raise InvalidRequest(f"{where}: {e['msg']} (got {str(e.get('input'))[:40]!r}){hint}.", param=where) from None
    return v


def expires_at_field(data: dict) -> float | None:
    expires_at = num(data.get("expires_at"), "expires_at")
    if expires_at is not None and expires_at <= 0:
        raise InvalidRequest("expires_at must be a positive Unix time in seconds.", param="expires_at")
    if data.get("expires_in_s") is not None:
        secs = num(data["expires_in_s"], "expires_in_s") or 0.0
        if secs <= 0:
            raise InvalidRequest(
                f"expires_in_s must be a positive number of seconds, got {secs:g}.", param="expires_in_s"
            )
        expires_at = time.time() + secs
    return expires_at


MODES = ("cost", "latency", "quality", "balanced")


def mode_field(data: dict[str, Any]) -> str | None:
    """A key's ``mode``: one of ``MODES`` or null."""
    v = data.get("mode")
    if v is not None and v not in MODES:
        raise InvalidRequest(f"mode must be one of {list(MODES)} or null.", param="mode")
    return v


class UnknownGuardrail(InvalidRequest):
    """A well-formed list naming a guardrail the config does not define: a conflict with the
    config (409), not a malformed body (the OpenAPI schema cannot list the config's names)."""

    status = 409
    code = "conflict"


def guardrails_field(data: dict[str, Any], known: set[str]) -> list[str] | None:
    """A key's ``guardrails``: names of the config's ``guardrails:`` entries, or null."""
    v = data.get("guardrails")
    if v is None:
        return None
    if not isinstance(v, list) or not all(isinstance(n, str) for n in v):
        raise InvalidRequest("guardrails must be a list of guardrail names or null.", param="guardrails")
    unknown = [n for n in v if n not in known]
    if unknown:
        raise UnknownGuardrail(f"unknown guardrail(s) {unknown}; configured: {sorted(known)}", param="guardrails")
    return v
