"""``faregate eval``'s and ``train``'s checks of their options, made before any fitting (which
takes minutes on the large data sets): each failure is a ``click`` usage error (exit status 2)
that says what to fix. The router's modules are imported when a check needs them, so
``faregate --help`` stays quick."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import click


def cv_option(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    """``--cv``: at least 2 folds here; at most the rows, once they are read (``check_folds``)."""
    if value is not None and value < 2:
        raise click.BadParameter(f"{value}: the number of folds must be an integer from 2 up to the number of rows")
    return value


def check_folds(k: int, n: int, where: str, given: bool) -> None:
    """Refuse ``k`` folds that ``n`` rows cannot fill: every fold holds out a row and trains on
    at least ``MIN_TRAIN_ROWS`` (``data.kfold``'s largest fold has ceil(n / k) rows)."""
    from .model import MIN_TRAIN_ROWS

    folds = f"{k} folds" if given else f"{k} folds (the default)"
    if n <= MIN_TRAIN_ROWS:
        fix = f"cross-validation needs at least {MIN_TRAIN_ROWS + 1} rows (a training fold needs {MIN_TRAIN_ROWS})"
    elif k > n:
        fix = f"the number of folds must be from 2 up to the number of rows ({n})"
    elif n - -(-n // k) < MIN_TRAIN_ROWS:
        fix = f"a training fold would have {n - -(-n // k)} row; the router needs {MIN_TRAIN_ROWS}: use --cv {n}"
    else:
        return
    raise click.BadParameter(f"{folds} for the {n} rows of {where}: {fix}", param_hint="'--cv'")


def check_train_rows(rows: list, path: str, hint: str) -> None:
    """Refuse training data the router cannot fit (fewer than ``MIN_TRAIN_ROWS`` rows)."""
    from .model import MIN_TRAIN_ROWS

    if len(rows) < MIN_TRAIN_ROWS:
        raise click.BadParameter(
            f"{path} has {len(rows)} row(s); the router needs at least {MIN_TRAIN_ROWS}", param_hint=hint
        )


def check_train_test(train: list, test: list, train_path: str) -> None:
    """The router is trained on --train's models and scored against --test's single models, so
    both files must have the same models (``--models`` picks the ones they share)."""
    from .data import models_of

    check_train_rows(train, train_path, "'--train'")
    a, b = set(models_of(train)), set(models_of(test))
    if a == b:
        return
    lacks = [f"{flag} lacks {', '.join(sorted(ms))}" for flag, ms in (("--test", a - b), ("--train", b - a)) if ms]
    both = sorted(a & b)
    fix = (
        f"pass --models {','.join(both)} to evaluate on the {len(both)} models both have"
        if len(both) >= 2
        else "they share fewer than two models, so there is nothing to route between"
    )
    raise click.UsageError(f"--train and --test must have the same models ({'; '.join(lacks)}): {fix}")


@dataclass(frozen=True)
class Outputs:
    """The files ``faregate eval`` writes besides its tables (None: not asked for)."""

    decisions: str | None = None
    plot: str | None = None
    reliability: str | None = None

    def _items(self) -> list[tuple[str, str]]:
        named = (("--decisions", self.decisions), ("--plot", self.plot), ("--reliability", self.reliability))
        return [(flag, path) for flag, path in named if path]

    def check(self) -> None:
        """Refuse a path that cannot be written now, not after minutes of evaluation."""
        for flag, path in self._items():
            check_writable(path, flag)

    def for_data(self, data: Path) -> Outputs:
        """``--all``: one file per data file, its stem inserted (out.jsonl -> out.arena.jsonl)."""

        def one(path: str | None) -> str | None:
            if path is None:
                return None
            p = Path(path)
            return str(p.with_name(f"{p.stem}.{data.stem}{p.suffix}"))

        return Outputs(one(self.decisions), one(self.plot), one(self.reliability))


def check_writable(path: str, flag: str) -> None:
    """A clear error (exit 2) unless ``path`` can be created or overwritten as a file."""
    p = Path(path)
    hint = f"'{flag}'"
    if p.is_dir():
        raise click.BadParameter(f"{path} is a directory: give a file name", param_hint=hint)
    parent = p.parent
    if not parent.is_dir():
        raise click.BadParameter(
            f"cannot write {path}: {parent} is not an existing directory (create it or choose another path)",
            param_hint=hint,
        )
    if not os.access(p if p.exists() else parent, os.W_OK):
        raise click.BadParameter(f"cannot write {path}: permission denied", param_hint=hint)
