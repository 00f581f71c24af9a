"""The period a page shows and its chart buckets (edges on whole hours or days)."""

from __future__ import annotations

import pytest

from faregate.dashboard.periods import BadPeriod, parse

NOW = 1_800_000_123.5  # not on an hour


def test_named_periods_and_the_default():
    assert parse({}, now=NOW).name == "7d"
    for name, secs in (("1h", 3600), ("1d", 86400), ("7d", 7 * 86400), ("30d", 30 * 86400)):
        p = parse({"period": name}, now=NOW)
        assert (p.since, p.until) == (NOW - secs, NOW)


@pytest.mark.parametrize("name, step", [("1h", 300), ("1d", 3600), ("7d", 6 * 3600), ("30d", 86400)])
def test_buckets_cover_the_period_on_whole_steps(name, step):
    p = parse({"period": name}, now=NOW)
    b = p.buckets()
    assert b[0][0] == p.since and b[-1][1] == p.until
    assert all(hi == lo2 for (_, hi), (lo2, _) in zip(b, b[1:]))  # contiguous
    assert all(lo % step == 0 for lo, _ in b[1:])  # inner edges on whole steps: rollup rows
    assert 6 <= len(b) <= 40


def test_custom_periods_and_their_errors():
    p = parse({"period": "custom", "since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z"}, now=NOW)
    assert p.seconds == 86400 and p.query() == f"period=custom&since={p.since:.0f}&until={p.until:.0f}"
    assert parse({"period": "custom", "since": "3d"}, now=NOW).seconds == 3 * 86400
    for q, msg in (
        ({"period": "2y"}, "period must be one of"),
        ({"period": "custom"}, "needs since"),
        ({"period": "custom", "since": "yesterday"}, "since must be"),
        ({"period": "custom", "since": "1d", "until": "2d"}, "before until"),
        ({"period": "custom", "since": "400d"}, "at most 366 days"),
    ):
        with pytest.raises(BadPeriod, match=msg):
            parse(q, now=NOW)
