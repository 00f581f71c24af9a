"""The key store: keys and teams in the database, looked up by hash.

``KeyStore`` is the database side (create, list, revoke, rotate, update; teams). The hot path
that turns a raw key into a ``ResolvedKey`` is ``keys.resolver.KeyResolver``.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from ..storage.db import Database, sqlite_path
from .records import (
    KeyRecord,
    TeamRecord,
    clean_limits,
    clean_models,
    dump_json,
    key_from_row,
    team_from_row,
)
from .secret import display_prefix, generate_key, hash_key, new_key_id


class KeyStore:
    """Keys and teams in the database of ``database_url`` (sqlite or PostgreSQL)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.db: Database | None = None
        self._open = False
        self._lock = asyncio.Lock()
        self._file_id: tuple[int, int] | None = None  # (device, inode) of the SQLite file opened

    def _db(self) -> Database:
        if self.db is None:
            raise RuntimeError("KeyStore used before open()")
        return self.db

    def exists(self) -> bool:
        """False for a sqlite file not created yet (so merely serving never creates one)."""
        path = sqlite_path(self.url)
        return path is None or path == ":memory:" or os.path.exists(path)

    def gone(self) -> bool:
        """True when the SQLite file this store opened is no longer at its path (deleted, moved,
        or replaced by another file): a storage failure, whatever the open connection still reads."""
        if self._file_id is None:
            return False
        path = sqlite_path(self.url)
        assert path is not None
        try:
            st = os.stat(path)
        except OSError:
            return True
        return (st.st_dev, st.st_ino) != self._file_id

    async def open(self) -> KeyStore:
        if not self._open:
            async with self._lock:
                if not self._open:
                    db = await Database.open(self.url)
                    await db.migrate("keys")
                    self.db, self._open = db, True
                    path = sqlite_path(self.url)
                    if path and path != ":memory:":
                        st = os.stat(path)
                        self._file_id = (st.st_dev, st.st_ino)
        return self

    async def close(self) -> None:
        if self._open and self.db is not None:
            self._open = False
            await self._db().close()

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
        idempotent: bool = True,
        mode: str | None = None,
        guardrails: list[str] | None = None,
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
            idempotent=idempotent,
            mode=mode,
            guardrails=guardrails,
            key_hash=hash_key(raw),
        )
        await self._db().execute(
            "INSERT INTO fg_keys (id, key_hash, prefix, name, team, models, limits, created_at, expires_at, idempotent,"
            " mode, guardrails) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            rec.id,
            rec.key_hash,
            rec.prefix,
            rec.name,
            rec.team,
            dump_json(rec.models),
            dump_json(rec.limits),
            rec.created_at,
            rec.expires_at,
            rec.idempotent,
            rec.mode,
            dump_json(rec.guardrails),
        )
        return raw, rec

    async def get_key(self, key_id: str) -> KeyRecord | None:
        rows = await self._db().fetch("SELECT * FROM fg_keys WHERE id = $1", key_id)
        return key_from_row(rows[0]) if rows else None

    async def find_key(self, key_id_or_prefix: str) -> KeyRecord | None:
        """By id, or by display prefix when exactly one key has it."""
        rec = await self.get_key(key_id_or_prefix)
        if rec is not None:
            return rec
        rows = await self._db().fetch("SELECT * FROM fg_keys WHERE prefix = $1", key_id_or_prefix)
        return key_from_row(rows[0]) if len(rows) == 1 else None

    async def by_hash(self, digest: str) -> tuple[KeyRecord, TeamRecord | None] | None:
        rows = await self._db().fetch(
            "SELECT k.*, t.name AS t_name, t.models AS t_models, t.limits AS t_limits, t.created_at AS t_created "
            "FROM fg_keys k LEFT JOIN fg_teams t ON t.name = k.team WHERE k.key_hash = $1",
            digest,
        )
        if not rows:
            return None
        r = rows[0]
        team = None
        if r.get("t_name"):
            team = team_from_row(
                {"name": r["t_name"], "models": r["t_models"], "limits": r["t_limits"], "created_at": r["t_created"]}
            )
        return key_from_row(r), team

    async def list_keys(self, team: str | None = None, include_revoked: bool = True) -> list[KeyRecord]:
        if team is None:
            rows = await self._db().fetch("SELECT * FROM fg_keys ORDER BY created_at")
        else:
            rows = await self._db().fetch("SELECT * FROM fg_keys WHERE team = $1 ORDER BY created_at", team)
        recs = [key_from_row(r) for r in rows]
        return recs if include_revoked else [r for r in recs if r.revoked_at is None]

    async def count_keys(self) -> int:
        return int(await self._db().fetchval("SELECT COUNT(*) FROM fg_keys") or 0)

    async def revoke_key(self, key_id: str) -> bool:
        n = await self._db().execute(
            "UPDATE fg_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL", time.time(), key_id
        )
        return n > 0

    async def rotate_key(self, key_id: str) -> tuple[str, KeyRecord] | None:
        """A new secret for the same key (same id, limits and counters); the old one stops at once."""
        raw = generate_key()
        n = await self._db().execute(
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
        idempotent: bool | None = None,
        mode: Any = ...,
        guardrails: Any = ...,
    ) -> KeyRecord | None:
        """Change the given fields only (``...``, ``None``: leave as is). Limits merge; a ``None`` value clears one."""
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
        if idempotent is not None:
            rec.idempotent = idempotent
        if mode is not ...:
            rec.mode = mode
        if guardrails is not ...:
            rec.guardrails = guardrails
        await self._db().execute(
            "UPDATE fg_keys SET name = $1, team = $2, models = $3, limits = $4, expires_at = $5, idempotent = $6, "
            "mode = $7, guardrails = $8 WHERE id = $9",
            rec.name,
            rec.team,
            dump_json(rec.models),
            dump_json(rec.limits),
            rec.expires_at,
            rec.idempotent,
            rec.mode,
            dump_json(rec.guardrails),
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
            await self._db().execute(
                "INSERT INTO fg_teams (name, models, limits, created_at) VALUES ($1, $2, $3, $4)",
                team.name,
                dump_json(team.models),
                dump_json(team.limits),
                team.created_at,
            )
        else:
            await self._db().execute(
                "UPDATE fg_teams SET models = $1, limits = $2 WHERE name = $3",
                dump_json(team.models),
                dump_json(team.limits),
                team.name,
            )
        return team

    async def get_team(self, name: str) -> TeamRecord | None:
        rows = await self._db().fetch("SELECT * FROM fg_teams WHERE name = $1", name)
        return team_from_row(rows[0]) if rows else None

    async def list_teams(self) -> list[TeamRecord]:
        return [team_from_row(r) for r in await self._db().fetch("SELECT * FROM fg_teams ORDER BY name")]

    async def delete_team(self, name: str) -> bool:
        return await self._db().execute("DELETE FROM fg_teams WHERE name = $1", name) > 0
