"""``faregate calibrate --from-log``: refit latency priors and per-task quality from the request log."""

from __future__ import annotations

import asyncio
import time

import click
import orjson

from ..config import ConfigError, load_config
from ..core.command_error import CommandError
from .calibrate import calibrate

SQL = (
    "SELECT r.model AS model, r.task AS task, r.status AS status, r.ttft_ms AS ttft_ms, "
    "r.latency_ms AS latency_ms, r.output_tokens AS output_tokens, f.score AS feedback_score "
    "FROM request_log r LEFT JOIN feedback f ON f.request_id = r.id WHERE r.ts >= $1"
)


async def read_log(url: str, since: float) -> list[dict]:
    from ..storage.log_open import open_request_log

    db = await open_request_log(url)
    try:
        return await db.fetch(SQL, since)
    finally:
        await db.close()


async def publish_calibration(url: str, calibration: dict) -> int:
    """Store it as the fleet's calibration: every replica on this database picks it up."""
    import socket

    from ..storage.calibration_store import CalibrationStore

    store = await CalibrationStore.open(url)
    try:
        return await store.publish(calibration, f"faregate calibrate on {socket.gethostname()}")
    finally:
        await store.close()


def _since(text: str) -> float:
    units = {"h": 3600, "d": 86400, "w": 7 * 86400}
    if text[-1:] in units and text[:-1].isdigit():
        return time.time() - int(text[:-1]) * units[text[-1]]
    raise click.BadParameter("use a duration like 24h, 7d or 4w")


@click.command("calibrate")
@click.option(
    "--from-log",
    "from_log",
    is_flag=True,
    required=True,
    help="Read logged outcomes from the request log (FAREGATE_DATABASE_URL).",
)
@click.option("--config", "config_path", envvar="FAREGATE_CONFIG", type=click.Path(dir_okay=False))
@click.option("--database-url", envvar="FAREGATE_DATABASE_URL", default=None)
@click.option("--since", default="7d", show_default=True, help="How far back: 24h, 7d, 4w.")
@click.option(
    "-o",
    "--output",
    default="calibration.json",
    show_default=True,
    help="Where to write it; point `calibration_file:` in the config at it.",
)
@click.option(
    "--publish",
    is_flag=True,
    help="Also store it in the database: every running replica on it routes with it within seconds.",
)
def calibrate_cmd(
    from_log: bool, config_path: str | None, database_url: str | None, since: str, output: str, publish: bool
) -> None:
    """Refit each model's latency (time to first token, output speed) and per-task quality
    (feedback and errors, shrunk toward the model's prior) from logged outcomes."""
    from rich.console import Console
    from rich.table import Table

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    url = database_url or config.database_url
    rows = asyncio.run(read_log(url, _since(since)))
    cal = calibrate(rows, priors={m.name: m.quality for m in config.models})
    body = {m: c.as_dict() for m, c in cal.items()}
    with open(output, "wb") as f:
        f.write(orjson.dumps(body, option=orjson.OPT_INDENT_2))
    t = Table(title=f"calibrated from {len(rows):,} logged requests since {since}")
    for col in ("model", "requests", "ttft p50 ms", "ttft p95 ms", "tokens/s", "quality by task (n)"):
        t.add_column(col)
    for m, c in sorted(cal.items()):
        fmt = lambda v: "-" if v is None else f"{v:,.0f}"  # noqa: E731
        q = ", ".join(f"{k} {v[0]:.2f} ({v[1]})" for k, v in sorted(c.quality_by_task.items()))
        t.add_row(m, f"{c.requests:,}", fmt(c.ttft_ms_p50), fmt(c.ttft_ms_p95), fmt(c.tokens_per_s), q or "-")
    Console().print(t)
    click.echo(f"wrote {output}")
    if publish:
        seq = asyncio.run(publish_calibration(url, body))
        click.echo(f"published as calibration {seq}: running replicas on this database use it within seconds")
