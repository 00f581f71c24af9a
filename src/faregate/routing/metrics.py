"""Offline routing metrics, as defined in the shared data README.

- ``upper_hull(points)``: the upper convex hull of (cost, quality) points, made non-decreasing
  (it ends at its highest point; the curve stays flat after that).
- ``hull_value(hull, cost)``: 0 below the hull's cheapest point, linear along it, flat after.
- ``aiq(points, lo, hi)``: area under the hull over [lo, hi] (cheapest and dearest single
  model's mean cost) divided by ``hi - lo``.
- ``cost_to_reach(points, q)``: least cost at which the hull reaches quality q (None if never).
- ``pgr_curve(scores, q_strong, q_weak)``, ``apgr``, ``cpt``: RouteLLM's two-model metrics over
  the share of calls sent to the strong model.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def upper_hull(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    pts = sorted({(float(c), float(q)) for c, q in points})
    if not pts:
        return []
    # For equal costs keep only the best quality.
    best: dict[float, float] = {}
    for c, q in pts:
        best[c] = max(q, best.get(c, -np.inf))
    pts = sorted(best.items())
    hull: list[tuple[float, float]] = []
    for p in pts:
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            # Drop the middle point if it lies on or below the segment from hull[-2] to p.
            if (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1) >= 0:
                hull.pop()
            else:
                break
        hull.append(p)
    top = max(range(len(hull)), key=lambda i: (hull[i][1], -i))
    return hull[: top + 1]


def hull_value(hull: Sequence[tuple[float, float]], cost: float) -> float:
    if not hull or cost < hull[0][0]:
        return 0.0
    if cost >= hull[-1][0]:
        return hull[-1][1]
    xs = [p[0] for p in hull]
    ys = [p[1] for p in hull]
    return float(np.interp(cost, xs, ys))


def hull_shortfall(
    points: Iterable[tuple[float, float]],
    reference: Iterable[tuple[float, float]],
    lo: float,
    hi: float,
    n: int = 400,
    tol: float = 1e-4,
) -> tuple[float, float]:
    """Where ``points``' hull is below ``reference``'s by more than ``tol``, over ``n`` costs
    spread over the part of [lo, hi] both hulls cover (from the dearer of their cheapest points):
    (the share of those costs, the largest shortfall in quality); (0, 0): at or above it
    everywhere, or no common range. Below a hull's cheapest point there is no plan to compare
    (``aiq`` counts quality 0 there, so a hull that starts a rounding error above ``lo`` would
    otherwise look short by the reference's whole quality)."""
    mine, ref = upper_hull(points), upper_hull(reference)
    if not mine or not ref:
        return 0.0, 0.0
    start = max(lo, mine[0][0], ref[0][0])
    if start > hi:
        return 0.0, 0.0
    costs = np.linspace(start, hi, n)
    gap = np.array([hull_value(mine, c) - hull_value(ref, c) for c in costs])
    below = gap < -tol
    return float(below.mean()), float(max(0.0, -gap.min())) if below.any() else 0.0


def aiq(points: Iterable[tuple[float, float]], lo: float, hi: float) -> float:
    """Average quality of the non-decreasing upper hull over the cost range [lo, hi]."""
    if hi <= lo:
        raise ValueError("aiq needs hi > lo")
    hull = upper_hull(points)
    if not hull:
        return 0.0
    # Breakpoints inside [lo, hi]: the range ends and every hull vertex between them.
    xs = sorted({lo, hi, *(c for c, _ in hull if lo < c < hi)})
    area = 0.0
    for a, b in zip(xs, xs[1:]):
        ya, yb = hull_value(hull, a), hull_value(hull, b)
        if a < hull[0][0] <= b:  # the curve jumps from 0 at the hull's first point
            x0 = hull[0][0]
            area += 0.5 * (hull_value(hull, x0) + yb) * (b - x0)
        else:
            area += 0.5 * (ya + yb) * (b - a)
    return area / (hi - lo)


def cost_to_reach(points: Iterable[tuple[float, float]], quality: float) -> float | None:
    hull = upper_hull(points)
    if not hull or hull[-1][1] < quality:
        return None
    if hull[0][1] >= quality:
        return hull[0][0]
    for (x1, y1), (x2, y2) in zip(hull, hull[1:]):
        if y2 >= quality:
            return x1 + (x2 - x1) * (quality - y1) / (y2 - y1)
    return None  # pragma: no cover - unreachable


def rank_desc(scores: np.ndarray, seed: int = 0) -> np.ndarray:
    """Indices by descending score; tied scores in a seeded random order, so prompts a
    predictor cannot tell apart (e.g. one task's mean) are ranked at random, not by file order."""
    scores = np.asarray(scores, float)
    return np.lexsort((np.random.default_rng(seed).permutation(len(scores)), -scores))


def pgr_curve(scores: np.ndarray, q_strong: np.ndarray, q_weak: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Send the k highest-scoring prompts to the strong model, for k = 0..n: returns
    (share of strong calls, PGR) with PGR = (q - q_weak_mean)/(q_strong_mean - q_weak_mean).
    Among tied scores the curve is the expected one over random orders of the tied prompts
    (each gets their mean gain), so a ranking gets no credit for the file's order."""
    q_strong, q_weak = np.asarray(q_strong, float), np.asarray(q_weak, float)
    n = len(scores)
    s = np.asarray(scores, float)
    order = np.argsort(-s, kind="stable")
    d = (q_strong - q_weak)[order]
    _, start, counts = np.unique(-s[order], return_index=True, return_counts=True)
    if len(start) < n:  # some ties
        d = np.repeat(np.add.reduceat(d, start) / counts, counts)
    gain = np.concatenate([[0.0], np.cumsum(d)])
    q = (q_weak.sum() + gain) / n
    ws, ss = q_weak.mean(), q_strong.mean()
    if ss == ws:
        raise ValueError("PGR is undefined when both models have the same mean quality")
    return np.arange(n + 1) / n, (q - ws) / (ss - ws)


def apgr(share: np.ndarray, pgr: np.ndarray) -> float:
    """Area under PGR against the share of strong calls, over [0, 1] (trapezoids)."""
    return float((np.diff(share) * (pgr[1:] + pgr[:-1]) / 2.0).sum())


def cpt(share: np.ndarray, pgr: np.ndarray, x: float) -> float | None:
    """Least share of strong calls whose PGR reaches ``x`` (e.g. 0.5 for CPT(50%))."""
    hit = np.nonzero(pgr >= x - 1e-12)[0]
    return float(share[hit[0]]) if len(hit) else None


def pgr_from_decisions(
    decisions: Iterable[Sequence[tuple[str, list[str]]]],
    strong: str,
    q_strong: dict[str, float],
    q_weak: dict[str, float],
) -> tuple[np.ndarray, np.ndarray]:
    """(share of strong calls, PGR) per knob point, sorted by share, from the decisions written
    (per point: (row id, models called)); a row's quality is that of the last model called.
    ``faregate eval`` reports APGR/CPT from this, so the figures are those of the decisions."""
    ws = float(np.mean(list(q_weak.values())))
    ss = float(np.mean(list(q_strong.values())))
    if ss == ws:
        raise ValueError("PGR is undefined when both models have the same mean quality")
    pts = []
    for point in decisions:
        n = called = 0
        q = 0.0
        for rid, models in point:
            n += 1
            called += strong in models
            q += q_strong[rid] if models[-1] == strong else q_weak[rid]
        if n:
            pts.append((called / n, (q / n - ws) / (ss - ws)))
    pts.sort()
    return np.array([s for s, _ in pts]), np.array([p for _, p in pts])
