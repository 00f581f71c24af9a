"""The planner: a pure function from a request's features and constraints, the stored
statistics and the catalogue of models to one ``Plan``.

Per candidate plan (a single model, or a cascade: cheap models, a judge, a strong model):
quality from the route's trained router (``faregate train``), or the model's configured
``quality`` prior when no router knows it (replaced by a calibrated per-task quality when
there is one), corrected by the learner's ``adjust``; cost and latency from ``estimate``
(the models' prices, the estimated tokens, live time-to-first-token means, calibration,
priors). The choice is ``modes.select_mode``: by default (mode ``cost``) the cheapest plan
meeting the floor within the hard limits; the plan also carries the request's complexity class.
A request with a deadline may instead get the batch tier's plan (``routing.batch_tier``: the
models' batch twins at their discount). ``plan`` reads no clock, environment or registry:
everything it uses is passed in.

``Planner`` loads what a config names once (router files, calibration) and calls ``plan``;
the routing step, ``POST /v1/route`` and ``faregate analyze`` share it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ..config import GatewayConfig, ModelConfig, RouteConfig, RoutingEstimatesConfig
from ..config.batch_way import effective_discount
from ..core.errors import InvalidRequest, PermissionDenied
from . import batch_tier, chance
from . import features as F
from .complexity import complexity
from .constraints import Constraints
from .estimate import LatencyStats, estimate, output_tokens
from .mode_select import select_mode
from .plan import Plan
from .policy import Candidate, within_limits
from .sources import RouterSource, load_calibration

# offline quality per single model -> (adjusted quality per model, whether this request explores)
Adjust = Callable[[dict[str, float]], tuple[dict[str, float], bool]]
# offline quality per single model -> the learner's mean (unexplored) quality per model
AdjustMean = Callable[[dict[str, float]], dict[str, float]]
NOT_ALLOWED = "not allowed for this key"


@dataclass(frozen=True)
class PlanRequest:
    """What the planner needs of one request."""

    features: F.RequestFeatures
    constraints: Constraints
    max_tokens: int | None = None
    needs_json: bool = False  # a response_format was asked for
    allowed: tuple[str, ...] | None = None  # the key's model allow-list; None: every model
    stream: bool = False  # a streamed answer: never the batch tier
    batch_ok: bool = False  # the caller can take a deferred answer (a 202 and a batch to poll)


@dataclass(frozen=True)
class Catalogue:
    """The models' profiles (prices, capabilities, context windows, latency and quality priors)."""

    models: Mapping[str, ModelConfig]
    estimates: RoutingEstimatesConfig = field(default_factory=RoutingEstimatesConfig)
    cascades: bool = True  # cascade plans allowed
    batch_turnaround_s: float | None = None  # the batch tier's turnaround; None: the tier is off
    # The share off each model's price its batch lines really get (0 where faregate runs them).
    batch_discounts: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: GatewayConfig) -> Catalogue:
        tier = config.batch_tier
        turnaround = tier.turnaround_s if tier.enabled else None
        discounts = {m.name: effective_discount(m, config.batch) for m in config.models}
        return cls({m.name: m for m in config.models}, config.routing_estimates, config.cascades, turnaround, discounts)


@dataclass(frozen=True)
class Stats:
    """Stored statistics: the route's router, live ttft means, calibration, the learner."""

    source: RouterSource = field(default_factory=RouterSource)
    observed_ttft_ms: Mapping[str, float] = field(default_factory=dict)  # model -> lowest live ttft mean
    calibration: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    router_known: frozenset[str] = frozenset()  # models some trained router predicts
    adjust: Adjust | None = None
    # With ``adjust``: the learner's means, so an exploring request is marked constraint-unmet
    # only when no model meets the floor on them (a sample is not what the models can do).
    adjust_mean: AdjustMean | None = None


def usable_models(
    route: RouteConfig, request: PlanRequest, catalogue: Catalogue
) -> tuple[list[ModelConfig], list[dict[str, Any]]]:
    """The route's models that can serve the request, and the others with the reasons."""
    feats = request.features
    needs = set()
    if feats.has_tools:
        needs.add("tools")
    if request.needs_json:
        needs.add("json")
    if feats.has_images:
        needs.add("vision")
    usable, excluded = [], []
    for n in route.candidates or list(catalogue.models):
        m = catalogue.models[n]
        if m.mode != "chat":
            continue  # an embedding model answers /v1/embeddings only: never a routing candidate
        why = []
        if request.allowed is not None and n not in request.allowed:
            why.append(NOT_ALLOWED)
        missing = needs - set(m.capabilities)
        if missing:
            why.append(f"lacks {', '.join(sorted(missing))}")
        if feats.input_tokens + (request.max_tokens or 0) > m.context_window:
            why.append("prompt exceeds its context window")
        if why:
            excluded.append({"models": [n], "excluded_because": why})
        else:
            usable.append(m)
    return usable, excluded


