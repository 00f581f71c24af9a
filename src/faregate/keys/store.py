"""The key store: keys and teams in the database, looked up by hash, cached with a short TTL.

``KeyStore`` is the database side (create, list, revoke, rotate, update; teams).
``KeyResolver`` is the hot path: raw key -> ``ResolvedKey`` with at most one database read per
key per ``ttl_s`` on each replica, so a revoked key stops working everywhere within ``ttl_s``
(5 s by default). Keys from the YAML config are accepted too (they cannot be revoked at run time).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..config import GatewayConfig, LimitSet
from ..storage.db import Database, sqlite_path
from .secret import display_prefix, generate_key, hash_key, new_key_id, plausible, same_hash

log = logging.getLogger("faregate.keys")

# Fields an operator may set on a key or team, and nothing else (no mass assignment).
LIMIT_FIELDS = tuple(LimitSet.model_fields)


@dataclass(slots=True)
class KeyRecord:
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
            "active": self.active(),
        }

    def active(self, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


@dataclass(slots=True)
class TeamRecord:
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
    if models is None:
        return None
    if isinstance(models, str):
        models = [m.strip() for m in models.split(",") if m.strip()]
    if not isinstance(models, list) or not all(isinstance(m, str) and 0 < len(m) <= 200 for m in models):
        raise ValueError("models must be a list of model names")
    return list(dict.fromkeys(models))


def _key_row(r: dict[str, Any]) -> KeyRecord:
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
        key_hash=r.get("key_hash", ""),
    )


def _team_row(r: dict[str, Any]) -> TeamRecord:
    return TeamRecord(
        name=r["name"],
        models=orjson.loads(r["models"]) if r.get("models") else None,
        limits=orjson.loads(r["limits"]) if r.get("limits") else {},
        created_at=r["created_at"],
    )


def _dump(v: Any) -> str | None:
    return None if v is None else orjson.dumps(v).decode()


class KeyStore:
    """Keys and teams in the database of ``database_url`` (sqlite or PostgreSQL)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.db: Database | None = None
        self._open = False
        self._lock = asyncio.Lock()

    def exists(self) -> bool:
        """False for a sqlite file not created yet (so merely serving never creates one)."""
        path = sqlite_path(self.url)
        return path is None or path == ":memory:" or os.path.exists(path)

    async def open(self) -> KeyStore:
        if not self._open:
            async with self._lock:
                if not self._open:
                    db = await Database.open(self.url)
                    await db.migrate("keys")
                    self.db, self._open = db, True
        return self

    async def close(self) -> None:
        if self._open and self.db is not None:
            self._open = False
            await self.db.close()

    async def __aenter__(self) -> KeyStore:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- keys ------------------------------------------------------------------------------

    async def create_key(
        self,
        name: str,
        *,
        team: str | None = None,
        models: Any = None,
        limits: dict[str, Any] | None = None,
        expires_at: float | None = None,
    ) -> tuple[str, KeyRecord]:
        """A new key: returns (the raw key, shown once; its record)."""
        if not name or len(name) > 200:
            raise ValueError("name must be 1 to 200 characters")
        raw = generate_key()
        rec = KeyRecord(
            id=new_key_id(),
            name=name,
            prefix=display_prefix(raw),
            team=team,
            models=clean_models(models),
            limits=clean_limits(limits),
            created_at=time.time(),
            expires_at=expires_at,
            key_hash=hash_key(raw),
        )
        await self.db.execute(
            "INSERT INTO fg_keys (id, key_hash, prefix, name, team, models, limits, created_at, expires_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            rec.id,
            rec.key_hash,
            rec.prefix,
            rec.name,
            rec.team,
            _dump(rec.models),
            _dump(rec.limits),
            rec.created_at,
            rec.expires_at,
        )
        return raw, rec

    async def get_key(self, key_id: str) -> KeyRecord | None:
        rows = await self.db.fetch("SELECT * FROM fg_keys WHERE id = $1", key_id)
        return _key_row(rows[0]) if rows else None

    async def find_key(self, key_id_or_prefix: str) -> KeyRecord | None:
        """By id, or by display prefix when exactly one key has it."""
        rec = await self.get_key(key_id_or_prefix)
        if rec is not None:
            return rec
        rows = await self.db.fetch("SELECT * FROM fg_keys WHERE prefix = $1", key_id_or_prefix)
        return _key_row(rows[0]) if len(rows) == 1 else None

    async def by_hash(self, digest: str) -> tuple[KeyRecord, TeamRecord | None] | None:
        rows = await self.db.fetch(
            "SELECT k.*, t.name AS t_name, t.models AS t_models, t.limits AS t_limits, t.created_at AS t_created "
            "FROM fg_keys k LEFT JOIN fg_teams t ON t.name = k.team WHERE k.key_hash = $1",
            digest,
        )
        if not rows:
            return None
        r = rows[0]
        team = None
        if r.get("t_name"):
            team = _team_row(
                {"name": r["t_name"], "models": r["t_models"], "limits": r["t_limits"], "created_at": r["t_created"]}
            )
        return _key_row(r), team

    async def list_keys(self, team: str | None = None, include_revoked: bool = True) -> list[KeyRecord]:
        if team is None:
            rows = await self.db.fetch("SELECT * FROM fg_keys ORDER BY created_at")
        else:
            rows = await self.db.fetch("SELECT * FROM fg_keys WHERE team = $1 ORDER BY created_at", team)
        recs = [_key_row(r) for r in rows]
        return recs if include_revoked else [r for r in recs if r.revoked_at is None]

    async def count_keys(self) -> int:
        return int(await self.db.fetchval("SELECT COUNT(*) FROM fg_keys") or 0)

    async def revoke_key(self, key_id: str) -> bool:
        n = await self.db.execute(
            "UPDATE fg_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL", time.time(), key_id
        )
        return n > 0

    async def rotate_key(self, key_id: str) -> tuple[str, KeyRecord] | None:
        """A new secret for the same key (same id, limits and counters); the old one stops at once."""
        raw = generate_key()
        n = await self.db.execute(
            "UPDATE fg_keys SET key_hash = $1, prefix = $2, rotated_at = $3 WHERE id = $4 AND revoked_at IS NULL",
            hash_key(raw),
            display_prefix(raw),
            time.time(),
            key_id,
        )
        if not n:
            return None
        rec = await self.get_key(key_id)
        assert rec is not None
        return raw, rec

    async def update_key(
        self,
        key_id: str,
        *,
        name: str | None = None,
        team: Any = ...,
        models: Any = ...,
        limits: dict[str, Any] | None = None,
        expires_at: Any = ...,
    ) -> KeyRecord | None:
        """Change the given fields only (``...``: leave as is). Limits merge; a ``None`` value clears one."""
        rec = await self.get_key(key_id)
        if rec is None:
            return None
        if name is not None:
            rec.name = name
        if team is not ...:
            rec.team = team
        if models is not ...:
            rec.models = clean_models(models)
        if limits is not None:
            merged = {**rec.limits, **limits}
            rec.limits = clean_limits({k: v for k, v in merged.items() if v is not None})
        if expires_at is not ...:
            rec.expires_at = expires_at
        await self.db.execute(
            "UPDATE fg_keys SET name = $1, team = $2, models = $3, limits = $4, expires_at = $5 WHERE id = $6",
            rec.name,
            rec.team,
            _dump(rec.models),
            _dump(rec.limits),
            rec.expires_at,
            rec.id,
        )
        return rec

    # -- teams -----------------------------------------------------------------------------

    async def upsert_team(self, name: str, *, models: Any = ..., limits: dict[str, Any] | None = None) -> TeamRecord:
        if not name or len(name) > 200:
            raise ValueError("team name must be 1 to 200 characters")
        cur = await self.get_team(name)
        team = cur or TeamRecord(name=name, created_at=time.time())
        if models is not ...:
            team.models = clean_models(models)
        if limits is not None:
            merged = {**team.limits, **limits}
            team.limits = clean_limits({k: v for k, v in merged.items() if v is not None})
        if cur is None:
            await self.db.execute(
                "INSERT INTO fg_teams (name, models, limits, created_at) VALUES ($1, $2, $3, $4)",
                team.name,
                _dump(team.models),
                _dump(team.limits),
                team.created_at,
            )
        else:
            await self.db.execute(
                "UPDATE fg_teams SET models = $1, limits = $2 WHERE name = $3",
                _dump(team.models),
                _dump(team.limits),
                team.name,
            )
        return team

    async def get_team(self, name: str) -> TeamRecord | None:
        rows = await self.db.fetch("SELECT * FROM fg_teams WHERE name = $1", name)
        return _team_row(rows[0]) if rows else None

    async def list_teams(self) -> list[TeamRecord]:
        return [_team_row(r) for r in await self.db.fetch("SELECT * FROM fg_teams ORDER BY name")]

    async def delete_team(self, name: str) -> bool:
        return await self.db.execute("DELETE FROM fg_teams WHERE name = $1", name) > 0


