"""The request log's record: one ``RequestRecord`` per request, and how it maps to columns."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field, fields
from typing import Any

import orjson


@dataclass(slots=True)
class RequestRecord:
    """One request as the log stores it (``COLUMNS`` are its fields, in order)."""

    id: str
    ts: float
    key_id: str | None = None
    team: str | None = None
    route: str | None = None
    requested_model: str | None = None
    model: str | None = None  # the model that answered
    deployment: str | None = None
    plan_kind: str | None = None
    plan_models: list[str] = field(default_factory=list)
    models_called: list[str] = field(default_factory=list)
    pred_quality: float | None = None
    pred_cost_usd: float | None = None
    pred_latency_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float = 0.0
    ttft_ms: float | None = None
    latency_ms: float = 0.0
    status: int = 200
    error_class: str | None = None
    attempts: int = 0
    fallback_used: bool = False
    cache_hit: bool = False
    constraint_unmet: bool = False
    client_disconnect: bool = False
    latency_ceiling_ms: float | None = None
    latency_met: bool | None = None
    arm: str | None = None
    task: str | None = None
    prompt: str | None = None
    answer: str | None = None
    extra: dict[str, Any] | None = None
    policy: str | None = None  # the policy version that answered (``pipeline/policy.py``)
    cache_kind: str | None = None  # "exact", "semantic", "coalesced"; None: not answered by the cache
    cache_saved_usd: float = 0.0  # the upstream cost of the answer the cache replayed
    complexity: str | None = None  # "simple" | "medium" | "complex" (``routing.complexity``)
    experiment: str | None = None  # the policy experiment (``routing/experiments.py``)
    experiment_arm: str | None = None
    batch_id: str | None = None  # the batch this line belongs to (``batch/``); None: a normal request
    guardrails: str | None = None  # "name:action:stage:classes;..." (never the matched text)

    def to_values(self) -> tuple[Any, ...]:
        """The values as stored, in ``COLUMNS`` order (lists/dicts as JSON text, booleans as 0/1)."""
        v = list(_VALUES(self))
        for i in _JSON_AT:
            if v[i] is not None:
                v[i] = orjson.dumps(v[i]).decode()
        for i in _FLAG_AT:
            v[i] = 1 if v[i] else 0
        if v[_MET_AT] is not None:  # unknown (no ceiling) stays NULL
            v[_MET_AT] = 1 if v[_MET_AT] else 0
        return tuple(v)

    def to_row(self) -> dict[str, Any]:
        """Column name -> value as stored."""
        return dict(zip(COLUMNS, self.to_values()))

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RequestRecord:
        """A stored row (or a spilled record) back into a record."""
        d: dict[str, Any] = {f.name: row.get(f.name) for f in fields(cls)}
        for k in ("plan_models", "models_called", "extra"):
            if isinstance(d[k], (str, bytes)):
                d[k] = orjson.loads(d[k])
        for k in ("plan_models", "models_called"):
            d[k] = d[k] or []
        for k in ("fallback_used", "cache_hit", "constraint_unmet", "client_disconnect"):
            d[k] = bool(d[k])
        if d["latency_met"] is not None:
            d["latency_met"] = bool(d["latency_met"])
        return cls(**d)


COLUMNS = tuple(f.name for f in fields(RequestRecord))
_VALUES = operator.attrgetter(*COLUMNS)
_JSON_AT = tuple(COLUMNS.index(c) for c in ("plan_models", "models_called", "extra"))
_FLAG_AT = tuple(COLUMNS.index(c) for c in ("fallback_used", "cache_hit", "constraint_unmet", "client_disconnect"))
_MET_AT = COLUMNS.index("latency_met")
