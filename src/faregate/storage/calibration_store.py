"""Calibration published to the request-log database (migration 018's ``calibrations``).

``faregate calibrate --from-log --publish`` appends one row (the whole calibration as JSON);
the newest row is the fleet's calibration. Replicas poll ``latest_seq`` (one indexed read) and
load the body only when it moved (``learning/shared_calibration.py``).
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from .db import Database


class CalibrationStore:
    """Append and read the published calibrations."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @classmethod
    async def open(cls, database_url: str) -> CalibrationStore:
        db = await Database.open(database_url)
        await db.migrate("request_log")
        return cls(db)

    async def close(self) -> None:
        await self.db.close()

    async def publish(self, calibration: dict[str, Any], origin: str) -> int:
        """Store a calibration as the fleet's newest; returns its sequence number."""
        await self.db.execute(
            "INSERT INTO calibrations (origin, body, at) VALUES ($1, $2, $3)",
            origin,
            orjson.dumps(calibration).decode(),
            time.time(),
        )
        return await self.latest_seq()

    async def latest_seq(self) -> int:
        return int(await self.db.fetchval("SELECT COALESCE(MAX(seq), 0) FROM calibrations") or 0)

    async def latest(self) -> tuple[int, dict[str, Any]] | None:
        r = await self.db.fetchrow("SELECT seq, body FROM calibrations ORDER BY seq DESC LIMIT 1")
        return None if r is None else (int(r["seq"]), orjson.loads(r["body"]))
