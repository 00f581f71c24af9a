"""A routed request's constraints: from the body, the headers, the route and per-task defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..config import GatewayConfig, RouteConfig
from ..core.durations import parse_duration
from ..core.errors import InvalidRequest
from .modes import check_mode, preset_defaults

# name -> (low, high, inclusive low)
RANGES: dict[str, tuple[float, float, bool]] = {
    "min_quality": (0.0, 1.0, True),
    "confidence": (0.0, 1.0, False),  # P(answer meets the floor) required: the chance constraint
    "max_latency_ms": (0.0, 3_600_000.0, False),
    "max_cost_usd": (0.0, 1_000.0, False),
}
# Per-request switches that ride in the same object (not constraints on the plan): each a boolean.
FLAGS = frozenset({"idempotent"})  # false: never hedge this request (a second upstream call)
# The batch tier's options: how long the answer may take, and where to POST it when ready.
BATCH_KEYS = frozenset({"deadline", "callback_url"})
KEYS = frozenset(RANGES) | {"task", "mode"} | FLAGS | BATCH_KEYS
MAX_TASK_LEN = 64
MAX_URL_LEN = 2048


@dataclass(frozen=True, slots=True)
class Constraints:
    min_quality: float
    max_latency_ms: float | None = None
    max_cost_usd: float | None = None
    task: str | None = None
    task_given: bool = False
    mode: str | None = None  # ``routing.modes``: None plans as "cost"
    confidence: float | None = None  # None: the mean prediction against the floor (offline sweeps)
    # How long the client can wait for the answer (seconds); only this opens the batch tier.
    deadline_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "min_quality": self.min_quality,
            "confidence": self.confidence,
            "max_latency_ms": self.max_latency_ms,
            "max_cost_usd": self.max_cost_usd,
            "task": self.task,
            "mode": self.mode or "cost",
            "deadline_s": self.deadline_s,
        }


def _check(name: str, value: Any) -> float:
    lo, hi, incl = RANGES[name]
    where = f"faregate.{name} (or header x-faregate-{name.replace('_', '-')})"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRequest(f"{where} must be a number, got {type(value).__name__}.", param=f"faregate.{name}")
    ok = (lo <= value if incl else lo < value) and value <= hi
    if not ok:
        rng = f"{'[' if incl else '('}{lo:g}, {hi:g}]"
        raise InvalidRequest(f"{where} = {value!r} is out of range; valid range is {rng}.", param=f"faregate.{name}")
    return float(value)


def check_deadline(value: Any) -> float:
    """``faregate.deadline`` in seconds; a 400 that says the accepted form."""
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise InvalidRequest(
            f"faregate.deadline (or header x-faregate-deadline) {exc}.", param="faregate.deadline"
        ) from None


def check_callback_url(value: Any, hosts: list[str] | None = None) -> str:
    """``faregate.callback_url``: an absolute http(s) URL the batch tier POSTs the answer to,
    on one of ``hosts`` when the config lists them (``batch_tier.callback_hosts``)."""
    ok = isinstance(value, str) and len(value) <= MAX_URL_LEN and urlsplit(value).scheme in ("http", "https")
    if not ok or not urlsplit(value).hostname:
        raise InvalidRequest(
            f"faregate.callback_url must be an absolute http(s) URL of at most {MAX_URL_LEN} characters.",
            param="faregate.callback_url",
        )
    host = urlsplit(value).hostname
    if hosts is not None and host not in hosts:
        raise InvalidRequest(
            f"faregate.callback_url's host {host!r} is not one this gateway calls back (batch_tier.callback_hosts).",
            param="faregate.callback_url",
        )
    return str(value)


def resolve_mode(routing: dict, route: RouteConfig | None, key_mode: str | None) -> str | None:
    """The request's mode, else the key's, else the route's (``routing.modes``)."""
    mode = routing.get("mode")
    if mode is not None:
        try:
            return check_mode(mode)
        except ValueError as exc:
            raise InvalidRequest(f"{exc}.", param="faregate.mode") from None
    return key_mode or getattr(route, "mode", None)


def resolve_constraints(
    routing: dict | None,
    route: RouteConfig | None,
    config: GatewayConfig,
    inferred_task: str | None,
    key_mode: str | None = None,
) -> Constraints:
    """Body/header values win over the route's defaults, which win over the mode's preset
    (``routing.modes``), which wins over per-task defaults."""
    routing = routing or {}
    unknown = sorted(set(routing) - KEYS)
    if unknown:
        raise InvalidRequest(f"Unknown routing constraint(s) {unknown}; valid: {sorted(KEYS)}.", param="faregate")
    for flag in FLAGS & set(routing):
        if not isinstance(routing[flag], bool):
            raise InvalidRequest(f"faregate.{flag} must be true or false.", param=f"faregate.{flag}")
    task = routing.get("task")
    if task is not None and (not isinstance(task, str) or not task or len(task) > MAX_TASK_LEN):
        raise InvalidRequest(
            f"faregate.task must be a non-empty string of at most {MAX_TASK_LEN} characters.", param="faregate.task"
        )
    given = task is not None
    task = task or (route.task if route else None) or inferred_task
    mode = resolve_mode(routing, route, key_mode)
    preset = preset_defaults(mode)
    values: dict[str, float | None] = {}
    for name in RANGES:
        v = routing.get(name)
        values[name] = _check(name, v) if v is not None else (getattr(route, name) if route else None)
        if values[name] is None:
            values[name] = preset.get(name)
    if routing.get("callback_url") is not None:
        check_callback_url(routing["callback_url"], config.batch_tier.callback_hosts)
    deadline = routing.get("deadline")
    deadline_s = check_deadline(deadline) if deadline is not None else getattr(route, "deadline_s", None)
    floor = values["min_quality"]
    if floor is None:
        floor = config.task_quality_defaults.get(task or "", config.default_min_quality)
    return Constraints(
        min_quality=float(floor),
        max_latency_ms=values["max_latency_ms"],
        max_cost_usd=values["max_cost_usd"],
        task=task,
        task_given=given,
        mode=mode,
        confidence=float(values["confidence"] or config.default_confidence),
        deadline_s=deadline_s,
    )
