"""The figures of a demo run's summary: spend, quality, latency percentiles, model mix."""

from __future__ import annotations

from .simulator import CEILINGS_MS
from .workload import Outcome


def percentile(xs: list[float], pct: float) -> float:
    """Linear-interpolated percentile (0 for no values)."""
    if not xs:
        return 0.0
    s = sorted(xs)
    k = (len(s) - 1) * pct / 100.0
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def figures(outs: list[Outcome]) -> dict[str, float]:
    """Spend, quality and latency figures of one run's outcomes."""
    ok = [o for o in outs if o.error is None]
    spend = sum(o.cost_usd for o in ok)
    now = [o for o in ok if o.tier == "sync"]  # a batch's turnaround is no request latency
    lat = [o.latency_ms for o in now]
    ttft = [o.ttft_ms for o in now if o.ttft_ms is not None]
    return {
        "requests": len(outs),
        "ok": len(ok),
        "errors": len(outs) - len(ok),
        "spend": spend,
        "per_request": spend / len(ok) if ok else 0.0,
        "quality_met": sum(o.met for o in ok) / len(ok) if ok else 0.0,
        "mean_quality": sum(o.quality or 0 for o in ok) / len(ok) if ok else 0.0,
        "p50": percentile(lat, 50),
        "p95": percentile(lat, 95),
        "ttft_p50": percentile(ttft, 50),
        "constraint_unmet": sum(o.constraint_unmet for o in ok) / len(ok) if ok else 0.0,
        "latency_met": sum(o.latency_ms <= CEILINGS_MS[o.prompt.task] for o in now) / len(now) if now else 0.0,
    }


def prediction_error(outs: list[Outcome]) -> float | None:
    """Mean |predicted - simulated| quality of the model that answered (routed requests)."""
    e = [
        abs(o.predicted_quality - o.quality) for o in outs if o.predicted_quality is not None and o.quality is not None
    ]
    return sum(e) / len(e) if e else None


def model_mix(outs: list[Outcome]) -> dict[str, dict[str, int]]:
    """Task -> answering model -> count."""
    mix: dict[str, dict[str, int]] = {}
    for o in outs:
        mix.setdefault(o.prompt.task, {})
        key = o.model or "error"
        mix[o.prompt.task][key] = mix[o.prompt.task].get(key, 0) + 1
    return mix
