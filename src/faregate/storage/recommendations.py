"""Recommendations from the request log, each with its evidence and the projected monthly saving.

The analytics summary calls ``recommend`` with the rollup accumulators of its window (per
model, per key, per route and model). Rules:

- ``cheaper_model_for_route``: a cheaper model met the route's floor on logged outcomes
  (``analytics._recommend``);
- ``response_cache``: a model whose prompts repeat (needs ``server.log_bodies``): a response
  cache would answer the repeats for free;
- ``latency_ceiling``: a key whose requests mostly miss their latency ceiling;
- ``add_fallback``: a model with a high error rate (worth a fallback when it has none);
- ``budget_runs_out``: a budget that runs out before the end of its period at the current rate;
- ``prompt_caching``: long prompts with a repeated prefix and few cached tokens (needs
  ``server.log_bodies``), where provider prompt caching would pay.

The two rules that need ``server.log_bodies`` count repeats in the logged prompt text. Without
it (no prompt logged in the window) they are not guessed at: each is returned once with
``"needs": "server.log_bodies"``, no saving, and a message saying why (the summary lists these
under ``unavailable_recommendations``). A prompt hash logged
without the body would do too, but it is derived from the prompt, which ``log_bodies: false``
keeps out of the log (a hash confirms a guessed prompt), so none is logged.

Every saving is scaled to 30 days from the window's rate (``MONTH_S / window``).
"""

from __future__ import annotations

import datetime as _dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.usage import Prices
from .db import Database

MONTH_S = 30 * 86400
PREFIX_CHARS = 400  # a prompt's first characters: the part a provider's prompt cache would reuse


@dataclass(frozen=True, slots=True)
class RecommendationContext:
    """What the log does not hold: budgets ((dim, value) -> (USD, "day" | "month")) and fallbacks."""

    budgets: Mapping[tuple[str, str], tuple[float, str]] = field(default_factory=dict)
    fallbacks: Mapping[str, Sequence[str]] = field(default_factory=dict)
    min_requests: int = 20
    error_rate: float = 0.05
    ceiling_miss: float = 0.5
    repeat_share: float = 0.2
    long_prompt_tokens: int = 1024


def _rec(rule: str, saves: float, message: str, **evidence: Any) -> dict[str, Any]:
    return {"rule": rule, "saves_usd_per_month": round(max(saves, 0.0), 2), "evidence": evidence, "message": message}


@dataclass(frozen=True, slots=True)
class PromptStats:
    """One model's logged prompts in a window: how many, and how many distinct (whole, prefix)."""

    n: int
    distinct: int
    distinct_prefix: int

    def repeats(self, prefix: bool = False) -> float:
        """The share of prompts that repeat an earlier one (whole, or its first PREFIX_CHARS)."""
        return (self.n - (self.distinct_prefix if prefix else self.distinct)) / self.n if self.n else 0.0


async def _prompts(db: Database, since: float, until: float) -> dict[str, PromptStats]:
    # Counted in the database, not fetched: only the rows with a prompt are read (the partial
    # index request_log_prompt_ts of migration 017), so a log without bodies costs nothing.
    rows = await db.fetch(
        "SELECT COALESCE(model, requested_model, '') AS m, COUNT(*) AS n, COUNT(DISTINCT prompt) AS d, "
        f"COUNT(DISTINCT substr(prompt, 1, {PREFIX_CHARS})) AS dp FROM request_log "
        "WHERE ts >= $1 AND ts < $2 AND prompt IS NOT NULL GROUP BY COALESCE(model, requested_model, '')",
        since,
        until,
    )
    return {r["m"]: PromptStats(int(r["n"]), int(r["d"]), int(r["dp"])) for r in rows}


def _repeats(prompts: list[str], key_len: int | None = None) -> float:
    """The share of prompts that repeat an earlier one, from the prompts themselves (the
    reference ``PromptStats.repeats`` is tested against)."""
    keys = Counter(p[:key_len] if key_len else p for p in prompts)
    return sum(n - 1 for n in keys.values()) / len(prompts) if prompts else 0.0


def _cache_rules(
    by_model: Mapping[str, dict[str, Any]], prompts: dict[str, PromptStats], prices: Mapping[str, Prices], scale: float,
    ctx: RecommendationContext,
) -> list[dict[str, Any]]:  # fmt: skip
    out = []
    for model, a in sorted(by_model.items()):
        ps = prompts.get(model) or PromptStats(0, 0, 0)
        if ps.n < ctx.min_requests:
            continue
        whole = ps.repeats()
        if whole >= ctx.repeat_share:
            saves = whole * a["cost_usd"] * scale
            out.append(
                _rec("response_cache", saves,
                     f"model {model}: {whole:.0%} of prompts repeat an earlier one; a response cache would "
                     f"save ${saves:,.2f} a month", model=model, repeated_share=round(whole, 4), prompts=ps.n)
            )  # fmt: skip
        p = prices.get(model)
        n = a["requests"] or 1
        avg_in = a["input_tokens"] / n
        cached_share = a["cached_tokens"] / a["input_tokens"] if a["input_tokens"] else 0.0
        prefix = ps.repeats(prefix=True)
        if p is None or avg_in < ctx.long_prompt_tokens or cached_share >= 0.1 or prefix < ctx.repeat_share:
            continue
        discount = p.input - (p.cached_input if p.cached_input is not None else p.input)
        # The repeated prefix's tokens, billed at the cached price instead of the full one.
        cacheable = prefix * min(1.0, PREFIX_CHARS / 4 / avg_in) * a["input_tokens"]
        saves = cacheable * discount / 1e6 * scale
        if saves > 0:
            out.append(
                _rec("prompt_caching", saves,
                     f"model {model}: prompts average {avg_in:.0f} tokens, {prefix:.0%} share a prefix and "
                     f"{cached_share:.0%} are cached; prompt caching would save ${saves:,.2f} a month",
                     model=model, avg_input_tokens=round(avg_in), shared_prefix_share=round(prefix, 4),
                     cached_share=round(cached_share, 4))
            )  # fmt: skip
    return out


