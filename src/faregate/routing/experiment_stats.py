"""Comparing experiment arms (pure): per-arm figures, differences with 95% confidence
intervals (Welch for means, Newcombe's hybrid score interval for rates) and a plain verdict.

A verdict reads several metrics at once, so a difference is called significant only after
Holm's step-down correction over the metrics compared (family-wise error <= 5%): an A/A
experiment then shows no significant difference at all in >= 95% of runs, not 5% per metric.
Each interval stays the metric's own 95% interval; ``p_value`` and ``p_holm`` are given too.

Input rows are request-log rows (``cost_usd``, ``latency_ms``, ``status``, ``constraint_unmet``)
with the feedback ``score`` or ``None``; ``faregate compare`` builds the same rows offline.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from statistics import NormalDist, fmean, variance
from typing import Any

Z95 = NormalDist().inv_cdf(0.975)


def t_quantile(df: float) -> float:
    """The 97.5% quantile of Student's t (Cornish-Fisher expansion; exact to ~1e-3 for df >= 3)."""
    z = Z95
    if not math.isfinite(df) or df > 1e6:
        return z
    df = max(df, 1.0)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    return z + g1 / df + g2 / df**2 + g3 / df**3


def welch(a: list[float], b: list[float]) -> tuple[float, float, float] | None:
    """mean(b) - mean(a) and its 95% Welch interval; ``None`` with fewer than two values a side."""
    if len(a) < 2 or len(b) < 2:
        return None
    va, vb = variance(a) / len(a), variance(b) / len(b)
    diff = fmean(b) - fmean(a)
    se2 = va + vb
    if se2 == 0:
        return diff, diff, diff
    df = se2**2 / ((va**2 / (len(a) - 1)) + (vb**2 / (len(b) - 1)))
    half = t_quantile(df) * math.sqrt(se2)
    return diff, diff - half, diff + half


def t_two_sided_p(t: float, df: float) -> float:
    """Two-sided p of Student's t (normalising approximation, A&S 26.7.8; ~1e-3 for df >= 5)."""
    if not math.isfinite(t):
        return 0.0
    df = max(df, 1.0)
    z = abs(t) * (1 - 1 / (4 * df)) / math.sqrt(1 + t * t / (2 * df))
    return 2 * (1 - NormalDist().cdf(z))


def welch_p(a: list[float], b: list[float]) -> float | None:
    """The two-sided p-value of Welch's t-test of equal means."""
    if len(a) < 2 or len(b) < 2:
        return None
    va, vb = variance(a) / len(a), variance(b) / len(b)
    diff, se2 = fmean(b) - fmean(a), va + vb
    if se2 == 0:
        return 1.0 if diff == 0 else 0.0
    df = se2**2 / ((va**2 / (len(a) - 1)) + (vb**2 / (len(b) - 1)))
    return t_two_sided_p(diff / math.sqrt(se2), df)


def two_proportion_p(x1: int, n1: int, x2: int, n2: int) -> float | None:
    """The two-sided p-value of the pooled two-proportion z-test."""
    if n1 == 0 or n2 == 0:
        return None
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    d = x2 / n2 - x1 / n1
    if se == 0:
        return 1.0 if d == 0 else 0.0
    return 2 * (1 - NormalDist().cdf(abs(d) / se))


def holm(p: Mapping[str, float]) -> dict[str, float]:
    """Holm-adjusted p-values (step-down: the k-th smallest times m-k+1, kept monotone)."""
    m, out, running = len(p), {}, 0.0
    for k, (name, value) in enumerate(sorted(p.items(), key=lambda kv: kv[1])):
        running = max(running, min(1.0, (m - k) * value))
        out[name] = running
    return out


def wilson(x: int, n: int) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion x/n."""
    if n == 0:
        return 0.0, 1.0
    p, z2 = x / n, Z95**2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return centre - half, centre + half


def newcombe(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float, float] | None:
    """p2 - p1 and its 95% Newcombe hybrid score interval; ``None`` if an arm has no requests."""
    if n1 == 0 or n2 == 0:
        return None
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1)
    l2, u2 = wilson(x2, n2)
    d = p2 - p1
    lo = d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    hi = d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return d, lo, hi


def percentile(values: list[float], q: float) -> float | None:
    """The q-quantile (0..1) by linear interpolation; ``None`` for no values."""
    if not values:
        return None
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def arm_summary(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """One arm's figures and the raw series the differences need (under ``_series``)."""
    cost, lat, score = [], [], []
    errors = unmet = 0
    for r in rows:
        cost.append(float(r.get("cost_usd") or 0.0))
        lat.append(float(r.get("latency_ms") or 0.0))
        errors += int((r.get("status") or 200) >= 400)
        unmet += int(bool(r.get("constraint_unmet")))
        if r.get("score") is not None:
            score.append(float(r["score"]))
    n = len(cost)
    return {
        "requests": n,
        "cost_per_request_usd": fmean(cost) if n else None,
        "quality": fmean(score) if score else None,
        "rated_requests": len(score),
        "latency_ms": {f"p{int(q * 100)}": percentile(lat, q) for q in (0.5, 0.9, 0.95, 0.99)},
        "error_rate": errors / n if n else None,
        "constraint_unmet_rate": unmet / n if n else None,
        "_series": {"cost": cost, "latency": lat, "quality": score, "errors": errors, "unmet": unmet},
    }


