"""The period a page shows (last hour, day, 7 days (default), 30 days, custom) and its chart buckets.

Bucket edges fall on whole hours (or days) wherever they can, so each bucket's totals come
from the rollups, not the rows: only the first and last bucket touch partial hours.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

from ..storage import analytics

PERIODS = {"1h": 3600, "1d": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
DEFAULT = "7d"
# Bucket width per period: about 6 to 40 points per chart (under an hour: from the rows).
_STEPS = (
    (600, 15),
    (1800, 60),
    (2 * 3600, 300),
    (2 * 86400, 3600),
    (8 * 86400, 6 * 3600),
    (math.inf, 86400),
)


class BadPeriod(ValueError):
    """A period the page cannot show; the message says what is accepted."""


@dataclass(frozen=True, slots=True)
class Period:
    """``[since, until)`` and the name it was chosen by (``custom`` for explicit times)."""

    name: str
    since: float
    until: float

    @property
    def seconds(self) -> float:
        return self.until - self.since

    def buckets(self) -> list[tuple[float, float]]:
        step = next(s for span, s in _STEPS if self.seconds <= span)
        edges = [self.since]
        t = math.floor(self.since / step) * step + step
        while t < self.until:
            edges.append(float(t))
            t += step
        edges.append(self.until)
        return list(zip(edges, edges[1:]))

    def query(self) -> str:
        """The query string that selects this period again (links between pages keep it)."""
        if self.name == "custom":
            return f"period=custom&since={self.since:.0f}&until={self.until:.0f}"
        return f"period={self.name}"


def parse(q: Mapping[str, str], now: float | None = None) -> Period:
    """``period=1h|1d|7d|30d`` (default 7d) or ``period=custom`` with ``since`` (and ``until``)."""
    now = time.time() if now is None else now
    name = q.get("period") or DEFAULT
    if name in PERIODS:
        return Period(name, now - PERIODS[name], now)
    if name != "custom":
        raise BadPeriod(f"period must be one of {', '.join(PERIODS)} or custom; got {name[:20]!r}")
    try:
        since = analytics.parse_time(q.get("since"), now=now, name="since")
        until = analytics.parse_time(q.get("until"), now=now, name="until")
    except analytics.BadParameter as exc:
        raise BadPeriod(str(exc)) from None
    until = now if until is None else until
    if since is None:
        raise BadPeriod("a custom period needs since (like 2026-01-31T00:00:00Z, 3d or epoch seconds)")
    if not since < until or until - since > 366 * 86400:
        raise BadPeriod("since must be before until, and the period at most 366 days")
    return Period("custom", since, until)
