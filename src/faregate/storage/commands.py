"""CLI: ``faregate logs export`` and ``faregate report`` (register ``logs_group`` and ``report_cmd``).

Both read ``database_url`` from ``--database-url`` / ``FAREGATE_DATABASE_URL`` or the config file.
"""

from __future__ import annotations

import asyncio
import csv
import sys
import time
from collections.abc import Callable
from typing import Any

import click
import orjson

from ..core.command_error import CommandError
from . import analytics
from .log_open import open_request_log
from .request_record import COLUMNS, RequestRecord

_DB_OPTS = [
    click.option(
        "--database-url",
        envvar="FAREGATE_DATABASE_URL",
        default=None,
        help="Database URL (env FAREGATE_DATABASE_URL); default: the config's database_url.",
    ),
    click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        envvar="FAREGATE_CONFIG",
        default=None,
        help="Config file (env FAREGATE_CONFIG), for database_url and model prices.",
    ),
]


def _db_opts(f):
    for opt in reversed(_DB_OPTS):
        f = opt(f)
    return f


def _config(config_path: str | None):
    from ..config import ConfigError, load_config

    try:
        return load_config(config_path)
    except ConfigError as exc:
        raise CommandError(str(exc)) from None


def _time(value: str | None, name: str) -> float | None:
    try:
        return analytics.parse_time(value, name=name)
    except analytics.BadParameter as exc:
        raise click.BadParameter(str(exc), param_hint=f"--{name}") from None


@click.group("logs")
def logs_group() -> None:
    """The request log."""


@logs_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option("--since", default=None, help="1h, 7d, 30m ago, an ISO 8601 time, or epoch seconds.")
@click.option("--until", default=None, help="Same forms as --since; default now.")
@_db_opts
def export_cmd(
    fmt: str, since: str | None, until: str | None, database_url: str | None, config_path: str | None
) -> None:
    """Write logged requests in [since, until) to stdout, oldest first."""
    url = database_url or _config(config_path).database_url
    lo, hi = _time(since, "since"), _time(until, "until")
    asyncio.run(_export(url, fmt, lo if lo is not None else 0.0, hi if hi is not None else time.time() + 1))


async def _export(url: str, fmt: str, since: float, until: float) -> None:
    db = await open_request_log(url)
    out = sys.stdout
    try:
        writer = csv.writer(out) if fmt == "csv" else None
        if writer:
            writer.writerow(COLUMNS)
        last_ts, last_id = since, ""
        while True:  # keyset pages: constant memory however long the log
            rows = await db.fetch(
                f"SELECT {', '.join(COLUMNS)} FROM request_log WHERE (ts > $1 OR (ts = $1 AND id > $2)) "
                f"AND ts >= $3 AND ts < $4 ORDER BY ts, id LIMIT 5000",
                last_ts,
                last_id,
                since,
                until,
            )
            if not rows:
                break
            for r in rows:
                if writer:
                    writer.writerow(["" if r[c] is None else r[c] for c in COLUMNS])
                else:
                    rec = RequestRecord.from_row(r)
                    out.write(orjson.dumps({c: getattr(rec, c) for c in COLUMNS}).decode() + "\n")
            last_ts, last_id = rows[-1]["ts"], rows[-1]["id"]
        out.flush()
    finally:
        await db.close()


@click.command("report")
@click.option("--since", default="7d", show_default=True, help="1h, 7d, an ISO 8601 time, or epoch seconds.")
@click.option("--until", default=None)
@click.option(
    "--group-by",
    type=click.Choice(["model", "key", "route", "task", "day", "policy", "complexity"]),
    default="model",
    show_default=True,
)
@click.option("--baseline", default=None, help="Model to price the same tokens at, for savings.")
@click.option("--compare", is_flag=True, help="Gradual rollout: the routed and control arms side by side.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--signals", is_flag=True, help="Also: which learning signals moved which model, and how hard.")
@_db_opts
def report_cmd(
    since: str,
    until: str | None,
    group_by: str,
    baseline: str | None,
    compare: bool,
    as_json: bool,
    signals: bool,
    database_url: str | None,
    config_path: str | None,
) -> None:
    """Spend, savings, latency and reliability from the request log."""
    cfg = _config(config_path)
    url = database_url or cfg.database_url
    prices = {m.name: m.prices.prices() for m in cfg.models}
    lo, hi = _time(since, "since"), _time(until, "until")
    try:
        s, arms = asyncio.run(_report(url, lo, hi, group_by, baseline, prices, compare))
    except analytics.BadParameter as exc:
        raise click.UsageError(str(exc)) from None
    sig = asyncio.run(_signals(url, lo, hi)) if signals else None
    if as_json:
        out = {**s, "arms": arms} if compare else s
        click.echo(orjson.dumps({**out, "signals": sig} if signals else out, option=orjson.OPT_INDENT_2).decode())
        return
    _print_report(s, arms)
    if sig is not None:
        _print_signals(sig)


async def _signals(url, since, until) -> list[dict]:
    from .learner_store import LearnerStore

    store = await LearnerStore.open(url)
    try:
        return await store.signal_summary(since or 0.0, until)
    finally:
        await store.close()