@dataclass(slots=True)
class ResolvedKey:
    """A key that authenticated: who it is and what applies to it."""

    key_id: str
    name: str
    prefix: str
    team: str | None
    models: tuple[str, ...] | None  # key and team allow-lists intersected
    limits: dict[str, Any]  # the key's own
    team_limits: dict[str, Any]


def _allowed(key_models: list[str] | None, team_models: list[str] | None) -> tuple[str, ...] | None:
    if key_models is None and team_models is None:
        return None
    if key_models is None:
        return tuple(team_models or ())
    if team_models is None:
        return tuple(key_models)
    return tuple(m for m in key_models if m in team_models)


class KeyResolver:
    """Raw key -> ``ResolvedKey`` (or None), config keys first, then the store through a TTL cache.

    A database failure serves the last known answer for a key for up to ``stale_s`` (60 s), and
    raises otherwise (the auth step answers 503): an outage neither lets unknown keys in nor
    locks every caller out at once.
    """

    def __init__(
        self,
        config: GatewayConfig,
        store: KeyStore | None,
        *,
        ttl_s: float | None = None,
        stale_s: float = 60.0,
        max_entries: int = 50_000,
    ) -> None:
        self.ttl_s = config.limits.key_cache_ttl_s if ttl_s is None else ttl_s
        self.stale_s = stale_s
        self.store = store
        self.max_entries = max_entries
        self.db_failures = 0
        self._config: dict[str, ResolvedKey] = {}
        team_cfg = config.limits.teams
        for _i, k in enumerate(config.keys):
            tl = team_cfg.get(k.team).model_dump(exclude_none=True) if k.team and k.team in team_cfg else {}
            self._config[hash_key(k.key)] = ResolvedKey(
                key_id=f"cfg_{hash_key(k.key)[:12]}",
                name=k.name,
                prefix=display_prefix(k.key),
                team=k.team,
                models=tuple(k.models) if k.models is not None else None,
                limits=k.limits.model_dump(exclude_none=True) if k.limits else {},
                team_limits=tl,
            )
        # Config keys by their raw text too (the config holds it anyway): no hash per request for them.
        # A dict lookup compares strings only on a full hash match, so it tells a guesser nothing.
        self._config_raw = {k.key: self._config[hash_key(k.key)] for k in config.keys}
        self._cache: dict[str, tuple[float, ResolvedKey | None]] = {}
        self._inflight: dict[str, asyncio.Future] = {}
        self._store_has_keys: tuple[float, bool] | None = None
        # Uncached keys (a flood of random ones included) reach the database at most this many at a time.
        self._db_slots = asyncio.Semaphore(16)

    @property
    def config_keys(self) -> int:
        return len(self._config)

    async def any_keys(self) -> bool:
        """Whether any key exists at all (config or database, revoked ones included)."""
        if self._config:
            return True
        if self.store is None:
            return False
        now = time.monotonic()
        if self._store_has_keys and (self._store_has_keys[1] or now - self._store_has_keys[0] < self.ttl_s):
            return self._store_has_keys[1]
        has = False
        if self.store.exists():
            try:
                await self.store.open()
                has = await self.store.count_keys() > 0
            except Exception:  # noqa: BLE001 - unreachable database: fail closed
                log.warning("key store unreachable while checking for keys; treating the gateway as keyed")
                has = True
        self._store_has_keys = (now, has)
        return has

    def config_key(self, raw: str) -> ResolvedKey | None:
        """A config key by its raw text (no hashing, no I/O)."""
        return self._config_raw.get(raw)

    async def resolve(self, raw: str | None) -> ResolvedKey | None:
        hit = self.config_key(raw) if raw else None
        if hit is not None:
            return hit
        if not plausible(raw):
            return None
        assert raw is not None
        digest = hash_key(raw)
        hit = self._config.get(digest)
        if hit is not None:
            return hit
        if self.store is None:
            return None
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and now - cached[0] < self.ttl_s:
            return cached[1]
        fut = self._inflight.get(digest)
        if fut is not None:
            return await asyncio.shield(fut)
        fut = asyncio.get_running_loop().create_future()
        self._inflight[digest] = fut
        try:
            async with self._db_slots:
                value = await self._load(digest, cached, now)
            fut.set_result(value)
            return value
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved
            raise
        finally:
            self._inflight.pop(digest, None)

    async def _load(
        self, digest: str, cached: tuple[float, ResolvedKey | None] | None, now: float
    ) -> ResolvedKey | None:
        assert self.store is not None
        try:
            if not self.store.exists():
                found = None
            else:
                await self.store.open()
                found = await self.store.by_hash(digest)
        except Exception:
            self.db_failures += 1
            if cached is not None and now - cached[0] < self.stale_s:
                log.warning("key store unreachable; using a cached key entry")
                return cached[1]
            raise
        value = None
        if found is not None:
            rec, team = found
            if rec.active() and same_hash(rec.key_hash, digest):
                value = ResolvedKey(
                    key_id=rec.id,
                    name=rec.name,
                    prefix=rec.prefix,
                    team=rec.team,
                    models=_allowed(rec.models, team.models if team else None),
                    limits=rec.limits,
                    team_limits=team.limits if team else {},
                )
                if rec.expires_at is not None:
                    # Do not cache past the expiry.
                    now = min(now, now - self.ttl_s + max(0.0, rec.expires_at - time.time()))
        if len(self._cache) >= self.max_entries:
            self._cache.clear()
        self._cache[digest] = (now, value)
        return value

    def invalidate(self) -> None:
        """Forget every cached entry (this replica only; others follow within ``ttl_s``)."""
        self._cache.clear()
        self._store_has_keys = None
