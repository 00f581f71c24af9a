"""Cascades: call a cheap model, judge its answer, escalate if the judge rejects it.

A cascade is an ``Arm`` with several models in call order and a judge:

- ``"agree"``: call the first two models; each later model is called only while no two answers
  so far agree (after normalisation); the answer returned is the last model's. With three
  models ``[a, b, strong]``: if a and b agree, b's answer is returned, else strong's.
- ``"json"``: accept the answer if it parses as JSON (and matches the requested schema's
  required keys and types), else call the next model.
- ``"scorer@T"``: accept if a learned scorer of (prompt, answer) gives P(correct) >= T
  (``faregate.routing.scorer``), else call the next model.

``simulate`` scores an arm offline on recorded responses (the README's rule: cost is the sum
over every model called, quality that of the last one), and ``run_agreement`` is the same
decision for live answers. Extension point: a judge is ``(prompt, answers_so_far) -> bool``.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import numpy as np
import orjson

from .data import OutcomeTable

_CHOICE = re.compile(r"^\W*(?:answer\s*(?:is)?\s*:?\s*)?\(?([a-e])(?:[\).:,\s]|$)", re.I)
_SPACE = re.compile(r"\s+")


def normalise_answer(text: str | None) -> str | None:
    """A comparable form of an answer: the option letter for multiple-choice style answers
    ("B", "(b) ...", "Answer: B"), else the lower-cased text with whitespace collapsed."""
    if text is None:
        return None
    t = text.strip()
    m = _CHOICE.match(t)
    if m:
        return m.group(1).upper()
    t = _SPACE.sub(" ", t.lower())
    return t[:400] if t else None


def answers_agree(a: str | None, b: str | None) -> bool:
    na, nb = normalise_answer(a), normalise_answer(b)
    return na is not None and na == nb


def run_agreement(answers: list[str | None]) -> bool:
    """True when the latest answer agrees with any earlier one (the cascade stops there)."""
    last = normalise_answer(answers[-1])
    return last is not None and any(normalise_answer(a) == last for a in answers[:-1])


def json_valid(answer: str | None, schema: dict | None = None) -> bool:
    """The answer parses as JSON; if a JSON schema is given, its top-level ``type`` and
    ``required`` keys hold (a deliberate subset of JSON Schema, enough to reject bad output)."""
    if answer is None:
        return False
    t = answer.strip()
    if t.startswith("```"):
        t = t.strip("`")
        t = t[t.find("\n") + 1 :] if "\n" in t else t
    try:
        value = orjson.loads(t)
    except orjson.JSONDecodeError:
        return False
    if not schema:
        return True
    schema = schema.get("schema", schema) if "json_schema" not in schema else schema["json_schema"].get("schema", {})
    want = schema.get("type")
    types: dict[str, type | tuple[type, ...]] = {
        "object": dict,
        "array": list,
        "string": str,
        "number": (int, float),
        "integer": int,
        "boolean": bool,
    }
    if want in types and not isinstance(value, types[want]):
        return False
    if isinstance(value, dict):
        return all(k in value for k in schema.get("required", []))
    return True


@dataclass(frozen=True)
class Arm:
    """One plan template: a single model or a cascade of models in call order."""

    models: tuple[str, ...]
    judge: str | None = None

    @property
    def kind(self) -> str:
        return "single" if len(self.models) == 1 else "cascade"

    @property
    def always(self) -> int:
        """How many leading models are always called (two for agreement, else one)."""
        return 2 if self.judge == "agree" else 1

    @property
    def key(self) -> str:
        return self.models[0] if self.judge is None else f"{self.judge}:{'>'.join(self.models)}"

    @classmethod
    def from_key(cls, key: str) -> Arm:
        if ":" in key and key.split(":", 1)[0].split("@")[0] in ("agree", "json", "scorer"):
            judge, rest = key.split(":", 1)
            return cls(tuple(rest.split(">")), judge)
        return cls((key,))


def simulate(
    arm: Arm, table: OutcomeTable, scores: dict[str, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offline outcome of ``arm`` on every row: (quality, cost, reached) where ``reached[i, s]``
    is 1 if stage s was called on row i. ``scores[model][i]``: a learned scorer's P(correct)
    of that model's recorded answer on row i (needed for ``scorer@T`` judges only)."""
    idx = [table.models.index(m) for m in arm.models]
    n = len(table.quality)
    if arm.judge is None:
        j = idx[0]
        return table.quality[:, j].copy(), table.cost[:, j].copy(), np.ones((n, 1))
    if arm.judge.startswith("scorer@"):
        if scores is None:
            raise ValueError(f"simulating {arm.key} needs the scorer's scores")
        thr = float(arm.judge.split("@", 1)[1])
        q, c, reached = np.zeros(n), np.zeros(n), np.zeros((n, len(idx)))
        open_ = np.ones(n, bool)
        for s, (m, j) in enumerate(zip(arm.models, idx)):
            reached[open_, s] = 1
            c[open_] += table.cost[open_, j]
            stop = open_ & ((scores[m] >= thr) if s < len(idx) - 1 else True)
            q[stop] = table.quality[stop, j]
            open_ &= ~stop
        return q, c, reached
    if arm.judge != "agree":
        raise ValueError(f"offline simulation supports the agreement judge, not {arm.judge!r}")
    allnorm = _normalised(table)
    norm = [[allnorm[i][j] for j in idx] for i in range(n)]
    q, c, reached = np.zeros(n), np.zeros(n), np.zeros((n, len(idx)))
    for i in range(n):
        seen: set[str] = set()
        for s, j in enumerate(idx):
            reached[i, s] = 1
            c[i] += table.cost[i, j]
            a = norm[i][s]
            done = s == len(idx) - 1 or (s >= 1 and a is not None and a in seen)
            if a is not None:
                seen.add(a)
            if done:
                q[i] = table.quality[i, j]
                break
    return q, c, reached