def differences(base: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """``other`` minus ``base`` per metric: its 95% interval, p-value, Holm-adjusted p-value and
    significance at a family-wise 5% over the metrics measured (``None``: not measured)."""
    a, b = base["_series"], other["_series"]
    na, nb = base["requests"], other["requests"]
    tests: dict[str, tuple[tuple[float, float, float] | None, float | None]] = {
        "cost_per_request_usd": (welch(a["cost"], b["cost"]), welch_p(a["cost"], b["cost"])),
        "quality": (welch(a["quality"], b["quality"]), welch_p(a["quality"], b["quality"])),
        "latency_ms_mean": (welch(a["latency"], b["latency"]), welch_p(a["latency"], b["latency"])),
        "error_rate": (newcombe(a["errors"], na, b["errors"], nb), two_proportion_p(a["errors"], na, b["errors"], nb)),
        "constraint_unmet_rate": (
            newcombe(a["unmet"], na, b["unmet"], nb),
            two_proportion_p(a["unmet"], na, b["unmet"], nb),
        ),
    }
    adjusted = holm({k: p for k, (ci, p) in tests.items() if ci is not None and p is not None})
    out: dict[str, Any] = {}
    for k, (ci, p) in tests.items():
        if ci is None or k not in adjusted:
            out[k] = None
            continue
        d, lo, hi = ci
        out[k] = {"diff": d, "ci95": [lo, hi], "p_value": p, "p_holm": adjusted[k], "significant": adjusted[k] < 0.05}
    return out


_WORDS = {
    "cost_per_request_usd": ("cheaper", "more expensive"),
    "quality": ("lower in quality", "higher in quality"),
    "latency_ms_mean": ("faster", "slower"),
    "error_rate": ("less error-prone", "more error-prone"),
}


def _phrase(metric: str, diff: dict[str, Any] | None, base_value: float | None) -> str:
    label = metric.split("_per")[0].replace("_ms_mean", "").replace("_", " ")
    if diff is None:
        return f"{label} not measured"
    if not diff["significant"]:
        return f"{label} difference not significant"
    d, (lo, hi) = diff["diff"], diff["ci95"]
    down, up = _WORDS[metric]
    if metric == "quality":
        word = up if d > 0 else down
    else:
        word = down if d < 0 else up
    if base_value:
        return f"{word} by {abs(d) / base_value:.0%} ± {(hi - lo) / 2 / base_value:.0%}"
    return f"{word} by {abs(d):.4g} ± {(hi - lo) / 2:.2g}"


def verdict(base_name: str, name: str, base: dict[str, Any], diffs: dict[str, Any]) -> str:
    """A plain sentence: "arm B is cheaper by 31% ± 4%, quality difference not significant"."""
    parts = [
        _phrase("cost_per_request_usd", diffs["cost_per_request_usd"], base["cost_per_request_usd"]),
        _phrase("quality", diffs["quality"], None),
        # No latency recorded at all (offline replays): say so rather than "not significant".
        _phrase("latency_ms_mean", diffs["latency_ms_mean"] if any(base["_series"]["latency"]) else None, None),
    ]
    if diffs["error_rate"] is not None and diffs["error_rate"]["significant"]:
        parts.append(_phrase("error_rate", diffs["error_rate"], None))
    return f"arm {name} vs {base_name}: " + ", ".join(parts)


def report(arms: Mapping[str, Iterable[Mapping[str, Any]]]) -> dict[str, Any]:
    """Per arm figures, and each arm after the first against the first (the baseline)."""
    summaries = {name: arm_summary(rows) for name, rows in arms.items()}
    names = list(summaries)
    out: dict[str, Any] = {"arms": {}, "comparisons": []}
    for name in names:
        out["arms"][name] = {k: v for k, v in summaries[name].items() if k != "_series"}
    if not names:
        return out
    base = names[0]
    for name in names[1:]:
        diffs = differences(summaries[base], summaries[name])
        out["comparisons"].append(
            {
                "baseline": base,
                "arm": name,
                "differences": diffs,
                "verdict": verdict(base, name, summaries[base], diffs),
            }
        )
    return out
