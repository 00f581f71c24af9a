"""``faregate compare`` over a traffic file (the format ``faregate analyze`` reads): each request
planned by two policies with the config's models, prices and routes.

A policy here is ``model:NAME`` (a configured model), ``route:NAME`` (a route definition of the
config), ``router:PATH`` (the ``--route`` route with that router file, as an experiment arm
does) or ``sent`` (the model the file says was used). Tokens are the recorded usage, else
``routing.estimate``'s, the same for both policies. Traffic has no outcomes, so quality is the
plan's predicted quality (no feedback) and latency its predicted p95; the cost of a cascade is
its expected cost: each later stage weighted by the probability of reaching it that the plan's
own expected cost implies (exact for two stages).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import click

from ..config import GatewayConfig
from ..core.errors import GatewayError
from ..routing.estimate import cost_usd, output_tokens
from ..routing.plan import Plan
from ..routing.planner import Planner
from ..routing.sources import RouterSource, prior_quality
from ..wire.openai_front import parse_chat_request
from .traffic import replay as plan_request

Pick = Callable[[dict[str, Any]], dict[str, Any] | None]


def later_reach(plan: Plan) -> float:
    """The mean probability of calling the stages after the first, from the plan's expected and
    worst costs and the first model's own predicted cost (1.0 when they are not known)."""
    if len(plan.models) < 2:
        return 1.0
    own = {tuple(c.get("models") or ()): c for c in plan.candidates}
    chosen, first = own.get(tuple(plan.models)), own.get((plan.models[0],))
    if chosen is None or first is None:
        return 1.0
    c1, worst = float(first["predicted_cost_usd"]), float(chosen["worst_cost_usd"])
    if worst <= c1:
        return 1.0
    return min(1.0, max(0.0, (plan.predicted_cost_usd - c1) / (worst - c1)))


def _row(
    config: GatewayConfig, plan: Plan | None, model: str, tin: int, tout: int, task: str | None = None
) -> dict[str, Any]:
    """One replayed request: the plan's (or the fixed model's) cost at these tokens, and its
    prediction (a fixed model's: its prior for ``task``, as the planner would rate it)."""
    models = plan.models if plan is not None else [model]
    configs = [config.model(m) for m in models]
    prices = [cost_usd(m, tin, tout) if m is not None else 0.0 for m in configs]
    reach = later_reach(plan) if plan is not None else 1.0
    fixed = configs[0]
    return {
        "cost_usd": prices[0] + reach * sum(prices[1:]),
        "latency_ms": plan.predicted_latency_ms if plan is not None else 0.0,
        "status": 200,
        "constraint_unmet": bool(plan.constraint_unmet) if plan is not None else False,
        "score": plan.predicted_quality if plan is not None else (prior_quality(fixed, task) if fixed else None),
    }


def traffic_policy(spec: str, config: GatewayConfig, planner: Planner, route: str) -> Pick:
    """The replay of one request under ``spec``; a clear error for a bad spec."""
    kind, _, value = spec.partition(":")
    if kind == "router":
        if route not in planner.routes:
            raise click.BadParameter(f"unknown route {route!r} for router:PATH; configured: {sorted(planner.routes)}")
        name = f"compare:{value}"
        planner.routes[name] = planner.routes[route].model_copy(update={"name": name, "router_model": value})
        planner.sources = {**planner.sources, name: RouterSource.load(value)}
        kind, value = "route", name
    if kind == "route":
        if value not in planner.routes:
            raise click.BadParameter(f"unknown route {value!r}; the config has {sorted(planner.routes)}")
        return lambda rec: _planned(config, planner, rec, value)
    if kind in ("model", "sent"):
        if kind == "model" and config.model(value) is None:
            raise click.BadParameter(f"unknown model {value!r}; the config has {[m.name for m in config.models]}")
        return lambda rec: _fixed(config, rec, value if kind == "model" else None)
    raise click.BadParameter(f"{spec!r}: a policy is model:NAME, route:NAME, router:PATH or sent")


def _tokens(config: GatewayConfig, rec: dict[str, Any], plan: Plan | None, req: Any, tin: int) -> tuple[int, int]:
    usage = rec.get("usage") or {}
    task = plan.constraints.task if plan is not None and plan.constraints is not None else None
    tout = int(usage.get("completion_tokens") or output_tokens(req.max_tokens, task, config.routing_estimates))
    return int(usage.get("prompt_tokens") or tin), tout


def _body(rec: dict[str, Any], model: str) -> dict[str, Any]:
    body = {k: v for k, v in dict(rec.get("request", rec)).items() if k not in ("usage", "created", "stream")}
    return {**body, "model": model}


def _planned(config: GatewayConfig, planner: Planner, rec: dict[str, Any], route: str) -> dict[str, Any] | None:
    try:
        req = parse_chat_request(_body(rec, route))
        feats, plan = plan_request(planner, req, route)
    except GatewayError:
        return None
    return _row(config, plan, route, *_tokens(config, rec, plan, req, feats.input_tokens))


def _fixed(config: GatewayConfig, rec: dict[str, Any], model: str | None) -> dict[str, Any] | None:
    model = model or dict(rec.get("request", rec)).get("model")
    if not isinstance(model, str) or config.model(model) is None:
        return None  # as `faregate analyze`: a model the config cannot price is skipped
    try:
        req = parse_chat_request(_body(rec, model))
    except GatewayError:
        return None
    from ..routing import features as F

    # The task as ``traffic.replay`` (the planned arm) reads it, so both arms' priors are per task.
    feats = F.extract(req.messages, req.tools, req.response_format, req.routing.get("task") if req.routing else None)
    return _row(config, None, model, *_tokens(config, rec, None, req, feats.input_tokens), task=feats.task)


def replay_traffic(records: Iterable[dict[str, Any]], a: Pick, b: Pick) -> tuple[list, list, int]:
    """Both policies' rows over the requests both can replay, and the count skipped."""
    rows_a, rows_b, skipped = [], [], 0
    for rec in records:
        ra, rb = a(rec), b(rec)
        if ra is None or rb is None:
            skipped += 1
            continue
        rows_a.append(ra)
        rows_b.append(rb)
    return rows_a, rows_b, skipped
