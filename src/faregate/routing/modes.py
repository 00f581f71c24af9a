"""Optimisation modes: each a preset of constraint defaults and of what the router minimises.

A request picks one with ``faregate: {"mode": ...}``; a key (``keys[].mode``) or a route
(``routes[].mode``) sets a default (request > key > route; none: ``cost``, the router's
behaviour before modes existed). Explicit constraints always win over a preset: a value in
the request or on the route replaces the preset's default, and a hard limit is never crossed.

========  ==================================================  =================================
mode      chooses, among plans within the hard limits          preset defaults
========  ==================================================  =================================
cost      the cheapest plan meeting the quality floor          none
latency   the fastest plan meeting the floor whose expected    cost cap: ``LATENCY_COST_FACTOR``
          cost is within the cost cap                          x the cheapest plan meeting the
                                                               floor (``max_cost_usd`` replaces)
quality   the highest predicted quality                        ``max_latency_ms``:
                                                               ``QUALITY_MAX_LATENCY_MS``
balanced  the lowest weighted score: ``W_COST`` x cost/max     none
          cost + ``W_LATENCY`` x latency/max latency +
          ``W_QUALITY`` x (1 - quality), over plans meeting
          the floor
========  ==================================================  =================================

The selection itself is ``mode_select.select_mode``. When no plan meets the floor within the hard limits, every mode answers as ``cost`` does (the
best quality within them, else the fastest plan; ``constraint_unmet``). Ties break on cost,
then the models' names, so a decision replays exactly.
"""

from __future__ import annotations

from typing import Any

MODES = ("cost", "latency", "quality", "balanced")
LATENCY_COST_FACTOR = 3.0  # latency mode: at most this many times the cheapest floor-meeting plan
QUALITY_MAX_LATENCY_MS = 30_000.0  # quality mode: the default latency ceiling (predicted p95)
W_COST, W_LATENCY, W_QUALITY = 1 / 3, 1 / 3, 1 / 3

OBJECTIVES = {
    "cost": "cheapest plan meeting the floor",
    "latency": f"fastest plan meeting the floor within {LATENCY_COST_FACTOR:g}x the cheapest one's cost",
    "quality": "highest predicted quality within the latency ceiling",
    "balanced": "lowest weighted mix of cost, latency and (1 - quality)",
}


def check_mode(value: Any, where: str = "faregate.mode") -> str:
    """A valid mode name, or ``ValueError`` saying which ones are."""
    if value not in MODES:
        raise ValueError(f"{where} must be one of {', '.join(MODES)}; got {value!r}")
    return str(value)


def preset_defaults(mode: str | None) -> dict[str, float]:
    """The constraint defaults a mode brings (replaced by any explicit value)."""
    return {"max_latency_ms": QUALITY_MAX_LATENCY_MS} if mode == "quality" else {}
