"""``faregate compare``: two routing policies replayed offline over a routing-outcomes file
(``routing/data.py``), compared with the experiment report's table, intervals and verdict.

A policy is ``model:NAME`` (always that model) or ``router:PATH`` (a ``faregate train`` file:
per prompt, the cheapest predicted plan meeting ``--min-quality``, else the best predicted).
A row's cost is the sum over the models the plan calls, its quality the last model's (the
README's scoring; a cascade is charged all its stages, an upper bound). The outcome files
hold no latency, so latency is reported as 0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
import orjson

from ..routing.data import Row, load_rows, models_of
from ..routing.experiment_stats import report
from .experiments import render

Policy = Callable[[Row], list[str]]


def policy(spec: str, models: list[str], min_quality: float) -> Policy:
    """The models a policy calls for a row; a clear error for a bad spec."""
    kind, _, value = spec.partition(":")
    if kind == "model":
        if value not in models:
            raise click.BadParameter(f"unknown model {value!r}; the file has {models}")
        return lambda row: [value]
    if kind == "router":
        from ..routing.model import RouterModel, row_features

        router = RouterModel.load(value)

        def choose(row: Row) -> list[str]:
            arms = router.predict_arms(row_features(row))
            ok = [a for a in arms if a.quality >= min_quality and all(m in row.outcomes for m in a.arm.models)]
            best = min(ok, key=lambda a: a.cost_usd) if ok else max(arms, key=lambda a: a.quality)
            return list(best.arm.models)

        return choose
    raise click.BadParameter(f"{spec!r}: a policy is model:NAME or router:PATH")


def replay(rows: list[Row], pick: Policy) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        called = pick(row)
        out.append(
            {
                "cost_usd": sum(float(row.outcomes[m]["cost_usd"]) for m in called),
                "latency_ms": 0.0,
                "status": 200,
                "constraint_unmet": False,
                "score": float(row.outcomes[called[-1]]["quality"]),
            }
        )
    return out


@click.command("compare")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--a", "policy_a", required=True, help="Baseline policy: model:NAME or router:PATH.")
@click.option("--b", "policy_b", required=True, help="Candidate policy: model:NAME or router:PATH.")
@click.option("--min-quality", default=0.8, show_default=True, type=click.FloatRange(0, 1))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def compare_cmd(file: str, policy_a: str, policy_b: str, min_quality: float, as_json: bool) -> None:
    """Replay a routing-outcomes file through two policies: per-arm table, 95% CIs, verdict."""
    try:
        rows = load_rows(file)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    models = models_of(rows)
    a, b = policy(policy_a, models, min_quality), policy(policy_b, models, min_quality)
    rep = report({"A": replay(rows, a), "B": replay(rows, b)})
    rep["policies"] = {"A": policy_a, "B": policy_b}
    click.echo(orjson.dumps(rep, option=orjson.OPT_INDENT_2).decode() if as_json else render(rep))