def _none_usable(route: str, excluded: list[dict[str, Any]]) -> Exception:
    if excluded and all(NOT_ALLOWED in e["excluded_because"] for e in excluded):
        return PermissionDenied(f"This key may use none of route {route!r}'s models.", param="model")
    return InvalidRequest(
        f"No model of route {route!r} can serve this request: "
        + "; ".join(f"{e['models'][0]} {', '.join(e['excluded_because'])}" for e in excluded),
        param="model",
    )


def calibrated(c: Candidate, task: str | None, stats: Stats) -> Candidate:
    """A prior-only single model's quality replaced by its measured per-task quality, if any."""
    if len(c.models) != 1 or c.models[0] in stats.router_known:
        return c
    q = stats.calibration.get(c.models[0], {}).get("quality_by_task", {}).get(task or "other")
    return c if q is None else Candidate(c.models, q["quality"], c.cost_usd, c.latency_ms, c.judge, c.worst_cost_usd)


def shifted(c: Candidate, quality: float, floor: float | None) -> Candidate:
    """A single model's plan with the learner's corrected mean. Uncorrected, its calibrated
    ``p_meet`` stands. Corrected, the mean also rests on outcomes measured on this traffic, so its
    evidence is at least that of measured quality (``chance.TRAINED_CONCENTRATION``) and never less
    than the calibration implied (``chance.implied_concentration``): learning adds evidence."""
    if quality == c.quality:
        return c
    k = max(chance.implied_concentration(c.quality, floor, c.p_meet) or 0.0, chance.TRAINED_CONCENTRATION)
    p = None if floor is None else chance.p_meet(quality, floor, k)
    return Candidate(c.models, quality, c.cost_usd, c.latency_ms, c.judge, c.worst_cost_usd, p_meet=p)


def prediction_source(c: Candidate, task: str | None, stats: Stats, catalogue: Catalogue) -> str:
    """Where a plan's quality came from: every model known to the trained router -> "router";
    else measured per-task quality for its models -> "logged_outcomes"; else "prior"."""
    ms = [catalogue.models[n] for n in c.models if n in catalogue.models]
    if ms and all(stats.source.knows(m) for m in ms):
        return "router"
    if all(task is not None and task in stats.calibration.get(n, {}).get("quality_by_task", {}) for n in c.models):
        return "logged_outcomes"
    return "prior"


def candidates(
    route: RouteConfig, request: PlanRequest, stats: Stats, catalogue: Catalogue
) -> tuple[list[Candidate], list[dict[str, Any]]]:
    """Every candidate plan with its offline predictions, and the excluded models."""
    usable, excluded = usable_models(route, request, catalogue)
    if not usable:
        raise _none_usable(route.name, excluded)
    feats, task = request.features, request.constraints.task
    est = estimate(
        usable,
        input_tokens=feats.input_tokens,
        output_tokens=output_tokens(request.max_tokens, task, catalogue.estimates),
        latency=LatencyStats(stats.observed_ttft_ms, stats.calibration, catalogue.estimates.p95_factor),
    )
    cascades = catalogue.cascades and not feats.has_tools  # a judge compares text answers
    cands = stats.source.candidates(
        feats,
        usable,
        latency_ms=est.latency_ms,
        cost_usd=est.cost_usd,
        cascades=cascades,
        floor=request.constraints.min_quality,
    )
    if stats.calibration:
        cands = [calibrated(c, task, stats) for c in cands]
    return cands, excluded


def plan(route: RouteConfig, request: PlanRequest, stats: Stats, catalogue: Catalogue) -> Plan:
    """The cheapest plan meeting the request's floor within its hard limits (see the module)."""
    cons = request.constraints
    cands, excluded = candidates(route, request, stats, catalogue)
    offline = {c.models[0]: c.quality for c in cands if len(c.models) == 1}
    cands, means, learned, explored = _learned(cands, offline, stats, cons.min_quality)
    select = partial(
        select_mode,
        mode=cons.mode,
        min_quality=cons.min_quality,
        max_latency_ms=cons.max_latency_ms,
        max_cost_usd=cons.max_cost_usd,
        confidence=cons.confidence,
    )
    chosen, unmet = select(cands)
    if unmet and means is not None:  # an explored sample fell short: can some model meet it?
        unmet = select(means)[1]
    batch = batch_tier.consider(
        cands,
        chosen,
        unmet,
        cons,
        catalogue.batch_discounts,
        stream=request.stream,
        batch_ok=request.batch_ok,
        turnaround_s=catalogue.batch_turnaround_s,
    )
    if batch.chosen is not None:
        chosen, unmet = batch.chosen, False
    known = {n: q for n, q in offline.items() if n in catalogue.models and stats.source.knows(catalogue.models[n])}
    level, level_source = complexity(request.features, known)
    explained = _explain(cands, cons, None) + _explain(batch.twins, cons, catalogue.batch_turnaround_s)
    return Plan(
        chosen.kind,
        list(chosen.models),
        chosen.judge,
        chosen.quality,
        chosen.cost_usd,
        chosen.latency_ms,
        unmet,
        route=route.name,
        constraints=cons,
        candidates=explained + excluded,
        explored=explored,
        offline_quality=offline,
        learned_shift=learned,
        complexity=level,
        complexity_source=level_source,
        prediction_source=prediction_source(chosen, cons.task, stats, catalogue),
        p_meet=chosen.chance(cons.min_quality),
        tier="batch" if batch.chosen is not None else "sync",
        batch_note=batch.reason or None,
    )


