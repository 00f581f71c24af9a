"""Deployment watch: breaker transitions and upstream failures logged as they happen.

The breaker and the executor are not instrumented; a short periodic task reads each
deployment's breaker state and failure count (``source`` gives them, as ``BreakerReading``s)
and logs what changed since the last look. The same readings feed ``faregate_breaker_state``
at scrape time and the ``breaker_open`` alert rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable

from ..core.redact import redact
from .access_log import flush_access
from .metrics import BreakerReading

log = logging.getLogger("faregate.upstream")


class DeploymentWatch:
    """Polls ``source`` every ``interval_s`` seconds; long-lived (one per gateway)."""

    def __init__(self, interval_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self.source: Callable[[], Iterable[BreakerReading]] = tuple
        self.secrets: frozenset[str] = frozenset()
        self._states: dict[str, str] = {}
        self._failures: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None

    def readings(self) -> list[BreakerReading]:
        return list(self.source())

    def poll(self) -> None:
        """Log every breaker transition and every new upstream failure since the last poll."""
        for r in self.readings():
            before = self._states.get(r.deployment)
            if before is not None and before != r.state:
                lvl = logging.WARNING if r.state == "open" else logging.INFO
                log.log(lvl, "breaker %s -> %s: deployment %s (model %s)", before, r.state, r.deployment, r.model)
            self._states[r.deployment] = r.state
            seen = self._failures.get(r.deployment)
            if seen is not None and r.failures > seen:
                log.warning(
                    "upstream failure x%d: deployment %s (%s): %s",
                    r.failures - seen,
                    r.deployment,
                    r.last_error_kind or "error",
                    redact((r.last_error or "")[:300], self.secrets),
                )
            self._failures[r.deployment] = r.failures

    async def _run(self) -> None:
        while True:
            flush_access()  # the access lines of the last second
            try:
                self.poll()
            except Exception:  # a reading must never stop the watch
                log.exception("deployment watch failed")
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="faregate-deployment-watch")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
