"""The calibration every replica routes with, kept in step through the database.

``faregate calibrate --from-log --publish`` stores a calibration in the request-log database
(``storage/calibration_store.py``). Each replica polls the newest row's number every
``runtime_config.poll_interval_s`` (1 s) and, when it moved, loads the body and swaps it in:
a published calibration reaches every replica within about one interval, and a (re)started
replica starts with it. Until one is published, the ``calibration_file`` of the config is used;
once one is, the published one wins (it is the newer measurement of the same fleet).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..core.tasks import cancel_task
from ..storage.calibration_store import CalibrationStore
from ..storage.db import DatabaseUnavailable

log = logging.getLogger("faregate.learning")


class SharedCalibration:
    """One replica's view of the published calibration (``current``: None until one is)."""

    def __init__(self, database_url: str, interval_s: float = 1.0) -> None:
        self.url = database_url
        self.interval_s = interval_s
        self.store: CalibrationStore | None = None
        self.seq = 0
        self.current: dict[str, Any] | None = None
        self._task: asyncio.Task[None] | None = None

    def get(self) -> dict[str, Any] | None:
        """What the planner reads on every request: a plain attribute, no I/O."""
        return self.current

    async def start(self) -> None:
        try:
            self.store = await CalibrationStore.open(self.url)
        except DatabaseUnavailable as exc:
            log.error("published calibration not read (the database cannot be reached): %s", exc)
            return
        await self.poll()
        self._task = asyncio.create_task(self._run(), name="faregate-calibration-sync")

    async def close(self) -> None:
        await cancel_task(self._task)
        self._task = None
        if self.store is not None:
            await self.store.close()
            self.store = None

    async def poll(self) -> bool:
        """Load the newest calibration if it moved; True when it changed."""
        if self.store is None or await self.store.latest_seq() == self.seq:
            return False
        got = await self.store.latest()
        if got is None:
            return False
        self.seq, self.current = got
        log.info("calibration %d applied (%d models)", self.seq, len(self.current))
        return True

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading the published calibration failed; retrying")
