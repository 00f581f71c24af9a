"""Key and team records as stored, and the validation of what an operator may set on them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..config import LimitSet

# Fields an operator may set on a key or team, and nothing else (no mass assignment).
LIMIT_FIELDS = tuple(LimitSet.model_fields)


@dataclass(slots=True)
class KeyRecord:
    """A stored key: never the raw key, only its hash and display prefix."""

    id: str
    name: str
    prefix: str
    team: str | None = None
    models: list[str] | None = None
    limits: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    expires_at: float | None = None
    revoked_at: float | None = None
    rotated_at: float | None = None
    idempotent: bool = True  # false: never hedged (a second upstream call)
    mode: str | None = None  # optimisation mode of its routed requests (``routing.modes``)
    guardrails: list[str] | None = None  # names of the config's guardrails run on its requests
    key_hash: str = field(default="", repr=False)

    def public(self) -> dict[str, Any]:
        """What lists and the admin API show: never the hash, never the key."""
        return {
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "team": self.team,
            "models": self.models,
            "limits": self.limits,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "rotated_at": self.rotated_at,
            "idempotent": self.idempotent,
            "mode": self.mode,
            "guardrails": self.guardrails,
            "active": self.active(),
        }

    def active(self, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


@dataclass(slots=True)
class TeamRecord:
    """A team: an allow-list and limits its keys share."""

    name: str
    models: list[str] | None = None
    limits: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0

    def public(self) -> dict[str, Any]:
        return {"name": self.name, "models": self.models, "limits": self.limits, "created_at": self.created_at}


def clean_limits(values: dict[str, Any] | None) -> dict[str, Any]:
    """Validate a limits mapping against ``LimitSet`` (unknown fields refused); drop the unset."""
    if not values:
        return {}
    unknown = set(values) - set(LIMIT_FIELDS)
    if unknown:
        raise ValueError(f"unknown limit field(s) {sorted(unknown)}; allowed: {list(LIMIT_FIELDS)}")
    ls = LimitSet.model_validate(values)
    return {k: v for k, v in ls.model_dump().items() if k in values and v is not None}


def clean_models(models: Any) -> list[str] | None:
    """An allow-list of model names (a list or comma-separated text), deduplicated; None: any model."""
    if models is None:
        return None
    if isinstance(models, str):
        models = [m.strip() for m in models.split(",") if m.strip()]
    if not isinstance(models, list) or not all(isinstance(m, str) and 0 < len(m) <= 200 for m in models):
        raise ValueError("models must be a list of model names")
    return list(dict.fromkeys(models))


def key_from_row(r: dict[str, Any]) -> KeyRecord:
    """A ``fg_keys`` row (JSON text columns decoded)."""
    return KeyRecord(
        id=r["id"],
        name=r["name"],
        prefix=r["prefix"],
        team=r.get("team"),
        models=orjson.loads(r["models"]) if r.get("models") else None,
        limits=orjson.loads(r["limits"]) if r.get("limits") else {},
        created_at=r["created_at"],
        expires_at=r.get("expires_at"),
        revoked_at=r.get("revoked_at"),
        rotated_at=r.get("rotated_at"),
        idempotent=r.get("idempotent") is None or bool(r["idempotent"]),
        mode=r.get("mode"),
        guardrails=orjson.loads(r["guardrails"]) if r.get("guardrails") else None,
        key_hash=r.get("key_hash", ""),
    )


def team_from_row(r: dict[str, Any]) -> TeamRecord:
    """A ``fg_teams`` row (JSON text columns decoded)."""
    return TeamRecord(
        name=r["name"],
        models=orjson.loads(r["models"]) if r.get("models") else None,
        limits=orjson.loads(r["limits"]) if r.get("limits") else {},
        created_at=r["created_at"],
    )


def dump_json(v: Any) -> str | None:
    """A JSON text column's value (NULL stays NULL)."""
    return None if v is None else orjson.dumps(v).decode()
