"""``faregate experiments report NAME``: an experiment's arms compared from the request log,
and the text rendering of a per-arm report shared with ``faregate compare``."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import click
import orjson

from ..routing.experiment_stats import report
from ..storage import analytics
from ..storage.commands import _config, _db_opts
from ..storage.experiments import experiment_rows
from ..storage.log_open import open_request_log


async def experiment_report(url: str, name: str, since: float, until: float) -> dict[str, Any]:
    db = await open_request_log(url)
    try:
        arms = await experiment_rows(db, name, since, until)
    finally:
        await db.close()
    return {"experiment": name, **report(arms)}


def _f(v: Any, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def render(rep: dict[str, Any]) -> str:
    """The per-arm table and one verdict line per comparison."""
    head = f"{'arm':<16}{'requests':>9}{'$/req':>11}{'quality':>9}{'rated':>7}{'p50 ms':>9}{'p95 ms':>9}"
    lines = [head + f"{'errors':>8}{'unmet':>8}"]
    for name, a in rep["arms"].items():
        lat = a["latency_ms"]
        lines.append(
            f"{name:<16}{a['requests']:>9}{_f(a['cost_per_request_usd'], '.6f'):>11}{_f(a['quality'], '.3f'):>9}"
            f"{a['rated_requests']:>7}{_f(lat['p50'], '.0f'):>9}{_f(lat['p95'], '.0f'):>9}"
            f"{_f(a['error_rate'], '.1%'):>8}{_f(a['constraint_unmet_rate'], '.1%'):>8}"
        )
    for c in rep["comparisons"]:
        lines.append(c["verdict"])
    return "\n".join(lines)


@click.group("experiments")
def experiments_group() -> None:
    """Policy experiments: compare the arms of a running or finished experiment."""


@experiments_group.command("report")
@click.argument("name")
@click.option("--since", default="30d", show_default=True, help="1h, 7d, an ISO 8601 time, or epoch seconds.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_db_opts
def report_cmd(name: str, since: str, as_json: bool, database_url: str | None, config_path: str | None) -> None:
    """Per arm: requests, cost, quality, latency, error and unmet rates, differences with 95% CIs."""
    url = database_url or _config(config_path).database_url
    try:
        lo = analytics.parse_time(since, name="since") or 0.0
    except analytics.BadParameter as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    rep = asyncio.run(experiment_report(url, name, lo, time.time() + 1))
    if not rep["arms"]:
        raise click.ClickException(f"no requests logged for experiment {name!r} since {since}")
    click.echo(orjson.dumps(rep, option=orjson.OPT_INDENT_2).decode() if as_json else render(rep))
