"""Per-request cache control: the ``x-faregate-cache`` header, ``Cache-Control`` and the
body's ``faregate.cache``.

Header syntax: comma-separated ``no-store`` (do not write), ``no-cache`` (do not read),
``ttl=SECONDS``, ``semantic=0.9`` (a threshold; ``semantic=0`` or ``off``: exact only),
``sampled`` (cache although temperature > 0). The body takes the same string, or an object
``{"no_store": true, "no_cache": true, "ttl": 60, "semantic": 0.9, "sampled": true}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.errors import InvalidRequest

MAX_TTL_S = 30 * 86400.0
WHERE = "x-faregate-cache (or faregate.cache)"


@dataclass(frozen=True, slots=True)
class Directives:
    no_store: bool = False
    no_cache: bool = False
    ttl_s: float | None = None
    semantic: float | None = None  # a threshold; 0: semantic off for this request
    sampled: bool = False


NONE = Directives()


def _ttl(v: Any) -> float:
    try:
        ttl = float(v)
    except (TypeError, ValueError):
        raise InvalidRequest(f"{WHERE}: ttl must be a number of seconds, got {v!r}.", param="faregate.cache") from None
    if not 0 < ttl <= MAX_TTL_S or isinstance(v, bool):
        raise InvalidRequest(f"{WHERE}: ttl must be in (0, {MAX_TTL_S:g}] seconds, got {v!r}.", param="faregate.cache")
    return ttl


def _threshold(v: Any) -> float:
    if v in ("off", False):
        return 0.0
    try:
        t = float(v)
    except (TypeError, ValueError):
        raise InvalidRequest(
            f"{WHERE}: semantic must be a similarity in [0, 1], got {v!r}.", param="faregate.cache"
        ) from None
    if not 0 <= t <= 1:
        raise InvalidRequest(f"{WHERE}: semantic must be a similarity in [0, 1], got {v!r}.", param="faregate.cache")
    return t


def parse_header(value: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for raw in value.split(","):
        tok = raw.strip().lower()
        if not tok:
            continue
        name, eq, arg = tok.partition("=")
        if name in ("no-store", "no-cache", "sampled") and not eq:
            out[name.replace("-", "_")] = True
        elif name == "ttl" and eq:
            out["ttl"] = arg
        elif name == "semantic":
            out["semantic"] = arg if eq else "0.92"
        else:
            raise InvalidRequest(
                f"{WHERE}: unknown directive {tok[:40]!r}; use no-store, no-cache, ttl=SECONDS, semantic=0.9 or sampled.",
                param="x-faregate-cache",
            )
    return out


def from_cache_control(value: str) -> dict[str, Any]:
    toks = {t.strip().lower() for t in value.split(",")}
    return {k.replace("-", "_"): True for k in ("no-store", "no-cache") if k in toks}


def parse(raw: Any) -> Directives:
    """``raw``: what the front put in ``faregate.cache`` (a header string or the body's object)."""
    if raw is None:
        return NONE
    if isinstance(raw, str):
        raw = parse_header(raw)
    if not isinstance(raw, dict):
        raise InvalidRequest(
            f"{WHERE}: expected a string or an object, got {type(raw).__name__}.", param="faregate.cache"
        )
    unknown = sorted(set(raw) - {"no_store", "no_cache", "ttl", "semantic", "sampled"})
    if unknown:
        raise InvalidRequest(
            f"{WHERE}: unknown field(s) {unknown}; valid: no_store, no_cache, ttl, semantic, sampled.",
            param="faregate.cache",
        )
    return Directives(
        no_store=bool(raw.get("no_store")),
        no_cache=bool(raw.get("no_cache")),
        ttl_s=_ttl(raw["ttl"]) if raw.get("ttl") is not None else None,
        semantic=_threshold(raw["semantic"]) if raw.get("semantic") is not None else None,
        sampled=bool(raw.get("sampled")),
    )
