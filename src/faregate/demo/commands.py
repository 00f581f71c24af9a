"""``faregate demo``: the savings end to end, on embedded defaults, in about a minute."""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

import click

from .options import DEMO_KEY
from .simulator import CEILINGS_MS, FLOORS, MIX, STRONGEST, TIERS


@click.command("demo")
@click.option(
    "--requests",
    "n",
    type=click.IntRange(1, 1_000_000),
    default=400,
    show_default=True,
    help="Requests in the simulated workload.",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the simulated world.")
@click.option(
    "--monthly-requests",
    type=click.IntRange(1),
    default=1_000_000,
    show_default=True,
    help="Your monthly volume, for the projected savings.",
)
@click.option(
    "--concurrency", type=click.IntRange(1, 1024), default=24, show_default=True, help="Requests in flight at once."
)
@click.option(
    "--time-scale",
    type=click.FloatRange(0.001, 1.0),
    default=0.5,
    show_default=True,
    help="Simulated latencies are multiplied by this (1.0: real time).",
)
@click.option(
    "--baseline",
    type=click.Choice(["send", "price"]),
    default="send",
    show_default=True,
    help="send: the workload also goes to the strongest model through faregate; "
    "price: the same prompts priced at its list price, with its simulated quality.",
)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where the SQLite request log goes (default: a new temporary directory).",
)
@click.option(
    "--keep",
    is_flag=True,
    help="After the summary, keep the demo's gateway running (dashboard on, a printed URL and "
    "master key to log in with) until Ctrl-C.",
)
def demo_cmd(
    n: int,
    seed: int,
    monthly_requests: int,
    concurrency: int,
    time_scale: float,
    baseline: str,
    db_path: str | None,
    keep: bool,
) -> None:
    """Route a simulated workload through faregate and show what it saves.

    No API key and no server needed: simulated providers (priced like real models) run on
    loopback, faregate serves them, and the official openai SDK sends the workload."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from .options import DemoOptions
    from .runner import run_demo

    logging.getLogger("faregate").setLevel(logging.ERROR)
    console = Console()
    opts = DemoOptions(
        requests=n,
        seed=seed,
        monthly_requests=monthly_requests,
        concurrency=concurrency,
        time_scale=time_scale,
        db_path=db_path,
        baseline=baseline,
        master_key=("fg-demo-master-" + secrets.token_hex(12)) if keep else None,
    )
    console.print(
        f"[bold]faregate demo[/]: {n} requests, seed {seed}, simulated providers "
        f"({', '.join(t.name for t in TIERS)}), latencies scaled x{time_scale:g}"
    )
    with Progress(
        TextColumn("{task.description:<34}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                label = "model: auto (routed)" if phase == "routed" else f"model: {STRONGEST} (baseline)"
                tasks[phase] = bar.add_task(label, total=total)
            bar.update(tasks[phase], completed=done)

        say = lambda s: console.print(f"[dim]· {s}[/]")  # noqa: E731
        hold = _keeper(console, opts.master_key or "", bar.stop) if keep else None
        try:
            result = asyncio.run(run_demo(opts, progress=progress, on_phase=say, hold=hold))
        except KeyboardInterrupt:  # --keep: asyncio.run cancelled the hold, everything stopped
            console.print("[dim]· demo gateway stopped[/]")
            return
    render(console, result)


def _keeper(console: Any, master_key: str, stop_bars: Any) -> Any:
    """``run_demo``'s hold for ``--keep``: the summary, the dashboard's URL and login, then wait."""

    async def hold(result: Any, url: str) -> None:
        stop_bars()
        render(console, result)
        console.print(f"\n[bold]dashboard[/]: {url}/dashboard  (log in with the master key below)")
        console.print(f"master key: {master_key}")
        console.print(f"API: {url}/v1  (gateway key {DEMO_KEY})")
        console.print("[dim]the gateway keeps running: Ctrl-C to stop it[/]", highlight=False)
        await asyncio.Event().wait()

    return hold


def _usd(x: float) -> str:
    if x == 0:
        return "$0"
    if x >= 100:
        return f"${x:,.0f}"
    if x >= 1:
        return f"${x:,.2f}"
    return f"${x:.4f}" if x >= 0.001 else f"${x:.6f}"


def render(console: Any, result: Any) -> None:
    """The demo's summary: the comparison, the savings, the model mix and how it was measured."""
    from .figures import figures

    r, b = figures(result.routed), figures(result.baseline)
    console.print(_comparison(r, b))
    _print_savings(console, result, r, b)
    _print_batch(console, result)
    console.print(_mix_table(result))
    _print_footnotes(console, result)