def _latency_rules(by_key: Mapping[str, dict[str, Any]], scale: float, ctx: RecommendationContext) -> list[dict]:
    out = []
    for key, a in sorted(by_key.items()):
        if not key or a["ceiling_n"] < ctx.min_requests:
            continue
        missed = 1 - a["ceiling_met"] / a["ceiling_n"]
        if missed >= ctx.ceiling_miss:
            # What those late answers cost: spent on answers that came after the caller's ceiling.
            saves = missed * a["cost_usd"] * scale
            out.append(
                _rec("latency_ceiling", saves,
                     f"key {key}: {missed:.0%} of requests with a latency ceiling missed it; raise the ceiling or "
                     f"route to faster models (${saves:,.2f} a month is spent on late answers)",
                     key=key, missed_share=round(missed, 4), requests_with_ceiling=a["ceiling_n"])
            )  # fmt: skip
    return out


def _error_rules(by_model: Mapping[str, dict[str, Any]], scale: float, ctx: RecommendationContext) -> list[dict]:
    out = []
    for model, a in sorted(by_model.items()):
        n = a["requests"]
        if not model or n < ctx.min_requests or a["errors"] / n < ctx.error_rate:
            continue
        rate = a["errors"] / n
        per_ok = a["cost_usd"] / max(1, n - a["errors"])
        saves = a["errors"] * per_ok * scale  # the retries callers paid for, at the average answer's cost
        has = list(ctx.fallbacks.get(model) or [])
        advice = f"it falls back to {', '.join(has)}" if has else "give it a fallback model"
        out.append(
            _rec("add_fallback", saves,
                 f"model {model}: {rate:.0%} of {n} requests failed; {advice} (saves ${saves:,.2f} a month of "
                 f"client retries)", model=model, error_rate=round(rate, 4), requests=n, fallbacks=has)
        )  # fmt: skip
    return out


def _budget_rules(
    acc: Mapping[str, Mapping[str, dict[str, Any]]], since: float, until: float, ctx: RecommendationContext
) -> list[dict]:
    out = []
    for (dim, value), (limit, period) in sorted(ctx.budgets.items()):
        a = acc.get(dim, {}).get(value)
        if a is None or limit <= 0 or until <= since:
            continue
        rate = a["cost_usd"] / (until - since)  # USD per second over the window
        t = _dt.datetime.fromtimestamp(until, _dt.UTC)
        start = t.replace(hour=0, minute=0, second=0, microsecond=0)
        if period == "month":
            start = start.replace(day=1)
            end = (start + _dt.timedelta(days=32)).replace(day=1)
        else:
            end = start + _dt.timedelta(days=1)
        projected = rate * (end - start).total_seconds()
        if projected > limit:
            runs_out = start.timestamp() + limit / rate if rate > 0 else None
            out.append(
                _rec("budget_runs_out", (projected - limit) * (MONTH_S / (end - start).total_seconds()),
                     f"{dim} {value}: at the current rate the {period}ly budget ${limit:g} runs out before the "
                     f"period ends (projected ${projected:,.2f})", scope=dim, value=value, budget_usd=limit,
                     projected_usd=round(projected, 4), runs_out_at=runs_out)
            )  # fmt: skip
    return out


NEEDS_BODIES = {
    "response_cache": "whether prompts repeat (what a response cache would answer for free)",
    "prompt_caching": "whether long prompts share a prefix (what provider prompt caching would bill cheaper)",
}


def _needs_bodies(by_model: Mapping[str, dict[str, Any]], ctx: RecommendationContext) -> list[dict[str, Any]]:
    """The body rules, each said to be unavailable, when enough requests were logged without text."""
    models = sorted(m for m, a in by_model.items() if m and a["requests"] >= ctx.min_requests)
    if not models:
        return []
    n = sum(by_model[m]["requests"] for m in models)
    out = []
    for rule, what in NEEDS_BODIES.items():
        rec = _rec(rule, 0.0,
                   f"{rule}: not evaluated: {what} can only be told from the prompt text, and no prompt is logged "
                   f"in this window (set server.log_bodies: true to get this recommendation)",
                   requests=n, models=models)  # fmt: skip
        rec["needs"] = "server.log_bodies"
        out.append(rec)
    return out


async def recommend(
    db: Database,
    acc: Mapping[str, Mapping[str, dict[str, Any]]],
    since: float,
    until: float,
    prices: Mapping[str, Prices],
    ctx: RecommendationContext | None = None,
) -> list[dict[str, Any]]:
    """Every rule but ``cheaper_model_for_route`` (the summary adds that one), savings first."""
    ctx = ctx or RecommendationContext()
    scale = MONTH_S / (until - since)
    by_model = acc.get("model", {})
    prompts = await _prompts(db, since, until)
    out = _cache_rules(by_model, prompts, prices, scale, ctx) if prompts else _needs_bodies(by_model, ctx)
    out += _latency_rules(acc.get("key", {}), scale, ctx)
    out += _error_rules(by_model, scale, ctx)
    out += _budget_rules(acc, since, until, ctx)
    return sorted(out, key=lambda r: -r["saves_usd_per_month"])