def _print_signals(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title="learning signals: what moved which model")
    for col in ("model", "signal", "count", "weight", "mean residual"):
        t.add_column(col, justify="left" if col in ("model", "signal") else "right")
    for r in rows:
        t.add_row(r["model"], r["signal"], str(r["count"]), f"{r['weight']:.2f}", f"{r['mean_residual']:+.3f}")
    Console().print(t if rows else "No learning signals in this period.")


async def _report(url, since, until, group_by, baseline, prices, compare):
    db = await open_request_log(url)
    try:
        s = await analytics.summary(db, since=since, until=until, group_by=group_by, baseline=baseline, prices=prices)
        arms = await analytics.compare_arms(db, since=since, until=until) if compare else None
        return s, arms
    finally:
        await db.close()


def _fmt(v: Any, kind: str = "") -> str:
    if v is None:
        return "-"
    if kind == "%":
        return f"{v * 100:.1f}%"
    if kind == "$":
        return f"${v:,.4f}"
    if kind == "ms":
        return f"{v:,.0f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def _print_report(s: dict[str, Any], arms: dict[str, Any] | None) -> None:
    from rich.console import Console

    con = Console()
    base = s["baseline"] is not None
    # One table when it fits; else three narrower ones (cost, latency, reliability), so
    # an 80-column terminal shows figures instead of a row of ellipses.
    for table in _groups_tables(s, base, split=con.width < WIDE_REPORT):
        con.print(table)
    if base:
        tot = s["total"]
        con.print(
            f"Against always-{s['baseline']}: {_fmt(tot.get('baseline_cost_usd'), '$')}; "
            f"saved {_fmt(tot.get('savings_usd'), '$')} ({_fmt(tot.get('savings_pct'))}%) by routing."
        )
    tot = s["total"]
    con.print(
        f"Response cache: {_fmt(tot.get('cache_hit_rate'), '%')} of requests answered from the cache, "
        f"saving {_fmt(tot.get('cache_saved_usd'), '$')} upstream."
    )
    for r in s["recommendations"]:
        con.print(f"[bold]recommendation:[/bold] {r['message']}")
    for r in s.get("unavailable_recommendations", []):
        con.print(f"[dim]recommendation {r['message']}[/dim]")
    if arms is not None:
        con.print(_arms_table(arms))


WIDE_REPORT = 150  # columns the one-table report needs


def _groups_tables(s: dict[str, Any], base: bool, *, split: bool) -> list[Any]:
    from rich.table import Table

    iso = lambda t: time.strftime("%Y-%m-%d %H:%M", time.gmtime(t))  # noqa: E731
    title = f"faregate report {iso(s['since'])} .. {iso(s['until'])} UTC, by {s['group_by']}"
    cells: dict[str, Callable[[dict[str, Any]], str]] = {
        "requests": lambda g: _fmt(g["requests"]),
        "spend": lambda g: _fmt(g["spend_usd"], "$"),
        **({"savings": lambda g: _fmt(g.get("savings_usd"), "$")} if base else {}),
        "tokens in/out": lambda g: f"{g['tokens']['input']:,}/{g['tokens']['output']:,}",
        "cache hit": lambda g: _fmt(g["cache_hit_rate"], "%"),
        "cache saved": lambda g: _fmt(g.get("cache_saved_usd"), "$"),
        "p50 ms": lambda g: _fmt(g["latency_ms"]["p50"], "ms"),
        "p95 ms": lambda g: _fmt(g["latency_ms"]["p95"], "ms"),
        "p99 ms": lambda g: _fmt(g["latency_ms"]["p99"], "ms"),
        "ttft p50": lambda g: _fmt(g["ttft_ms"]["p50"], "ms"),
        "ceiling met": lambda g: _fmt(g["latency_ceiling_met"], "%"),
        "fallback": lambda g: _fmt(g["fallback_rate"], "%"),
        "errors": lambda g: _fmt(g["error_rate"], "%"),
        "unmet": lambda g: _fmt(g["constraint_unmet_rate"], "%"),
    }
    names = list(cells)
    lat, rel = names.index("p50 ms"), names.index("ceiling met")
    parts = [
        (title + ": cost", names[:lat]),
        (title + ": latency", names[lat:rel]),
        (title + ": reliability", names[rel:]),
    ]
    rows = [*s["groups"], {"group": "TOTAL", **s["total"]}]
    tables = []
    for t_title, cols in parts if split else [(title, names)]:
        t = Table(title=t_title)
        t.add_column("group", justify="left")
        for c in cols:
            t.add_column(c, justify="right")
        for g in rows:
            t.add_row(str(g["group"] or "(none)"), *(cells[c](g) for c in cols))
        tables.append(t)
    return tables


def _arms_table(arms: dict[str, Any]) -> Any:
    from rich.table import Table

    a = Table(title="Gradual rollout: arms side by side")
    for c in ("arm", "requests", "spend", "cost/request", "p50 ms", "p95 ms", "errors", "feedback (n)"):
        a.add_column(c, justify="left" if c == "arm" else "right")
    for name, v in arms.items():
        fb = v["feedback"]
        a.add_row(
            name,
            _fmt(v["requests"]),
            _fmt(v["spend_usd"], "$"),
            _fmt(v["cost_per_request_usd"], "$"),
            _fmt(v["latency_p50_ms"], "ms"),
            _fmt(v["latency_p95_ms"], "ms"),
            _fmt(v["error_rate"], "%"),
            f"{fb['mean_score']:.3f} ({fb['count']})" if fb else "-",
        )
    return a
