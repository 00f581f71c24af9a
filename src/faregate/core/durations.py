"""Durations written the way people write them: ``90s``, ``30m``, ``2h``, ``24h``, ``1d``.

Used for a request's or route's ``deadline`` and the batch tier's turnaround, so both read the
same way in a request body, a header and the config."""

from __future__ import annotations

import re

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
MAX_S = 366 * 86400.0  # a year: anything longer is a typo, not a deadline
_FORM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")


def parse_duration(value: object) -> float:
    """Seconds of ``value``: a string ``<number><unit>`` (unit s, m, h or d) or a number of
    seconds. A ``ValueError`` saying what is accepted otherwise."""
    if isinstance(value, bool):
        raise ValueError("must be a duration such as '30m', '2h', '24h' or '1d', not a boolean")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        m = _FORM.match(value)
        if m is None:
            raise ValueError(f"{value[:40]!r} is not a duration; write a number and a unit s, m, h or d (e.g. '24h')")
        seconds = float(m.group(1)) * UNITS[m.group(2)]
    else:
        raise ValueError(f"must be a duration such as '24h', got {type(value).__name__}")
    if not 0 < seconds <= MAX_S:
        raise ValueError(f"must be more than 0 and at most 366d, got {value!r}")
    return seconds
