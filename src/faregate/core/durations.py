"""Durations written the way people write them: ``90s``, ``30m``, ``2h``, ``24h``, ``1d``.

Used for a request's or route's ``deadline`` and the batch tier's turnaround, so both read the
same way in a request body, a header and the config."""

from __future__ import annotations

import math
import re

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
# A positive decimal and a unit; the same pattern is the OpenAPI schema's (server/openapi_schemas.py).
PATTERN = r"^([0-9]*[1-9][0-9]*(\.[0-9]+)?|[0-9]+\.[0-9]*[1-9][0-9]*)[smhd]$"
_FORM = re.compile(PATTERN.removeprefix("^").removesuffix("$"))


def parse_duration(value: object) -> float:
    """Seconds of ``value``: a string ``<number><unit>`` (unit s, m, h or d) or a number of
    seconds. A ``ValueError`` saying what is accepted otherwise."""
    if isinstance(value, bool):
        raise ValueError("must be a duration such as '30m', '2h', '24h' or '1d', not a boolean")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        if _FORM.fullmatch(value) is None:
            raise ValueError(
                f"{value[:40]!r} is not a duration; write a number above 0 and a unit s, m, h or d (e.g. '24h')"
            )
        seconds = float(value[:-1]) * UNITS[value[-1]]
    else:
        raise ValueError(f"must be a duration such as '24h', got {type(value).__name__}")
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"must be a duration above 0 such as '24h', got {value!r}")
    return seconds
