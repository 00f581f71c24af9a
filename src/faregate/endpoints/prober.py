"""Active health probes: a background task that calls unhealthy deployments with a one-token request.

Only deployments whose circuit is OPEN or HALF_OPEN are probed, each at most every
``breaker.probe_interval_s`` of its model (off by default: a probe is a billed request). A
probe's result feeds the deployment's breaker (see ``probe``). A probe's error is redacted by
the snapshot's ``Redactor`` where it is captured, before the deployment, its last probe or its
breaker keep it (an upstream may echo the credentials it was sent).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Sequence

from ..config import ModelConfig, ProberConfig
from ..core.embeddings import embedding_request
from ..core.errors import GatewayError, UpstreamError
from ..core.redact import Redactor
from ..core.types import ChatRequest
from .breaker import CLOSED, OPEN
from .deployments import Deployment, DeploymentRegistry
from .http import HttpPool
from .transport import post

log = logging.getLogger("faregate")


class HealthProber:
    """Probes the deployments of the models that ask for it (``breaker.probe_interval_s``)."""

    def __init__(
        self,
        registry: DeploymentRegistry,
        pool: HttpPool,
        models: Sequence[ModelConfig],
        config: ProberConfig | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self.registry = registry
        self.redactor = redactor or Redactor()
        self.pool = pool
        self.config = config or ProberConfig()
        self._intervals: list[tuple[str, float]] = []  # (model name, probe interval) of each model that probes
        for m in models:
            interval = m.breaker.probe_interval_s
            if m.breaker.enabled and interval:
                self._intervals.append((m.name, interval))
        self._embedders = frozenset(m.name for m in models if m.mode == "embedding")
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        """Start the background task when a model asks for probes (once)."""
        if self.task is None and self._intervals:
            self.task = asyncio.create_task(self._loop(), name="faregate-health-probes")

    async def close(self) -> None:
        """Stop the background task; waits for it to end."""
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
            self.task = None

    async def probe(self, dep: Deployment) -> bool:
        """Call ``dep`` with a one-token request; feed the result to its breaker.

        OPEN and it answers: HALF_OPEN at once (real traffic then confirms it). HALF_OPEN: the
        probe takes a probe slot and counts like any call. CLOSED deployments are not probed.
        """
        br = dep.breaker
        if br is None or br.state == CLOSED:
            return True
        name = dep.target.model_name
        req = (  # an embedding model has no chat endpoint: it is probed with a one-word embedding
            embedding_request(name, ["ping"])
            if name in self._embedders
            else ChatRequest(model=name, messages=[{"role": "user", "content": "ping"}], max_tokens=1)
        )
        permit = None
        if br.state != OPEN:
            permit = br.acquire()
            if permit is None:
                return False  # its probe slots are taken by real traffic
        deadline = time.monotonic() + dep.timeouts.connect + dep.timeouts.ttfb
        ok, error = True, None
        try:
            await post(self.pool, dep, req, deadline)
        except UpstreamError as err:
            ok, error = err.kind in ("client", "context_length"), self.redactor.error(err).message
            if not ok:
                dep.last_error, dep.last_error_kind, dep.last_error_at = error, err.kind, time.time()
        except GatewayError as err:
            ok, error = False, self.redactor.error(err).message
        dep.last_probe = {"at": time.time(), "ok": ok, "error": error}
        if permit is not None:
            br.record_success(permit) if ok else br.record_failure(error, permit)
        elif ok:
            br.force_half_open()
        return ok

    def _tick_s(self) -> float:
        shortest = min(interval for _, interval in self._intervals)
        return max(self.config.min_tick_s, shortest * self.config.tick_share)

    async def _loop(self) -> None:
        due: dict[str, float] = {}
        tick = self._tick_s()
        while True:
            now = time.monotonic()
            batch: list[Awaitable[bool]] = []
            for name, interval in self._intervals:
                for dep in self.registry.deployments(name):
                    if dep.breaker is None or dep.breaker.state == CLOSED or due.get(dep.id, 0.0) > now:
                        continue
                    due[dep.id] = now + interval
                    batch.append(self.probe(dep))
            if batch:
                for res in await asyncio.gather(*batch, return_exceptions=True):
                    if isinstance(res, Exception):
                        log.warning("health probe failed: %r", res)
            await asyncio.sleep(tick)
