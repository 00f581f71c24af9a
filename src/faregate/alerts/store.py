"""Alert channels and rules added through the admin API, and the history of every alert sent.

Kept in the request-log database (migration ``request_log/005_alerts.sql``); the config's own
channels and rules are not stored (they come from the file at every start).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson

from ..config import ChannelConfig, RuleConfig
from ..storage.db import Database


class AlertStore:
    """Opens its own connection to the request-log database on first use."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._db: Database | None = None

    async def db(self) -> Database:
        if self._db is None:
            db = await Database.open(self.url)
            try:
                await db.migrate("request_log")
            except Exception:
                await db.close()
                raise
            self._db = db
        return self._db

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    # -- channels and rules ---------------------------------------------------------------

    async def channels(self) -> list[ChannelConfig]:
        rows = await (await self.db()).fetch("SELECT spec FROM alert_channel ORDER BY created_at, id")
        return [ChannelConfig.model_validate(orjson.loads(r["spec"])) for r in rows]

    async def rules(self) -> list[RuleConfig]:
        rows = await (await self.db()).fetch("SELECT spec FROM alert_rule ORDER BY created_at, id")
        return [RuleConfig.model_validate(orjson.loads(r["spec"])) for r in rows]

    async def put_channel(self, channel: ChannelConfig) -> None:
        await self._put("alert_channel", channel.id, channel.model_dump(mode="json"))

    async def put_rule(self, rule: RuleConfig) -> None:
        await self._put("alert_rule", rule.id, rule.model_dump(mode="json"))

    async def _put(self, table: str, id_: str, spec: dict[str, Any]) -> None:
        db = await self.db()
        await db.execute(f"DELETE FROM {table} WHERE id = $1", id_)
        await db.execute(
            f"INSERT INTO {table} (id, spec, created_at) VALUES ($1, $2, $3)",
            id_,
            orjson.dumps(spec).decode(),
            time.time(),
        )

    async def delete(self, table: str, id_: str) -> bool:
        assert table in ("alert_channel", "alert_rule")
        return bool(await (await self.db()).execute(f"DELETE FROM {table} WHERE id = $1", id_))

    # -- history --------------------------------------------------------------------------

    async def record(
        self,
        *,
        rule: str | None,
        channel: str,
        event: str,
        subject: str | None,
        outcome: str,
        attempts: int,
        error: str | None,
        message: str,
    ) -> None:
        await (await self.db()).execute(
            "INSERT INTO alert_history (id, ts, rule, channel, event, subject, outcome, attempts, error, message) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            uuid.uuid4().hex,
            time.time(),
            rule,
            channel,
            event,
            subject,
            outcome,
            attempts,
            (error or "")[:500] or None,
            message[:1000],
        )

    async def history(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = await (await self.db()).fetch(
            "SELECT ts, rule, channel, event, subject, outcome, attempts, error, message FROM alert_history "
            "ORDER BY ts DESC LIMIT $1",
            limit,
        )
        return [dict(r) for r in rows]
