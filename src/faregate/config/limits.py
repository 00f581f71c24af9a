"""The ``limits:`` and ``keys:`` sections: rate limits, budgets and gateway keys from config."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import _Frozen


class LimitSet(_Frozen):
    """Limits of one key, team or model; ``None`` means no limit of that kind.

    Requests per minute/hour/day, tokens per minute, cost (USD) per hour/day, UTC calendar
    budgets per day/month (``budget_soft: true`` only alerts), concurrent requests, and a token
    bucket of requests (``burst`` and ``refill_per_s``; one alone: ``refill_per_s`` defaults to
    ``burst / 60``, ``burst`` to ``ceil(refill_per_s)``).
    """

    rpm: int | None = Field(None, ge=0, description="Requests per minute (sliding window).")
    rph: int | None = Field(None, ge=0, description="Requests per hour (sliding window).")
    rpd: int | None = Field(None, ge=0, description="Requests per day (sliding window).")
    tpm: int | None = Field(None, ge=0, description="Tokens per minute, prompt and answer.")
    cost_usd_hour: float | None = Field(None, ge=0, description="USD per rolling hour.")
    cost_usd_day: float | None = Field(None, ge=0, description="USD per rolling 24 hours.")
    budget_usd_day: float | None = Field(None, ge=0, description="USD per UTC calendar day.")
    budget_usd_month: float | None = Field(None, ge=0, description="USD per UTC calendar month.")
    budget_soft: bool = Field(False, description="true: budgets only alert (logged, counted, a header).")
    max_concurrent: int | None = Field(None, ge=0, description="Requests in flight at once.")
    burst: int | None = Field(
        None,
        ge=1,
        description="Token bucket: requests admitted at once (its capacity); alone, it refills over a minute.",
    )
    refill_per_s: float | None = Field(
        None, gt=0, description="Token bucket: requests it gains back per second; alone, the burst is one second of it."
    )


class LimitsConfig(_Frozen):
    """Where counters live (``redis_url``; memory without it) and what happens when Redis is down."""

    enabled: bool = Field(True, description="Not read today: limits apply wherever they are set.")
    redis_failure_policy: Literal["open", "closed"] = Field("open", description="Redis down: open serves; closed: 503.")
    redis_timeout_ms: float = Field(100.0, gt=0, le=5000, description="Bound on every Redis call (ms).")
    default_max_tokens: int = Field(1024, ge=1)  # output estimate when a request sets no max_tokens
    concurrency_lease_s: float = Field(600.0, gt=0, description="Lease of a `max_concurrent` slot (s).")
    key_cache_ttl_s: float = Field(5.0, ge=0, description="Seconds each replica caches key lookups.")
    keys: LimitSet = Field(default_factory=LimitSet)  # every key without limits of its own
    teams: dict[str, LimitSet] = Field(default_factory=dict, description="Limits per team name.")
    models: dict[str, LimitSet] = Field(default_factory=dict)  # per model / deployment name


class KeyConfig(_Frozen):
    """A gateway key given in config (the key system in the database adds more)."""

    key: str = Field(description="The key itself (a `${VAR}` reference).")
    name: str = Field("config", description="A label for people, in logs and analytics.")
    team: str | None = Field(None, description="Team the key belongs to (its limits and models apply too).")
    models: list[str] | None = Field(None, description="Allow-list of models; null: every model.")
    limits: LimitSet | None = Field(None, description="This key's own limits and budgets.")
    idempotent: bool = Field(
        True,
        description="false: this key's requests must not reach an upstream twice, so they are never hedged "
        "(what `faregate: {idempotent: false}` does for one request).",
    )
    mode: Literal["cost", "latency", "quality", "balanced"] | None = Field(
        None, description="Optimisation mode of this key's routed requests (a request's own wins; over the route's)."
    )
    guardrails: list[str] | None = Field(
        None, description="Names of `guardrails:` entries run on this key's requests, in order."
    )
