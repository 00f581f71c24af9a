"""The key resolver, the hot path: raw key -> ``ResolvedKey``, cached with a short TTL.

At most one database read per key per ``ttl_s`` on each replica, so a revoked key stops working
everywhere within ``ttl_s`` (5 s by default). Keys from the YAML config are accepted too (they
cannot be revoked at run time).

The cache is a bounded LRU (``max_entries``): a flood of unknown keys evicts the least recently
used entries one at a time, never the whole cache, so the keys in use stay cached. A key
database that was there and is gone (a SQLite file deleted or renamed, a server that stopped
answering) is a storage failure, never "this key does not exist": ``resolve`` raises
``KeyStoreUnavailable`` (the auth step answers 503) unless the key was resolved within
``stale_s``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

from ..config import GatewayConfig
from .records import KeyRecord, TeamRecord
from .secret import display_prefix, hash_key, plausible, same_hash

log = logging.getLogger("faregate.keys")


class KeyStoreUnavailable(Exception):
    """The key database cannot be read (gone, unreachable, failing)."""


class KeyLookup(Protocol):
    """What the resolver needs of a key store (``keys.store.KeyStore`` is one)."""

    def exists(self) -> bool: ...

    async def open(self) -> Any: ...

    async def count_keys(self) -> int: ...

    async def by_hash(self, digest: str) -> tuple[KeyRecord, TeamRecord | None] | None: ...


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
    idempotent: bool = True  # false: the key's requests are never hedged
    mode: str | None = None  # the key's optimisation mode (``routing.modes``)
    guardrails: tuple[str, ...] = ()  # names of the config's guardrails run on its requests


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
        store: KeyLookup | None,
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
            tl = team_cfg[k.team].model_dump(exclude_none=True) if k.team and k.team in team_cfg else {}
            self._config[hash_key(k.key)] = ResolvedKey(
                key_id=f"cfg_{hash_key(k.key)[:12]}",
                name=k.name,
                prefix=display_prefix(k.key),
                team=k.team,
                models=tuple(k.models) if k.models is not None else None,
                limits=k.limits.model_dump(exclude_none=True) if k.limits else {},
                team_limits=tl,
                idempotent=k.idempotent,
                mode=k.mode,
                guardrails=tuple(k.guardrails or ()),
            )
        # Config keys by their raw text too (the config holds it anyway): no hash per request for them.
        # A dict lookup compares strings only on a full hash match, so it tells a guesser nothing.
        self._config_raw = {k.key: self._config[hash_key(k.key)] for k in config.keys}
        self._cache: OrderedDict[str, tuple[float, ResolvedKey | None]] = OrderedDict()
        self._store_seen = False  # the key database existed once: its disappearance is a failure
        self._inflight: dict[str, asyncio.Future[ResolvedKey | None]] = {}
        self._store_has_keys: tuple[float, bool] | None = None
        # Uncached keys (a flood of random ones included) reach the database at most this many at a time.
        self._db_slots = asyncio.Semaphore(16)

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
            else:
                self._store_seen = True
        elif self._store_seen:
            has = True  # the database was there and is gone: fail closed
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
            self._cache.move_to_end(digest)
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
            gone = getattr(self.store, "gone", None)
            if gone is not None and gone():
                raise KeyStoreUnavailable("the key database file was deleted, moved or replaced")
            if not self.store.exists():
                if self._store_seen:
                    raise KeyStoreUnavailable("the key database file is missing (deleted or moved)")
                found = None
            else:
                await self.store.open()
                self._store_seen = True
                found = await self.store.by_hash(digest)
        except Exception as exc:
            self.db_failures += 1
            if cached is not None and now - cached[0] < self.stale_s:
                log.warning("key store unreachable (%s); using a cached key entry", type(exc).__name__)
                return cached[1]
            raise KeyStoreUnavailable(str(exc) or type(exc).__name__) from exc
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
                    idempotent=rec.idempotent,
                    mode=rec.mode,
                    guardrails=tuple(rec.guardrails or ()),
                )
                if rec.expires_at is not None:
                    # Do not cache past the expiry.
                    now = min(now, now - self.ttl_s + max(0.0, rec.expires_at - time.time()))
        self._cache[digest] = (now, value)
        self._cache.move_to_end(digest)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)  # the least recently used entry, never the whole cache
        return value

    def invalidate(self) -> None:
        """Forget every cached entry (this replica only; others follow within ``ttl_s``)."""
        self._cache.clear()
        self._store_has_keys = None
