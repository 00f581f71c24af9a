"""Dashboard logins: signed session cookies, roles and CSRF tokens.

A session is a cookie ``v1.<role>.<expiry>.<nonce>.<credential tag>.<signature>``, signed with
HMAC-SHA256 under a key derived from the master key: nothing is stored server-side, replicas
share sessions, and changing the master key ends every session. The credential tag (the first
bytes of the login credential's hash) ties a viewer session to a ``viewer_keys`` entry still in
the config. The CSRF token of a session is an HMAC of its nonce, so a form posted from another
site (which cannot read the page) cannot carry it. Logout remembers the nonce until the cookie
would have expired, in this process and in the ``dashboard_logout`` table of the request-log
database; every replica re-reads that table at most ``SYNC_S`` seconds apart (before a
dashboard request), so a logout on one replica ends the session on all of them within that
bound (the cookie is also cleared in the browser).

Roles: ``admin`` (the master key: everything, prompt text when bodies are logged, changes) and
``viewer`` (a ``dashboard.viewer_keys`` entry: numbers only). Gateway keys never log in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from ..config import GatewayConfig
from ..server.master_key import is_master_key
from ..storage.db import Database

COOKIE = "faregate_dashboard"
ADMIN, VIEWER = "admin", "viewer"


@dataclass(frozen=True, slots=True)
class Session:
    """A verified login: its role, expiry (epoch seconds), nonce and CSRF token."""

    role: str
    expires_at: float
    nonce: str
    csrf: str

    @property
    def admin(self) -> bool:
        return self.role == ADMIN


def _tag(credential: str) -> str:
    return hashlib.sha256(credential.encode("utf-8", "surrogatepass")).hexdigest()[:16]


class Sessions:
    """Issues and verifies the cookies of one gateway config (see the module docstring)."""

    # How stale another replica's logout may be here: a re-read of a small table this often.
    SYNC_S = 1.0

    def __init__(self) -> None:
        self._ended: dict[str, float] = {}  # nonce -> expiry, for logged-out sessions (this process)
        self._shared: frozenset[str] = frozenset()  # nonces logged out anywhere, as last read
        self._synced_at = float("-inf")

    async def sync(self, db: Database, now: float | None = None) -> None:
        """Re-read the logouts of every replica when the last read is older than ``SYNC_S``."""
        now = time.time() if now is None else now
        if now - self._synced_at < self.SYNC_S:
            return
        self._synced_at = now  # set first: concurrent requests do not all re-read
        rows = await db.fetch("SELECT nonce FROM dashboard_logout WHERE expires_at > $1", now)
        self._shared = frozenset(r["nonce"] for r in rows)

    @staticmethod
    def _key(cfg: GatewayConfig) -> bytes | None:
        if not cfg.master_key:
            return None
        return hashlib.sha256(
            b"faregate-dashboard-session\0" + cfg.master_key.encode("utf-8", "surrogatepass")
        ).digest()

    @staticmethod
    def role_of(cfg: GatewayConfig, credential: str) -> tuple[str, str] | None:
        """(role, credential tag) of a login credential, or None (gateway keys included)."""
        if not credential or not cfg.master_key:
            return None
        if is_master_key(credential, cfg.master_key):
            return ADMIN, _tag(credential)
        found = None
        for viewer in cfg.dashboard.viewer_keys:  # every entry compared: the time tells nothing
            if is_master_key(credential, viewer):
                found = (VIEWER, _tag(credential))
        return found

    def issue(self, cfg: GatewayConfig, role: str, tag: str, now: float | None = None) -> str:
        key = self._key(cfg)
        assert key is not None, "a login needs a master key"
        expires = int((time.time() if now is None else now) + cfg.dashboard.session_ttl_s)
        payload = f"v1.{role}.{expires}.{secrets.token_hex(16)}.{tag}"
        return payload + "." + hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()

    def verify(self, cfg: GatewayConfig, cookie: str | None, now: float | None = None) -> Session | None:
        key = self._key(cfg)
        if key is None or not cookie or len(cookie) > 400:
            return None
        payload, _, sig = cookie.rpartition(".")
        want = hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(sig.encode(), want.encode()):
            return None
        parts = payload.split(".")
        if len(parts) != 5 or parts[0] != "v1" or parts[1] not in (ADMIN, VIEWER) or not parts[2].isdigit():
            return None
        _, role, expires, nonce, tag = parts
        now = time.time() if now is None else now
        if int(expires) <= now or nonce in self._ended or nonce in self._shared:
            return None
        if role == VIEWER and tag not in {_tag(v) for v in cfg.dashboard.viewer_keys}:
            return None  # that viewer key was removed from the config
        if role == ADMIN and tag != _tag(cfg.master_key or ""):
            return None
        csrf = hmac.new(key, b"csrf." + nonce.encode(), hashlib.sha256).hexdigest()[:32]
        return Session(role, float(expires), nonce, csrf)

    async def end(self, session: Session, db: Database | None = None, now: float | None = None) -> None:
        """End a session here at once and, with the database, on every replica (see ``sync``)."""
        now = time.time() if now is None else now
        self._ended = {n: e for n, e in self._ended.items() if e > now}
        self._ended[session.nonce] = session.expires_at
        if db is None:
            return
        await db.execute("DELETE FROM dashboard_logout WHERE expires_at <= $1", now)
        await db.execute(
            "INSERT INTO dashboard_logout (nonce, expires_at) VALUES ($1, $2) ON CONFLICT (nonce) DO NOTHING",
            session.nonce,
            session.expires_at,
        )


def csrf_ok(session: Session, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(session.csrf.encode(), (given or "").encode())