def _comparison(r: dict[str, float], b: dict[str, float]) -> Any:
    from rich.table import Table

    t = Table(title="faregate vs always the strongest model (same workload)", title_justify="left")
    t.add_column("")
    t.add_column("faregate (model: auto)", justify="right")
    t.add_column(f"always {STRONGEST}", justify="right")
    t.add_row("requests", str(r["requests"]), str(b["requests"]))
    if r["errors"] or b["errors"]:
        t.add_row("errors", str(r["errors"]), str(b["errors"]))
    t.add_row("spend", _usd(r["spend"]), _usd(b["spend"]))
    t.add_row("cost per request", _usd(r["per_request"]), _usd(b["per_request"]))
    t.add_row("quality met (share at or above its task's floor)", f"{r['quality_met']:.1%}", f"{b['quality_met']:.1%}")
    t.add_row("mean simulated quality", f"{r['mean_quality']:.3f}", f"{b['mean_quality']:.3f}")
    t.add_row("latency p50 (simulated ms)", f"{r['p50']:,.0f}", f"{b['p50']:,.0f}")
    t.add_row("latency p95 (simulated ms)", f"{r['p95']:,.0f}", f"{b['p95']:,.0f}")
    t.add_row("time to first token p50 (simulated ms)", f"{r['ttft_p50']:,.0f}", f"{b['ttft_p50']:,.0f}")
    t.add_row("latency ceiling met", f"{r['latency_met']:.1%}", f"{b['latency_met']:.1%}")
    t.add_row("marked constraint_unmet (no plan met both)", f"{r['constraint_unmet']:.1%}", "-")
    return t


def _print_savings(console: Any, result: Any, r: dict[str, float], b: dict[str, float]) -> None:
    from .figures import prediction_error

    o = result.options
    savings = 1 - r["per_request"] / b["per_request"] if b["per_request"] else 0.0
    monthly = (b["per_request"] - r["per_request"]) * o.monthly_requests
    console.print(
        f"[bold green]savings: {savings:.1%}[/] of spend; at {o.monthly_requests:,} requests a month: "
        f"[bold]{_usd(monthly)}[/] saved ({_usd(r['per_request'] * o.monthly_requests)} instead of "
        f"{_usd(b['per_request'] * o.monthly_requests)})"
    )
    half = len(result.routed) // 2
    e1, e2 = prediction_error(result.routed[:half]), prediction_error(result.routed[half:])
    if result.feedback_sent and e1 is not None and e2 is not None:
        console.print(
            f"learning from feedback: the router's quality predictions were off by {e1:.3f} on average "
            f"in the first half of the run, {e2:.3f} in the second"
        )


def _print_batch(console: Any, result: Any) -> None:
    """The batch tier's line: the share that could wait and what the batch discount saved."""
    from .batch_share import BATCH_DISCOUNT, DEADLINE, batch_figures

    f = batch_figures(result.routed)
    if not f["could_wait"]:
        return
    console.print(
        f"[bold]batch tier[/]: {f['could_wait']} of {len(result.routed)} requests ({f['share']:.1%}) could wait "
        f"(deadline {DEADLINE}); {f['batched']} planned onto the batch tier (202, then GET /v1/batches/{{id}}, "
        f"answered in {f['p50_s']:,.1f} simulated s at the median) and run by the providers' batch API: "
        f"billed {_usd(f['billed'])} instead of {_usd(f['at_list'])} at list price (x{1 - BATCH_DISCOUNT:g}), "
        f"[bold]{_usd(f['saved'])}[/] saved ({f['saved_of_spend']:.1%} of what the routed run would have cost "
        "without the batch tier)"
    )


def _mix_table(result: Any) -> Any:
    from rich.table import Table

    from .figures import model_mix

    mix = model_mix(result.routed)
    m = Table(title="model mix per task (faregate)", title_justify="left")
    m.add_column("task")
    m.add_column("share", justify="right")
    m.add_column("floor", justify="right")
    m.add_column("ceiling ms", justify="right")
    names = [tier.name for tier in TIERS]
    for name in names:
        m.add_column(name, justify="right", no_wrap=True, min_width=len(name))
    for task in MIX:
        row = mix.get(task, {})
        total = sum(row.values()) or 1
        m.add_row(
            task,
            f"{total / max(1, len(result.routed)):.0%}",
            f"{FLOORS[task]:.2f}",
            f"{CEILINGS_MS[task]:,.0f}",
            *[f"{row.get(n, 0) / total:.0%}" for n in names],
        )
    return m


def _print_footnotes(console: Any, result: Any) -> None:
    o = result.options
    scale = o.time_scale
    console.print(
        "[dim]Simulated: the tiers are priced at real list prices "
        + "; ".join(f"{tier.name} = {tier.priced_as}" for tier in TIERS)
        + " per 1M tokens in/out; "
        "their answers, quality and latency come from a seeded simulator (no real model is called).[/]"
    )
    console.print(
        f"[dim]Router: {result.router_kind}. Baseline: "
        + (
            "the same workload sent to the strongest model through faregate."
            if o.baseline == "send"
            else "the same prompts priced at the strongest tier's list prices, with its simulated quality and latency."
        )
        + f" Latencies ran x{scale:g} faster and are shown in simulated ms (measured / {scale:g}).[/]"
    )
    fb = f"{result.feedback_sent} feedback scores sent (POST /v1/feedback)" if result.feedback_sent else "none sent"
    if result.feedback_note:
        fb += f"; {result.feedback_note}"
    console.print(f"[dim]Feedback: {fb}. Request log: {result.db_path}. Wall time: {result.wall_s:.1f} s.[/]")
    for note in result.notes:
        console.print(f"[dim]Note: {note}[/]")
