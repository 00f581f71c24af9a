"""CLI for the analyses."""

from __future__ import annotations

from pathlib import Path

import click

from .config import planning_config


@click.command("analyze")
@click.argument("traffic", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--config",
    "config_path",
    envvar="FAREGATE_CONFIG",
    type=click.Path(dir_okay=False),
    help="The gateway config whose models and prices to plan with.",
)
@click.option("--route", default="auto", show_default=True, help="Route to plan each request with.")
@click.option("--min-quality", type=click.FloatRange(0, 1), default=None, help="Floor for every request.")
@click.option("--monthly-requests", type=int, default=None, help="Volume to project the savings to.")
def analyze_cmd(
    traffic: str, config_path: str | None, route: str, min_quality: float | None, monthly_requests: int | None
) -> None:
    """What faregate would have chosen for past requests (TRAFFIC: one JSON body per line) and the
    projected monthly savings."""
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from ..routing.plan import PREDICTION_NOTES
    from .traffic import analyze, read_lines

    config = planning_config(config_path)
    if not config.models:
        raise click.ClickException("the config has no models to plan with: pass --config with a `models:` list")
    path = Path(traffic)
    total = sum(1 for _ in path.open("rb"))
    console = Console()
    with Progress(console=console, transient=True) as bar, path.open("rb") as f:
        task = bar.add_task("planning", total=total)
        try:
            res = analyze(
                read_lines(f), config, route=route, min_quality=min_quality, progress=lambda: bar.advance(task)
            )
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    monthly, basis = res.monthly(monthly_requests)
    t = Table(title=f"faregate analyze: {res.requests:,} requests planned on route {route!r}")
    t.add_column("")
    t.add_column("value", justify="right")
    t.add_row("cost as sent", f"${res.actual_cost:,.4f}")
    t.add_row("cost with faregate", f"${res.routed_cost:,.4f}")
    t.add_row("savings", f"${res.savings:,.4f} ({res.savings_pct:.1f}%)")
    t.add_row("projected monthly savings", f"${monthly:,.2f}")
    t.add_row("projection basis", basis)
    t.add_row("constraint unmet", f"{res.unmet:,}")
    t.add_row("skipped lines", f"{res.skipped:,}")
    for source, n in res.prediction_sources.most_common():
        conf = PREDICTION_NOTES.get(source, ("?", ""))[0]
        t.add_row(f"predictions from {source} ({conf} confidence)", f"{n:,}")
    console.print(t)
    if res.prediction_sources.get("prior"):
        console.print(f"[yellow]{res.prediction_sources['prior']} plan(s) rest on {PREDICTION_NOTES['prior'][1]}.[/]")
    mix = Table(title="model mix")
    mix.add_column("model")
    mix.add_column("as sent", justify="right")
    mix.add_column("faregate", justify="right")
    for m in sorted(set(res.used) | set(res.chosen)):
        mix.add_row(m, str(res.used[m]), str(res.chosen[m]))
    console.print(mix)
    for model, n in res.unpriced_models.most_common(5):
        console.print(f"[yellow]{n} request(s) used {model!r}, which is not in the config: skipped[/]")
    for msg, n in res.errors.most_common(5):
        console.print(f"[yellow]{n} line(s) skipped: {msg}[/]")
