"""``faregate analyze``: read past requests, plan each as the router would, project savings.

Input: one JSON object per line, either an OpenAI chat request body (its ``model`` is the
model that was used; an optional ``usage`` object with ``prompt_tokens``/``completion_tokens``
beside it) or ``{"request": {...body...}, "usage": {...}, "created": <unix time>}``.
Tokens: the recorded usage when present, else ~4 characters per input token and the task's
typical answer length. Both sides are priced with the same token counts, so the difference
is the routing decision alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import orjson

from ..config import GatewayConfig
from ..core.errors import GatewayError
from ..endpoints.deployments import DeploymentRegistry
from ..pipeline.context import RequestContext
from ..pipeline.routing_step import OUTPUT_TOKENS, RoutingStep
from ..wire.openai_front import parse_chat_request


@dataclass
class Analysis:
    requests: int = 0
    skipped: int = 0
    actual_cost: float = 0.0
    routed_cost: float = 0.0
    unpriced_models: Counter = field(default_factory=Counter)
    chosen: Counter = field(default_factory=Counter)
    used: Counter = field(default_factory=Counter)
    unmet: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    errors: Counter = field(default_factory=Counter)

    @property
    def savings(self) -> float:
        return self.actual_cost - self.routed_cost

    @property
    def savings_pct(self) -> float:
        return 100.0 * self.savings / self.actual_cost if self.actual_cost else 0.0

    def monthly(self, monthly_requests: int | None) -> tuple[float, str]:
        """Projected monthly savings, and the basis of the projection."""
        per_request = self.savings / self.requests if self.requests else 0.0
        if monthly_requests:
            return per_request * monthly_requests, f"{monthly_requests:,} requests a month (given)"
        if self.first_ts is not None and self.last_ts is not None and self.last_ts > self.first_ts:
            days = (self.last_ts - self.first_ts) / 86400.0
            rate = self.requests / days
            return per_request * rate * 30, f"{rate * 30:,.0f} requests a month (from the file's time span)"
        return (
            per_request * self.requests * 30,
            "the file as one day of traffic (no timestamps; use --monthly-requests)",
        )


def read_lines(lines: Iterable[bytes]) -> Iterator[tuple[dict | None, str | None]]:
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield orjson.loads(line), None
        except orjson.JSONDecodeError:
            yield None, f"line {n}: not JSON"


def analyze(
    records: Iterable[tuple[dict | None, str | None]],
    config: GatewayConfig,
    *,
    route: str = "auto",
    min_quality: float | None = None,
    progress=None,
) -> Analysis:
    step = RoutingStep(config, DeploymentRegistry(config))
    if route not in step.routes:
        raise ValueError(f"unknown route {route!r}; configured: {sorted(step.routes)}")
    prices = {m.name: m.prices for m in config.models}
    out = Analysis()
    for rec, err in records:
        if progress:
            progress()
        if err or not isinstance(rec, dict):
            out.skipped += 1
            out.errors[err or "not an object"] += 1
            continue
        body = dict(rec.get("request", rec))
        body_usage, body_ts = body.pop("usage", None), body.pop("created", None)
        usage = rec.get("usage") or body_usage or {}
        ts = rec.get("created") or body_ts
        used = body.get("model")
        body.pop("stream", None)
        if min_quality is not None:
            body["faregate"] = {**(body.get("faregate") or {}), "min_quality": min_quality}
        try:
            req = parse_chat_request({**body, "model": route})
            ctx = RequestContext(request=req)
            plan = step.plan(ctx, route)
        except GatewayError as exc:
            out.skipped += 1
            out.errors[exc.message[:80]] += 1
            continue
        if used not in prices:
            out.unpriced_models[used] += 1
            out.skipped += 1
            continue
        tin = int(usage.get("prompt_tokens") or step.input_tokens(ctx))
        tout = int(
            usage.get("completion_tokens") or req.max_tokens or OUTPUT_TOKENS.get(plan.constraints.task or "", 256)
        )
        chosen = plan.models[-1]
        out.requests += 1
        out.used[used] += 1
        out.chosen[chosen] += 1
        out.unmet += plan.constraint_unmet
        out.actual_cost += (tin * prices[used].input + tout * prices[used].output) / 1e6
        out.routed_cost += (tin * prices[chosen].input + tout * prices[chosen].output) / 1e6
        if isinstance(ts, (int, float)):
            out.first_ts = ts if out.first_ts is None else min(out.first_ts, ts)
            out.last_ts = ts if out.last_ts is None else max(out.last_ts, ts)
    return out
