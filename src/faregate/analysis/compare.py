"""``faregate compare``: two routing policies replayed offline, compared with the experiment
report's table, intervals and verdict, over either kind of file:

- a routing-outcomes file (``routing/data.py``; rows with ``outcomes``): a policy is
  ``model:NAME``, ``router:PATH`` (a ``faregate train`` file: per prompt, the cheapest
  predicted plan meeting ``--min-quality``, else the best predicted) or, with ``--config``,
  ``route:NAME`` (that route definition: its router file, candidates, floor and confidence, the
  floor met as a chance constraint as the gateway plans it). A single model's row is
  its recorded cost and quality. A cascade's is its expectation under the router's reach
  probabilities: cost sum(reach_s * cost_s), quality sum((reach_s - reach_s+1) * quality_s)
  (the answer is stage s's when s is reached and s+1 is not). No latency is recorded (0).
- a traffic file (``faregate analyze``'s format), with ``--config``: ``compare_traffic``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
import orjson

from ..routing.data import Row, load_rows, models_of
from ..routing.experiment_stats import report
from .config import planning_config
from .experiments import render

# The models a plan calls, in order, and the probability each is reached.
Policy = Callable[[Row], tuple[list[str], list[float]]]


def policy(spec: str, models: list[str], min_quality: float) -> Policy:
    """The models a policy calls for a row; a clear error for a bad spec."""
    kind, _, value = spec.partition(":")
    if kind == "model":
        if value not in models:
            raise click.BadParameter(f"unknown model {value!r}; the file has {models}")
        return lambda row: ([value], [1.0])
    if kind == "router":
        from ..routing.model import RouterModel, row_features

        router = RouterModel.load(value)

        def choose(row: Row) -> tuple[list[str], list[float]]:
            arms = router.predict_arms(row_features(row))
            ok = [a for a in arms if a.quality >= min_quality and all(m in row.outcomes for m in a.arm.models)]
            best = min(ok, key=lambda a: a.cost_usd) if ok else max(arms, key=lambda a: a.quality)
            return list(best.arm.models), [float(r) for r in best.reach]

        return choose
    raise click.BadParameter(f"{spec!r}: a policy is model:NAME or router:PATH, or route:NAME with --config")


def route_policy(name: str, config_path: str | None, models: list[str], min_quality: float) -> Policy:
    """A config's route definition replayed on an outcomes file: the route's router file (else
    the gateway's), restricted to its candidates, with its floor and confidence (else the
    gateway defaults) applied as the planner does: cheapest plan whose calibrated P(meet the
    floor) reaches the confidence, else the most likely to meet it."""
    from ..routing.model import RouterModel, row_features

    if config_path is None:
        raise click.BadParameter(f"route:{name} needs --config (the file that defines the route)")
    config = planning_config(config_path)
    route = next((r for r in config.routes if r.name == name), None)
    if route is None:
        raise click.BadParameter(f"unknown route {name!r}; the config has {[r.name for r in config.routes]}")
    path = route.router_model or config.router_model
    if path is None:
        raise click.BadParameter(f"route {name!r} has no router_model (nor does the config): train one first")
    router = RouterModel.load(path)
    allowed = set(route.candidates or models)
    if not allowed & set(models):
        raise click.BadParameter(f"route {name!r}: none of its candidates {sorted(allowed)} is in the file")
    floor = route.min_quality if route.min_quality is not None else min_quality
    confidence = route.confidence if route.confidence is not None else config.default_confidence

    def choose(row: Row) -> tuple[list[str], list[float]]:
        arms = [
            a
            for a in router.predict_arms(row_features(row))
            if all(m in row.outcomes and m in allowed for m in a.arm.models)
        ]
        if not arms:
            raise click.ClickException(f"route {name!r}: no plan of the router fits row {row.id!r}")
        p = router.p_meet([a.quality for a in arms], floor)
        ok = [a for a, pm in zip(arms, p, strict=True) if pm >= confidence]
        best = min(ok, key=lambda a: a.cost_usd) if ok else arms[max(range(len(arms)), key=p.__getitem__)]
        return list(best.arm.models), [float(r) for r in best.reach]

    return choose


def replay(rows: list[Row], pick: Policy) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        called, reach = pick(row)
        stop = [r - (reach[i + 1] if i + 1 < len(reach) else 0.0) for i, r in enumerate(reach)]
        out.append(
            {
                "cost_usd": sum(r * float(row.outcomes[m]["cost_usd"]) for m, r in zip(called, reach, strict=True)),
                "latency_ms": 0.0,
                "status": 200,
                "constraint_unmet": False,
                "score": sum(p * float(row.outcomes[m]["quality"]) for m, p in zip(called, stop, strict=True)),
            }
        )
    return out


def _is_outcomes(file: str) -> bool:
    with open(file, "rb") as f:
        for line in f:
            if line.strip():
                try:
                    first = orjson.loads(line)
                except orjson.JSONDecodeError:
                    return False
                return isinstance(first, dict) and "outcomes" in first
    return False


def _traffic(file: str, config_path: str | None, route: str, specs: tuple[str, str]) -> dict[str, Any]:
    from ..routing.planner import Planner
    from .compare_traffic import replay_traffic, traffic_policy
    from .traffic import read_lines

    config = planning_config(config_path)
    if not config.models:
        raise click.ClickException("a traffic file is planned with a config's models: pass --config")
    planner = Planner(config)
    a, b = (traffic_policy(s, config, planner, route) for s in specs)
    with open(file, "rb") as f:
        records = [rec for rec, err in read_lines(f) if err is None and isinstance(rec, dict)]
    rows_a, rows_b, skipped = replay_traffic(records, a, b)
    if not rows_a:
        raise click.ClickException(f"none of the file's {len(records)} requests could be replayed by both policies")
    rep = report({"A": rows_a, "B": rows_b})
    rep["skipped"] = skipped
    return rep


@click.command("compare")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--a", "policy_a", required=True, help="Baseline: model:NAME, router:PATH, route:NAME or sent.")
@click.option("--b", "policy_b", required=True, help="Candidate: model:NAME, router:PATH, route:NAME or sent.")
@click.option("--min-quality", default=0.8, show_default=True, type=click.FloatRange(0, 1))
@click.option(
    "--config",
    "config_path",
    envvar="FAREGATE_CONFIG",
    type=click.Path(dir_okay=False),
    help="Traffic files; route:NAME on outcomes files.",
)
@click.option("--route", default="auto", show_default=True, help="Traffic files: the route router:PATH replaces.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def compare_cmd(
    file: str, policy_a: str, policy_b: str, min_quality: float, config_path: str | None, route: str, as_json: bool
) -> None:
    """Replay a routing-outcomes or traffic file through two policies: per-arm table, 95% CIs, verdict."""
    if not _is_outcomes(file):
        rep = _traffic(file, config_path, route, (policy_a, policy_b))
    else:
        try:
            rows = load_rows(file)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        models = models_of(rows)
        a, b = (
            route_policy(spec[6:], config_path, models, min_quality)
            if spec.startswith("route:")
            else policy(spec, models, min_quality)
            for spec in (policy_a, policy_b)
        )
        rep = report({"A": replay(rows, a), "B": replay(rows, b)})
    rep["policies"] = {"A": policy_a, "B": policy_b}
    click.echo(orjson.dumps(rep, option=orjson.OPT_INDENT_2).decode() if as_json else render(rep))
