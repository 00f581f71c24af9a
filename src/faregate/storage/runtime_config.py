"""Runtime models and provider credentials in the request-log database (migration 003).

Each entry is stored as its public JSON (``body``) and its secrets (API keys, header values)
encrypted apart (``secret``, Fernet from the ``cryptography`` library). The key comes from
``FAREGATE_SECRET_KEY`` (any string; a Fernet key is derived from its SHA-256). Without it, on
SQLite a key is generated once into ``<database file>.key`` (mode 0600) with a warning; on
PostgreSQL credentials are refused until it is set (the database may be shared, the file not).
Every change bumps ``runtime_config_version`` and writes an ``config_audit`` row in the same
transaction, so a replica polling the version sees a complete change.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from .db import Database, sqlite_path

if TYPE_CHECKING:  # imported when a secret is first sealed or opened: about 8 MiB most gateways never need
    from cryptography.fernet import Fernet

log = logging.getLogger("faregate")

KINDS = {"model": "runtime_models", "provider": "runtime_providers", "experiment": "runtime_experiments"}


class SecretKeyMissing(Exception):
    """Credentials cannot be stored (or read) without a secret key; the message says how to set one."""


def _fernet(secret: str) -> Fernet:
    from cryptography.fernet import Fernet

    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()))


class SecretBox:
    """Encrypts and decrypts the secret part of an entry."""

    def __init__(self, database_url: str, secret_key: str | None) -> None:
        self._url = database_url
        self._fernet = _fernet(secret_key) if secret_key else None

    def _key_file(self) -> Path | None:
        path = sqlite_path(self._url)
        if path is None or path == ":memory:":
            return None
        return Path(path + ".key")

    def _get(self, create: bool) -> Fernet:
        if self._fernet is not None:
            return self._fernet
        if sqlite_path(self._url) is None:
            raise SecretKeyMissing(
                "Storing provider credentials needs FAREGATE_SECRET_KEY on a shared database (PostgreSQL): "
                "set it to the same secret on every replica."
            )
        key_file = self._key_file()
        if key_file is None:  # an in-memory database: its secrets die with the process anyway
            self._fernet = _fernet(uuid.uuid4().hex)
            return self._fernet
        if not key_file.exists():
            if not create:
                raise SecretKeyMissing(f"the secret key file {key_file} is gone: set FAREGATE_SECRET_KEY")
            from cryptography.fernet import Fernet

            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(Fernet.generate_key().decode())
            log.warning(
                "FAREGATE_SECRET_KEY is not set: generated a key into %s to encrypt provider credentials; "
                "keep it with the database, or set FAREGATE_SECRET_KEY",
                key_file,
            )
        self._fernet = _fernet(key_file.read_text().strip())
        return self._fernet

    def seal(self, secrets: dict[str, Any]) -> str | None:
        if not secrets:
            return None
        return self._get(create=True).encrypt(orjson.dumps(secrets)).decode()

    def open(self, token: str | None) -> dict[str, Any]:
        if not token:
            return {}
        from cryptography.fernet import InvalidToken

        try:
            return orjson.loads(self._get(create=False).decrypt(token.encode()))
        except InvalidToken:
            raise SecretKeyMissing("stored credentials do not decrypt with this FAREGATE_SECRET_KEY") from None


def split_secrets(entry: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(public part, secret part) of a model or provider entry: API keys and header values are secret."""
    public = {k: v for k, v in entry.items() if k not in ("api_key", "headers")}
    secret = {k: entry[k] for k in ("api_key", "headers") if entry.get(k)}
    if isinstance(entry.get("headers"), dict) and entry["headers"]:
        public["headers"] = sorted(entry["headers"])  # names only
    deps = entry.get("deployments")
    if isinstance(deps, list):
        public["deployments"], dep_secrets = [], {}
        for j, d in enumerate(deps):
            pub, sec = split_secrets(d) if isinstance(d, dict) else (d, {})
            public["deployments"].append(pub)
            if sec:
                dep_secrets[str(j)] = sec
        if dep_secrets:
            secret["deployments"] = dep_secrets
    return public, secret


