"""The gateway's long-lived services: built once at start-up, shared by every config snapshot.

A service outlives config swaps (its state must not be lost when models change): the key
resolver and its cache, the limit store and its counters, the request-log writer, the learner,
the shared HTTP pool. Steps and routes are handed the services they use; none looks one up by
name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..alerts.evaluator import AlertService
from ..alerts.rules import Facts
from ..cache.purge_sync import PurgeSync
from ..cache.service import CacheService
from ..config import GatewayConfig
from ..endpoints.http import HttpPool
from ..endpoints.transport_reqwest import fast_calls
from ..learning.loop import LearningLoop
from ..learning.shared_calibration import SharedCalibration
from ..learning.shared_state import SharedLearning
from ..limits.base import LimitStore, open_limit_store
from ..observability.events import UpstreamEvents
from ..observability.metrics import GatewayMetrics, LogReading
from ..storage.log_spill import pending as spill_pending
from ..storage.request_log import LogWriter
from .auth_step import KeyAuth
from .budgets import budget_of
from .limits_restore import restore_from_log
from .runtime_sync import RuntimeSync

if TYPE_CHECKING:  # the OpenTelemetry SDK comes with it: imported only when tracing is on
    from ..observability.tracing import Tracing

log = logging.getLogger("faregate")


@dataclass(slots=True)
class LimitStats:
    """What the limits step counted, for ``GET /admin/limits``."""

    refused: int = 0
    soft_alerts: int = 0


@dataclass(slots=True)
class Services:
    """Typed handles on everything a request or an admin route may need beyond its snapshot."""

    pool: HttpPool
    auth: KeyAuth  # gateway keys from config and the key store, with their cache
    limit_store: LimitStore
    limit_stats: LimitStats = field(default_factory=LimitStats)
    request_log: LogWriter | None = None  # None: the request log is off (``database_url: ""``)
    learner: LearningLoop | None = None  # None: ``learning.enabled: false``
    shared_learning: SharedLearning | None = None  # None: no database, or ``learning.shared: false``
    calibration: SharedCalibration | None = None  # the published calibration; None: no database
    # The request log the spend counters are rebuilt from at start when the limit store forgets.
    spend_log_url: str = ""
    cache: CacheService | None = None  # None: ``cache.enabled: false``
    _started: bool = False
    runtime_sync: RuntimeSync | None = None  # None: no database, or ``runtime_config.enabled: false``
    # Observability and alerts (``observability/``, ``alerts/``): None when switched off.
    metrics: GatewayMetrics | None = None
    tracing: Tracing | None = None
    events: UpstreamEvents | None = None  # upstream failures and breaker transitions, as they happen
    alerts: AlertService | None = None

    @classmethod
    def build(cls, config: GatewayConfig) -> Services:
        lc = config.limits
        store = open_limit_store(
            config.redis_url, timeout_s=lc.redis_timeout_ms / 1000, failure_policy=lc.redis_failure_policy
        )
        learner = None
        if config.learning.enabled:
            learner = LearningLoop(
                explore_rate=config.learning.explore_rate,
                retry_window_s=config.learning.retry_window_s,
                retry_min_gap_s=config.learning.retry_min_gap_s,
                retry_weight=config.learning.retry_weight,
                max_retry_signals=config.learning.max_retry_signals,
                max_signal_move=config.learning.max_signal_move,
                max_explore_shift=config.learning.max_explore_shift,
            )
        request_log = LogWriter(config.database_url, config.log_writer) if config.database_url else None
        cache = None
        if config.cache.enabled:
            shared = request_log.database if request_log is not None else None
            cache = CacheService.build(config.cache, config.database_url, shared)
            if config.database_url:
                cache.purges = PurgeSync(cache, config.database_url, config.cache.index_refresh_s)
        shared_learning = None
        if learner is not None and config.database_url and config.learning.shared:
            shared_learning = SharedLearning(learner, config.database_url, config.learning.sync_interval_s)
        rc = config.runtime_config
        services = cls(
            shared_learning=shared_learning,
            calibration=SharedCalibration(config.database_url, rc.poll_interval_s) if config.database_url else None,
            pool=HttpPool(config.http_pool, fast_calls(config.http_pool)),
            auth=KeyAuth(config),
            limit_store=store,
            request_log=request_log,
            learner=learner,
            spend_log_url=config.database_url,
            runtime_sync=RuntimeSync(config) if config.database_url and config.runtime_config.enabled else None,
            cache=cache,
        )
        services._build_observability(config)
        return services

    def _build_observability(self, config: GatewayConfig) -> None:
        events = self.events = UpstreamEvents()
        if config.metrics.enabled:
            self.metrics = events.metrics = GatewayMetrics(breakers=events.readings, log=self._log_reading)
        if config.tracing.enabled:
            from ..observability.tracing import Tracing

            self.tracing = Tracing(config.tracing)
        if config.alerts.enabled and self.request_log is not None:
            facts = Facts(
                breakers=lambda: [(r.deployment, r.state) for r in events.readings()],
                spilling=self._spilling,
                budget_of=lambda scope, value: budget_of(config, self.auth.store, scope, value),
            )
            self.alerts = AlertService(config.alerts, config.database_url, facts)
            self.alerts.flush = self.request_log.flush

    def _log_reading(self) -> LogReading | None:
        w = self.request_log
        return None if w is None else LogReading(w.pending, w.spilled, w.dropped, w.written)

    def _spilling(self) -> bool:
        return self.request_log is not None and spill_pending(self.request_log.spill_path)

    async def start(self) -> None:
        if self._started:
            return
        await self.pool.start()
        if self.request_log is not None:
            await self.request_log.start()
        await self.auth.start()
        await self.limit_store.start()
        await restore_from_log(self.limit_store, self.spend_log_url)
        if self.alerts is not None:
            self.alerts.start()
        if self.cache is not None:
            await self.cache.start()
            if self.cache.purges is not None:
                await self.cache.purges.start()
        if self.shared_learning is not None:
            await self.shared_learning.start()
        if self.calibration is not None:
            await self.calibration.start()
        self._started = True
        if self.auth.open:
            log.warning("no gateway keys configured: every caller is accepted")

    async def close(self) -> None:
        """Close in the reverse order; the request log last but one, so it flushes what the others logged."""
        if not self._started:
            return
        self._started = False
        sync = [self.runtime_sync.close] if self.runtime_sync is not None else []
        if self.shared_learning is not None:
            sync.append(self.shared_learning.close)
        if self.calibration is not None:
            sync.append(self.calibration.close)
        for closer in (
            *sync,
            self._close_cache,
            self._close_observability,
            self.limit_store.close,
            self.auth.close,
            self._close_log,
            self.pool.close,
        ):
            try:
                await closer()
            except Exception:
                log.exception("closing a gateway service failed")

    async def _close_observability(self) -> None:
        if self.alerts is not None:
            await self.alerts.close()
        if self.tracing is not None:
            self.tracing.close()  # flushes the spans not exported yet

    async def _close_cache(self) -> None:
        if self.cache is not None:
            if self.cache.purges is not None:
                await self.cache.purges.close()
            await self.cache.close()

    async def _close_log(self) -> None:
        if self.request_log is not None:
            await self.request_log.close()
