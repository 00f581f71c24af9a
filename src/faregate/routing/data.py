"""Routing-outcomes data: one JSON object per line, recorded outcomes of real models on prompts.

Row format (see the README beside the shared data)::

    {"id": "...", "task": "...", "messages": [{"role": "user", "content": "..."}],
     "outcomes": {"<model>": {"quality": 1.0, "cost_usd": 0.00497, "response": "B"}, ...}}

``load_rows`` reads a file; ``OutcomeTable`` turns rows into dense arrays (rows x models) for
training and offline scoring.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson


@dataclass(frozen=True)
class Row:
    id: str
    task: str | None
    messages: list[dict]
    outcomes: dict[str, dict]


def parse_row(obj: dict, where: str = "") -> Row:
    try:
        outcomes = obj["outcomes"]
        for _m, o in outcomes.items():
            float(o["quality"]), float(o["cost_usd"])
        return Row(str(obj["id"]), obj.get("task"), list(obj["messages"]), outcomes)
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{where}: not a routing-outcomes row ({e!r})") from None


def load_rows(path: str | Path) -> list[Row]:
    """Read a routing-outcomes JSONL file. Blank lines are skipped; a bad line raises
    ``ValueError`` naming the file and line."""
    rows = []
    with open(path, "rb") as f:
        for i, line in enumerate(f, 1):
            if line.strip():
                try:
                    obj = orjson.loads(line)
                except orjson.JSONDecodeError as e:
                    raise ValueError(f"{path}:{i}: invalid JSON ({e})") from None
                rows.append(parse_row(obj, f"{path}:{i}"))
    if not rows:
        raise ValueError(f"{path}: no rows")
    return rows


def models_of(rows: Iterable[Row]) -> list[str]:
    """Models present in every row, sorted (the README promises every row has them all)."""
    common: set[str] | None = None
    for r in rows:
        common = set(r.outcomes) if common is None else common & set(r.outcomes)
    return sorted(common or ())


@dataclass
class OutcomeTable:
    """Dense outcomes: ``quality[i, j]`` and ``cost[i, j]`` of model ``models[j]`` on row i;
    ``responses[i][j]`` the recorded answer text or None."""

    models: list[str]
    quality: np.ndarray
    cost: np.ndarray
    responses: list[list[str | None]]
    _normalised: list[list[str | None]] | None = field(default=None, repr=False, compare=False)  # cascade's cache

    @classmethod
    def from_rows(cls, rows: list[Row], models: list[str] | None = None) -> OutcomeTable:
        models = models or models_of(rows)
        q = np.array([[float(r.outcomes[m]["quality"]) for m in models] for r in rows], dtype=np.float64)
        c = np.array([[float(r.outcomes[m]["cost_usd"]) for m in models] for r in rows], dtype=np.float64)
        resp = [[_text(r.outcomes[m].get("response")) for m in models] for r in rows]
        return cls(models, q, c, resp)

    @property
    def has_responses(self) -> bool:
        return any(x is not None for row in self.responses for x in row)


def _text(x) -> str | None:
    if x is None:
        return None
    return x if isinstance(x, str) else str(x)


def kfold(rows: list[Row], k: int, seed: int = 0) -> list[tuple[list[int], list[int]]]:
    """Reproducible k folds by a hash of each row id (independent of file order)."""
    order = sorted(range(len(rows)), key=lambda i: zlib.crc32(f"{seed}:{rows[i].id}".encode()))
    folds = [order[f::k] for f in range(k)]
    return [(sorted(i for g, fold in enumerate(folds) if g != f for i in fold), sorted(folds[f])) for f in range(k)]


def restrict(rows: Iterable[Row], models: Iterable[str]) -> list[Row]:
    """The rows with only ``models``' outcomes (e.g. a strong/weak pair out of many); rows
    missing one of them are left out. ``ValueError`` names a model no row has."""
    want = list(dict.fromkeys(models))
    rows = list(rows)
    seen = {m for r in rows for m in r.outcomes}
    missing = [m for m in want if m not in seen]
    if missing:
        raise ValueError(f"no outcomes for {', '.join(missing)}; the data has {', '.join(sorted(seen))}")
    out = [
        Row(r.id, r.task, r.messages, {m: r.outcomes[m] for m in want})
        for r in rows
        if all(m in r.outcomes for m in want)
    ]
    if not out:
        raise ValueError(f"no row has outcomes for all of {', '.join(want)}")
    return out