def _learned(
    cands: list[Candidate], offline: dict[str, float], stats: Stats, floor: float | None
) -> tuple[list[Candidate], list[Candidate] | None, dict[str, float], bool]:
    """The candidates at the learner's quality; those at its means when an explored sample
    replaced them (else None); how far the means moved each model; whether it explores."""
    if stats.adjust is None:
        return cands, None, {}, False
    adjusted, explored = stats.adjust(offline)
    mean_q: dict[str, float] | None = adjusted
    means = None
    if explored:
        mean_q = stats.adjust_mean(offline) if stats.adjust_mean is not None else None
        if mean_q is not None:
            means = _shift_all(cands, mean_q, floor)
    learned = {m: q - offline[m] for m, q in (mean_q or {}).items() if abs(q - offline[m]) >= 5e-5}
    return _shift_all(cands, adjusted, floor), means, learned, explored


def _shift_all(cands: list[Candidate], quality: Mapping[str, float], floor: float | None) -> list[Candidate]:
    """Single-model candidates at the learner's quality for their model; cascades as they are."""
    return [shifted(c, quality[c.models[0]], floor) if len(c.models) == 1 else c for c in cands]


def _explain(cands: list[Candidate], cons: Constraints, turnaround_s: float | None) -> list[dict[str, Any]]:
    """Each candidate's predictions for ``POST /v1/route``; batch twins (``turnaround_s`` given)
    are within the limits when the deadline holds their turnaround."""
    out = []
    for c in cands:
        d = c.as_dict()
        d["tier"] = "sync" if turnaround_s is None else "batch"
        if turnaround_s is None:
            d["within_limits"] = within_limits(c, cons.max_latency_ms, cons.max_cost_usd)
        else:
            d["within_limits"] = within_limits(c, None, cons.max_cost_usd)
            d["turnaround_s"] = turnaround_s
        d["p_meet"] = round(c.chance(cons.min_quality), 4)
        d["meets_floor"] = c.meets(cons.min_quality, cons.confidence)
        out.append(d)
    return out


class Planner:
    """A config's routes, catalogue, router sources and calibration, loaded once (at start-up,
    never per request); ``plan`` adds the per-request statistics and calls the pure ``plan``."""

    def __init__(
        self,
        config: GatewayConfig,
        sources: dict[str, RouterSource] | None = None,
        live_calibration: Callable[[], Mapping[str, Any] | None] | None = None,
    ) -> None:
        self.config = config
        # The fleet's published calibration (``learning/shared_calibration.py``) when there is one.
        self.live_calibration = live_calibration
        self.routes: dict[str, RouteConfig] = {r.name: r for r in config.routes}
        if "auto" not in self.routes:
            self.routes["auto"] = RouteConfig(name="auto", router_model=config.router_model)
        self.catalogue = Catalogue.from_config(config)
        self.file_calibration: Mapping[str, Any] = load_calibration(config.calibration_file)
        if sources is None:
            cache: dict[str | None, RouterSource] = {}
            sources = {}
            for name, r in self.routes.items():
                path = r.router_model or config.router_model
                if path not in cache:
                    cache[path] = RouterSource.load(path)
                sources[name] = cache[path]
        self.sources = sources

    @property
    def calibration(self) -> Mapping[str, Any]:
        live = self.live_calibration() if self.live_calibration is not None else None
        return self.file_calibration if live is None else live

    def router_known(self) -> frozenset[str]:
        ms = self.catalogue.models.values()
        return frozenset(m.name for m in ms if any(s.knows(m) for s in self.sources.values()))

    def stats(
        self,
        route: str,
        observed_ttft_ms: Mapping[str, float] | None = None,
        adjust: Adjust | None = None,
        adjust_mean: AdjustMean | None = None,
    ) -> Stats:
        calibration = self.calibration
        known = self.router_known() if calibration else frozenset()
        return Stats(self.sources[route], observed_ttft_ms or {}, calibration, known, adjust, adjust_mean)

    def plan(
        self,
        route: str,
        request: PlanRequest,
        *,
        observed_ttft_ms: Mapping[str, float] | None = None,
        adjust: Adjust | None = None,
        adjust_mean: AdjustMean | None = None,
    ) -> Plan:
        stats = self.stats(route, observed_ttft_ms, adjust, adjust_mean)
        return plan(self.routes[route], request, stats, self.catalogue)