def _normalised(table: OutcomeTable) -> list[list[str | None]]:
    cached = table._normalised
    if cached is None:
        cached = [[normalise_answer(x) for x in row] for row in table.responses]
        table._normalised = cached
    return cached


def candidate_arms(
    table: OutcomeTable,
    *,
    cheap_share: float = 0.2,
    strong: int = 2,
    max_cheap: int = 8,
    scorer_thresholds: tuple[float, ...] = (),
) -> list[Arm]:
    """Every single model, plus agreement cascades ``[a, b, s]`` and ``[a, b, c, s]`` over the
    cheap models (mean cost <= ``cheap_share`` of the dearest) escalating to the ``strong``
    best models by mean quality. A strong/weak pair gets the scorer cascades ``[weak, strong]``
    (the weak model answers, the learned scorer decides). Only when the data records responses."""
    arms = [Arm((m,)) for m in table.models]
    if not table.has_responses or len(table.models) < 2:
        return arms
    if len(table.models) == 2:
        lo, hi = (table.models[j] for j in np.argsort(np.nanmean(table.quality, 0), kind="stable"))
        return arms + [Arm((lo, hi), f"scorer@{t:g}") for t in scorer_thresholds]
    mean_c, mean_q = table.cost.mean(0), table.quality.mean(0)
    order = np.argsort(mean_c)
    cheap = [table.models[j] for j in order if mean_c[j] <= cheap_share * mean_c.max()][:max_cheap]
    tops = [table.models[j] for j in np.argsort(-mean_q)[:strong]]
    for s in tops:
        pool = [m for m in cheap if m != s]
        for a, b in itertools.combinations(pool, 2):
            arms.append(Arm((a, b, s), "agree"))
        for a, b, c in itertools.combinations(pool, 3):
            arms.append(Arm((a, b, c, s), "agree"))
        for a in pool:
            for t in scorer_thresholds:
                arms.append(Arm((a, s), f"scorer@{t:g}"))
    return arms


def cheap_models(arms: list[Arm]) -> list[str]:
    """Models whose answers a scorer judge must score (every stage but the last)."""
    return sorted({m for a in arms if a.judge and a.judge.startswith("scorer@") for m in a.models[:-1]})


def prune_arms(
    arms: list[Arm], quality: np.ndarray, cost: np.ndarray, groups: np.ndarray, tol: float = 0.003
) -> list[int]:
    """Indices of arms worth keeping: Pareto-optimal (within ``tol`` quality) in mean
    (cost, quality) overall or within some group (task). Singles are always kept."""
    keep = {i for i, a in enumerate(arms) if a.judge is None}
    for g in [None, *np.unique(groups)]:
        rows = np.ones(len(groups), bool) if g is None else groups == g
        mq, mc = quality[rows].mean(0), cost[rows].mean(0)
        for i in range(len(arms)):
            dominated = np.any((mc < mc[i]) & (mq > mq[i] + tol))
            if not dominated:
                keep.add(i)
    return sorted(keep)