def join_secrets(public: dict[str, Any], secret: dict[str, Any]) -> dict[str, Any]:
    """The entry as it was given, from its two parts."""
    entry = {k: v for k, v in public.items() if k not in ("headers", "deployments")}
    entry.update({k: secret[k] for k in ("api_key", "headers") if k in secret})
    if isinstance(public.get("deployments"), list):
        deps = secret.get("deployments", {})
        entry["deployments"] = [
            join_secrets(d, deps.get(str(j), {})) if isinstance(d, dict) else d
            for j, d in enumerate(public["deployments"])
        ]
    return entry


def secret_names(secret: dict[str, Any], prefix: str = "") -> list[str]:
    """The names of the secrets set (``api_key``, ``headers.x-foo``, ``deployments.0.api_key``), never values."""
    out = []
    if "api_key" in secret:
        out.append(prefix + "api_key")
    out += [f"{prefix}headers.{h}" for h in sorted(secret.get("headers") or {})]
    for j, d in sorted((secret.get("deployments") or {}).items()):
        out += secret_names(d, f"{prefix}deployments.{j}.")
    return out


class RuntimeConfigStore:
    """The tables of migration 003 on one database connection."""

    def __init__(self, db: Database, box: SecretBox) -> None:
        self.db, self.box = db, box

    @classmethod
    async def open(cls, database_url: str, secret_key: str | None) -> RuntimeConfigStore:
        db = await Database.open(database_url)
        await db.migrate("request_log")
        return cls(db, SecretBox(database_url, secret_key))

    async def close(self) -> None:
        await self.db.close()

    async def version(self) -> int:
        return int(await self.db.fetchval("SELECT version FROM runtime_config_version WHERE id = 1") or 0)

    async def entries(self, kind: str) -> dict[str, dict[str, Any]]:
        """name -> the full entry (secrets decrypted), in name order."""
        rows = await self.db.fetch(f"SELECT name, body, secret FROM {KINDS[kind]} ORDER BY name")
        return {r["name"]: join_secrets(orjson.loads(r["body"]), self.box.open(r["secret"])) for r in rows}

    async def public(self, kind: str) -> list[dict[str, Any]]:
        """Every entry without its secrets (only their names, under ``secrets``)."""
        out = []
        for name, entry in (await self.entries(kind)).items():
            pub, sec = split_secrets(entry)
            out.append({**pub, "name": name, "secrets": secret_names(sec)})
        return out

    async def put(self, kind: str, name: str, entry: dict[str, Any], *, actor: str, action: str) -> None:
        public, secret = split_secrets(entry)
        sealed = self.box.seal(secret)
        now = time.time()
        upsert = (
            f"INSERT INTO {KINDS[kind]} (name, body, secret, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) "
            "ON CONFLICT (name) DO UPDATE SET body = excluded.body, secret = excluded.secret, "
            "updated_at = excluded.updated_at"
        )
        detail = {**public, "secrets": secret_names(secret)}
        await self._change(
            [(upsert, [(name, orjson.dumps(public).decode(), sealed, now)])], kind, name, actor, action, detail
        )

    async def delete(self, kind: str, name: str, *, actor: str) -> None:
        await self._change(
            [(f"DELETE FROM {KINDS[kind]} WHERE name = $1", [(name,)])], kind, name, actor, "delete", None
        )

    async def _change(
        self, statements: list[Any], kind: str, name: str, actor: str, action: str, detail: dict[str, Any] | None
    ) -> None:
        audit = (
            "INSERT INTO config_audit (id, ts, actor, action, kind, name, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        )
        row = (
            uuid.uuid4().hex,
            time.time(),
            actor,
            action,
            kind,
            name,
            orjson.dumps(detail).decode() if detail else None,
        )
        bump = ("UPDATE runtime_config_version SET version = version + 1 WHERE id = $1", [(1,)])
        await self.db.batch([*statements, bump, (audit, [row])])

    async def audit(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = await self.db.fetch(
            "SELECT ts, actor, action, kind, name, detail FROM config_audit ORDER BY ts DESC LIMIT $1", limit
        )
        return [{**r, "detail": orjson.loads(r["detail"]) if r["detail"] else None} for r in rows]
