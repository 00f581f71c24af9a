"""CLI commands: ``faregate train``, ``faregate eval``, ``faregate route`` (registered by
``faregate.cli`` as ``train_cmd``, ``eval_cmd``, ``route_cmd``)."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import click
import orjson

from ..core.command_error import CommandError
from .eval_checks import Outputs, check_folds, check_train_rows, check_train_test, check_writable, cv_option

DEFAULT_PREDICTOR = "knn"
DEFAULT_KNN = None  # kNN settings chosen by inner cross-validation on the training rows
DEFAULT_CV = 5


def _args(predictor: str) -> dict | None:
    """kNN: chosen by inner CV (None); the others: fixed settings (MF regularised for small data)."""
    return {"knn": DEFAULT_KNN, "residual": None, "logistic": {"l2": 1e-3}, "mf": {"rank": 8, "l2": 1e-2}}[predictor]


def _rows(path: str, models: str | None = None, what: str = "DATA") -> list:
    """Routing-outcomes rows of ``path`` (only ``models``' outcomes if given, comma-separated),
    or a one-line error naming the bad line and saying ``what`` must be (exit status 2)."""
    from .data import load_rows, restrict

    try:
        rows = load_rows(path)
    except ValueError as exc:
        raise CommandError(
            f"{str(exc)[:300]}. {what} must be routing outcomes: JSONL, one object with id, messages and "
            "outcomes per line (see docs/routing.md)."
        ) from None
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}.") from None
    if not models:
        return rows
    try:
        return restrict(rows, [m.strip() for m in models.split(",") if m.strip()])
    except ValueError as exc:
        raise CommandError(f"--models: {exc}.") from None


def _embedder(name: str):
    from .embed import default_embedder

    return default_embedder(name)


@click.command("train")
@click.argument("data", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="router model file to write")
@click.option("--embedder", type=click.Choice(["hash", "minilm", "e5", "auto"]), default="hash", show_default=True)
@click.option("--no-cascades", is_flag=True, help="learn single models only")
@click.option("--scorer", is_flag=True, help="also learn cascades judged by a learned answer scorer")
@click.option(
    "--predictor",
    type=click.Choice(["knn", "residual", "logistic", "mf"]),
    default=DEFAULT_PREDICTOR,
    show_default=True,
)
def train_cmd(data: str, output: str, embedder: str, no_cascades: bool, scorer: bool, predictor: str) -> None:
    """Fit the router on routing-outcomes DATA (JSONL) and write it to a single file."""
    from .model import RouterModel

    check_writable(output, "--output")
    rows = _rows(data)
    check_train_rows(rows, data, "'DATA'")
    model = RouterModel.fit(
        rows,
        embedder=_embedder(embedder),
        predictor=predictor,
        predictor_args=_args(predictor),
        cascades=not no_cascades,
        scorer=scorer,
    )
    model.save(output)
    click.echo(
        f"trained on {len(rows)} rows, {len(model.models)} models, {len(model.arms)} plans "
        f"({model.embedder.name}); wrote {output}"
    )


@click.command("eval")
@click.argument("data", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--train", "train_path", type=click.Path(exists=True, dir_okay=False))
@click.option("--test", "test_path", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--cv",
    type=int,
    default=None,
    callback=cv_option,
    help=f"k-fold cross-validation on DATA (or each --all file): K from 2 up to the rows [default: {DEFAULT_CV}]",
)
@click.option("--decisions", type=click.Path(dir_okay=False), help="write every decision (JSONL)")
@click.option("--plot", type=click.Path(dir_okay=False), help="PNG of the cost-quality curve")
@click.option("--embedder", type=click.Choice(["hash", "minilm", "e5", "auto"]), default="hash", show_default=True)
@click.option("--no-cascades", is_flag=True, help="single models only")
@click.option("--scorer", is_flag=True, help="also cascades judged by a learned answer scorer (slower)")
@click.option(
    "--predictor",
    type=click.Choice(["knn", "residual", "logistic", "mf"]),
    default=DEFAULT_PREDICTOR,
    show_default=True,
)
@click.option("--models", default=None, help="comma-separated models: evaluate on this subset of the data's models")
@click.option(
    "--all",
    "all_dir",
    type=click.Path(exists=True, file_okay=False),
    help="every *.jsonl in this folder (with --cv); output files get each data file's stem",
)
@click.option("--reliability", type=click.Path(dir_okay=False), help="PNG reliability diagram of p_meet")
def eval_cmd(
    data,
    train_path,
    test_path,
    cv,
    decisions,
    plot,
    embedder,
    no_cascades,
    scorer,
    predictor,
    models,
    reliability,
    all_dir,
) -> None:
    """Sweep the router's cost/quality knob on held-out rows and print the metrics."""
    from rich.console import Console

    from .evaluate import cross_validate, summarise, train_test

    console = Console(stderr=False)
    outputs = Outputs(decisions, plot, reliability)
    kw = {
        "predictor": predictor,
        "predictor_args": _args(predictor),
        "cascades": not no_cascades,
        "scorer": scorer,
    }
    k = DEFAULT_CV if cv is None else cv
    if all_dir:
        if data or train_path or test_path or models:
            raise click.UsageError("--all DIR evaluates every file of DIR: give no DATA, --train/--test or --models")
        return _eval_all(console, all_dir, (k, cv is not None), {**kw, "embedder": embedder}, outputs)
    if bool(train_path) != bool(test_path):
        raise click.UsageError("--train A.jsonl and --test B.jsonl go together")
    if train_path and (data or cv is not None):
        raise click.UsageError("give either DATA --cv K, or --train A --test B (B is the held-out set: no --cv)")
    if not (train_path or data):
        raise click.UsageError("give DATA --cv K, or --train A.jsonl --test B.jsonl")
    outputs.check()
    if train_path:
        train, test = _rows(train_path, models), _rows(test_path, models)
        check_train_test(train, test, train_path)
        run, scored, steps = partial(train_test, train, test), test, 1
    else:
        rows = _rows(data, models)
        check_folds(k, len(rows), data, given=cv is not None)
        run, scored, steps = partial(cross_validate, rows, k), rows, k
    sweep = _with_progress(console, run, steps, {**kw, "embedder": _embedder(embedder)})
    s = summarise(sweep, scored)
    _print_summary(console, s)
    _write_outputs(console, outputs, s, sweep)


def _with_progress(console, run, steps: int, kw: dict):
    """``run(progress=..., **kw)`` under a transient progress bar of ``steps`` fits."""
    from rich.progress import Progress

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("embedding, fitting and sweeping", total=steps)
        return run(progress=partial(progress.advance, task), **kw)


def _write_outputs(console, outputs: Outputs, s: dict, sweep) -> None:
    """The files asked for besides the tables."""
    if outputs.decisions:
        _write_decisions(console, sweep, outputs.decisions)
    if outputs.plot:
        _plot(console, s, outputs.plot)
    if outputs.reliability:
        _plot_reliability(console, s, outputs.reliability)


def _write_decisions(console, sweep, path: str) -> None:
    from .evaluate import iter_decisions

    n = 0
    with open(path, "wb") as f:
        for d in iter_decisions(sweep):
            f.write(orjson.dumps(d) + b"\n")
            n += 1
    console.print(f"wrote {n} decisions to {path}")


def _eval_all(console, all_dir: str, folds: tuple[int, bool], kw: dict, outputs: Outputs) -> None:
    """Every file's options and data checked first (a mistake fails in seconds, not after the
    first files' minutes), then each file evaluated and its output files written. ``folds``:
    (K, whether --cv gave it); ``kw["embedder"]``: the embedder's name, loaded after the checks."""
    from .eval_all import evaluate_file, print_all

    files = sorted(Path(all_dir).glob("*.jsonl"))
    if not files:
        raise click.UsageError(f"no *.jsonl routing-outcomes files in {all_dir}")
    per_file = [outputs.for_data(p) for p in files]
    for out in per_file:
        out.check()
    data = [_rows(str(p), what=f"Every *.jsonl in {all_dir}") for p in files]  # read once, used twice
    for p, rows in zip(files, data):
        check_folds(folds[0], len(rows), p.name, folds[1])
    kw = {**kw, "embedder": _embedder(kw["embedder"])}
    results = []
    for p, rows, out in zip(files, data, per_file):
        s, sweep = evaluate_file(p, folds[0], rows, **kw)
        _write_outputs(console, out, s, sweep)
        results.append(s)
    print_all(console, results)


def _fmt(x, pct=False):
    if x is None:
        return "not reached"
    return f"{x:.1f}%" if pct else f"{x:.4f}"


def _print_summary(console, s: dict) -> None:
    from rich.table import Table

    t = Table(title="router on held-out rows (knob sweep)")
    t.add_column("metric")
    t.add_column("value", justify="right")
    t.add_row("AIQ", _fmt(s["aiq"]))
    t.add_row("zero router AIQ", _fmt(s["zero_router_aiq"]))
    t.add_row("oracle AIQ", _fmt(s["oracle_aiq"]))
    t.add_row("best plan per task, in-sample AIQ", _fmt(s["task_ceiling_aiq"]))
    t.add_row("max quality", _fmt(s["max_quality"]))
    if "ece" in s:
        t.add_row("p_meet expected calibration error", _fmt(s["ece"]))
    for judge, j in (s.get("judges") or {}).items():
        t.add_row(f"judge {judge!r} ECE (held-out, {j['n']} answers)", _fmt(j["ece"]))
    t.add_row(
        f"cost to match {s['best_single']} ({s['best_single_quality']:.3f})", _fmt(s["cost_to_match_pct"], pct=True)
    )
    t.add_row("cost to reach 99% of its quality", _fmt(s["cost_to_99pct_pct"], pct=True))
    t.add_row("quality at 35% of its cost", _fmt(s["quality_at_35pct"]))
    if "apgr" in s:
        t.add_row("APGR", _fmt(s["apgr"]))
        t.add_row("CPT(50%)", _fmt(None if s["cpt50"] is None else 100 * s["cpt50"], pct=True))
        t.add_row("CPT(80%)", _fmt(None if s["cpt80"] is None else 100 * s["cpt80"], pct=True))
    console.print(t)
    b = Table(title="baselines (mean per query)")
    b.add_column("baseline")
    b.add_column("cost USD", justify="right")
    b.add_column("quality", justify="right")
    for m, (c, q) in sorted(s["baselines"]["singles"].items(), key=lambda kv: kv[1][0]):
        b.add_row(m, f"{c:.3e}", f"{q:.3f}")
    for name in ("oracle", "random"):
        c, q = s["baselines"][name]
        b.add_row(f"[bold]{name}[/]", f"{c:.3e}", f"{q:.3f}")
    console.print(b)


def _plot(console, s: dict, path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        console.print("matplotlib is not installed: no plot (pip install 'faregate\\[plot]')")
        return
    from .metrics import upper_hull

    fig, ax = plt.subplots(figsize=(7, 4.5))
    pts = s["points"]
    ax.scatter([c for c, _ in pts], [q for _, q in pts], s=8, color="tab:blue", alpha=0.5, label="router points")
    import numpy as np

    from .metrics import hull_value

    singles = s["baselines"]["singles"]
    xs = np.geomspace(min(c for c, _ in singles.values()), max(c for c, _ in singles.values()), 200)
    h = upper_hull(pts)  # straight in linear cost, so sampled densely for the log axis
    ax.plot(xs, [hull_value(h, x) for x in xs], color="tab:blue", label=f"router hull (AIQ {s['aiq']:.3f})")
    sh = upper_hull(singles.values())
    ax.plot(
        xs, [hull_value(sh, x) for x in xs], "--", color="gray", label=f"zero router (AIQ {s['zero_router_aiq']:.3f})"
    )
    for m, (c, q) in singles.items():
        ax.scatter([c], [q], color="gray", s=15)
        ax.annotate(m.split("/")[-1], (c, q), fontsize=6)
    for name, mark in (("oracle", "*"), ("random", "x")):
        c, q = s["baselines"][name]
        ax.scatter([c], [q], marker=mark, s=60, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("mean cost per query (USD)")
    ax.set_ylabel("mean quality")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    console.print(f"wrote {path}")


def _plot_reliability(console, s: dict, path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        console.print("matplotlib is not installed: no plot (pip install 'faregate\\[plot]')")
        return
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    rel = s.get("reliability") or []
    ax.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
    ax.plot([p for p, _, _ in rel], [o for _, o, _ in rel], "o-", label=f"p_meet (ECE {s.get('ece', 0):.3f})")
    for judge, j in (s.get("judges") or {}).items():  # each cascade judge's P(answer right)
        r = j["reliability"]
        ax.plot([p for p, _, _ in r], [o for _, o, _ in r], "s--", ms=3, label=f"judge {judge} (ECE {j['ece']:.3f})")
    ax.set_xlabel("predicted P(quality >= floor) / judge's P(answer right)")
    ax.set_ylabel("observed rate (mean quality) on held-out rows")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    console.print(f"wrote {path}")


@click.command("route")
@click.argument("prompt")
@click.option("--min-quality", type=click.FloatRange(0, 1), default=0.8, show_default=True)
@click.option("--max-latency-ms", type=click.FloatRange(min=0, min_open=True), default=None)
@click.option("--max-cost-usd", type=click.FloatRange(min=0, min_open=True), default=None)
@click.option("--task", default=None, help="the task, if known (else inferred)")
@click.option(
    "--model-file",
    envvar="FAREGATE_ROUTER_MODEL",
    type=click.Path(dir_okay=False),
    default=None,
    help="router file from `faregate train` (default: $FAREGATE_ROUTER_MODEL)",
)
@click.option(
    "--latency-ms", "latency", default=1000.0, show_default=True, help="p95 latency to assume for every model (offline)"
)
def route_cmd(prompt, min_quality, max_latency_ms, max_cost_usd, task, model_file, latency) -> None:
    """Print the plan for PROMPT and every candidate's predictions (JSON); calls no model."""
    from .features import extract
    from .model import RouterModel
    from .policy import choose

    path = model_file
    if not path:
        raise click.UsageError(
            "no router model: pass --model-file or set FAREGATE_ROUTER_MODEL "
            "(make one with `faregate train DATA.jsonl -o router.model`)"
        )
    if not Path(path).is_file():
        raise click.UsageError(f"router model file not found: {path}")
    model = RouterModel.load(path)
    feats = extract([{"role": "user", "content": prompt}], task=task)
    cands = model.candidates(feats, latency_ms=dict.fromkeys(model.models, latency))
    plan = choose(cands, min_quality=min_quality, max_latency_ms=max_latency_ms, max_cost_usd=max_cost_usd)
    out = {"task": feats.task, "input_tokens": feats.input_tokens, "plan": plan.as_dict()}
    sys.stdout.write(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n")
