"""Refit latency priors and per-task quality from logged outcomes (``faregate calibrate --from-log``).

Latency: per model, time to first token (median and p95) and output speed (output tokens over
the time after the first token). Quality: per (model, task), the mean of explicit feedback
scores and implicit outcomes (an error counts 0), shrunk toward the model's prior by
``prior_weight`` pseudo-observations so a handful of scores cannot swing it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class ModelCalibration:
    requests: int = 0
    ttft_ms_p50: float | None = None
    ttft_ms_p95: float | None = None
    tokens_per_s: float | None = None
    quality_by_task: dict[str, tuple[float, int]] = field(default_factory=dict)  # task -> (quality, n)

    def as_dict(self) -> dict:
        return {
            "requests": self.requests,
            "ttft_ms_p50": self.ttft_ms_p50,
            "ttft_ms_p95": self.ttft_ms_p95,
            "tokens_per_s": self.tokens_per_s,
            "quality_by_task": {t: {"quality": round(q, 4), "n": n} for t, (q, n) in self.quality_by_task.items()},
        }


def _get(rec: dict, *names):
    for n in names:
        if rec.get(n) is not None:
            return rec[n]
    return None


def calibrate(
    records: Iterable[dict], *, priors: dict[str, float] | None = None, prior_weight: float = 5.0, min_samples: int = 5
) -> dict[str, ModelCalibration]:
    """One pass over request-log records (as ``faregate logs export`` writes them)."""
    priors = priors or {}
    ttft: dict[str, list[float]] = defaultdict(list)
    speed: dict[str, list[float]] = defaultdict(list)
    scores: dict[tuple[str, str], list[float]] = defaultdict(list)
    count: dict[str, int] = defaultdict(int)
    for rec in records:
        model = _get(rec, "answered_model", "model", "requested_model")
        if not model:
            continue
        count[model] += 1
        status = _get(rec, "status") or 200
        t = _get(rec, "ttft_ms")
        total = _get(rec, "latency_ms", "total_latency_ms")
        out = _get(rec, "output_tokens")
        if status < 400 and t is not None:
            ttft[model].append(float(t))
            if total is not None and out and float(total) > float(t):
                speed[model].append(1000.0 * float(out) / (float(total) - float(t)))
        task = _get(rec, "task") or "other"
        score = _get(rec, "feedback_score", "score")
        if score is not None:
            scores[(model, task)].append(float(score))
        elif status >= 500:
            scores[(model, task)].append(0.0)
    out_cal: dict[str, ModelCalibration] = {}
    for model, n in count.items():
        c = ModelCalibration(requests=n)
        if len(ttft[model]) >= min_samples:
            c.ttft_ms_p50 = float(np.percentile(ttft[model], 50))
            c.ttft_ms_p95 = float(np.percentile(ttft[model], 95))
        if len(speed[model]) >= min_samples:
            c.tokens_per_s = float(np.median(speed[model]))
        out_cal[model] = c
    for (model, task), vals in scores.items():
        prior = priors.get(model, 0.8)
        q = (sum(vals) + prior_weight * prior) / (len(vals) + prior_weight)
        out_cal.setdefault(model, ModelCalibration()).quality_by_task[task] = (q, len(vals))
    return out_cal
