"""``faregate analyze``: read past requests, plan each as the router would, project savings.

Input: one JSON object per line, either an OpenAI chat request body (its ``model`` is the
model that was used; an optional ``usage`` object with ``prompt_tokens``/``completion_tokens``
beside it) or ``{"request": {...body...}, "usage": {...}, "created": <unix time>}``.
Each request is planned by the pure planner (``routing.planner``) with the config's catalogue,
router files and calibration, and no live statistics. Tokens: the recorded usage when present,
else ``routing.estimate`` (~4 characters per input token, the task's typical answer length).
Both sides are priced with the same token counts, so the difference is the routing decision
alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import orjson

from ..config import GatewayConfig
from ..core.errors import GatewayError
from ..core.types import ChatRequest
from ..routing import features as F
from ..routing.constraints import resolve_constraints
from ..routing.estimate import estimate, output_tokens
from ..routing.plan import Plan
from ..routing.planner import Planner, PlanRequest
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
    prediction_sources: Counter = field(default_factory=Counter)  # "prior" / "logged_outcomes" / "router"
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


def replay(planner: Planner, req: ChatRequest, route: str) -> tuple[F.RequestFeatures, Plan]:
    """The plan the router would make for ``req`` (no key, no live statistics, no learner)."""
    task = req.routing.get("task") if req.routing else None
    feats = F.extract(req.messages, req.tools, req.response_format, task)
    cons = resolve_constraints(req.routing, planner.routes[route], planner.config, feats.task)
    request = PlanRequest(feats, cons, max_tokens=req.max_tokens, needs_json=bool(req.response_format))
    return feats, planner.plan(route, request)


def analyze(
    records: Iterable[tuple[dict | None, str | None]],
    config: GatewayConfig,
    *,
    route: str = "auto",
    min_quality: float | None = None,
    progress=None,
) -> Analysis:
    planner = Planner(config)
    if route not in planner.routes:
        raise ValueError(f"unknown route {route!r}; configured: {sorted(planner.routes)}")
    models = {m.name: m for m in config.models}
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
            feats, plan = replay(planner, req, route)
        except GatewayError as exc:
            out.skipped += 1
            out.errors[exc.message[:80]] += 1
            continue
        if used not in models:
            out.unpriced_models[used] += 1
            out.skipped += 1
            continue
        task = plan.constraints.task if plan.constraints is not None else None
        tin = int(usage.get("prompt_tokens") or feats.input_tokens)
        tout = int(usage.get("completion_tokens") or output_tokens(req.max_tokens, task, config.routing_estimates))
        chosen = plan.models[-1]
        est = estimate([models[used], models[chosen]], input_tokens=tin, output_tokens=tout)
        out.requests += 1
        out.used[used] += 1
        out.chosen[chosen] += 1
        out.unmet += plan.constraint_unmet
        out.prediction_sources[plan.prediction_source or "unknown"] += 1
        out.actual_cost += est.cost_usd[used]
        out.routed_cost += est.cost_usd[chosen]
        if isinstance(ts, (int, float)):
            out.first_ts = ts if out.first_ts is None else min(out.first_ts, ts)
            out.last_ts = ts if out.last_ts is None else max(out.last_ts, ts)
    return out
