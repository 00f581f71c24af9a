"""The gateway's long-lived services: built once at start-up, shared by every config snapshot.

A service outlives config swaps (its state must not be lost when models change): the key
resolver and its cache, the limit store and its counters, the request-log writer, the learner,
the shared HTTP pool. Steps and routes are handed the services they use; none looks one up by
name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ..cache.service import CacheService
from ..config import GatewayConfig
from ..endpoints.http import HttpPool
from ..learning.loop import LearningLoop
from ..limits.base import LimitStore, open_limit_store
from ..storage.request_log import LogWriter
from .auth_step import KeyAuth

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
    cache: CacheService | None = None  # None: ``cache.enabled: false``
    _started: bool = False

    @classmethod
    def build(cls, config: GatewayConfig) -> Services:
        lc = config.limits
        store = open_limit_store(
            config.redis_url, timeout_s=lc.redis_timeout_ms / 1000, failure_policy=lc.redis_failure_policy
        )
        learner = None
        if config.learning.enabled:
            learner = LearningLoop(
                explore_rate=config.learning.explore_rate, retry_window_s=config.learning.retry_window_s
            )
        request_log = LogWriter(config.database_url, config.log_writer) if config.database_url else None
        cache = None
        if config.cache.enabled:
            shared = request_log.database if request_log is not None else None
            cache = CacheService.build(config.cache, config.database_url, shared)
        return cls(
            pool=HttpPool(config.http_pool),
            auth=KeyAuth(config),
            limit_store=store,
            request_log=request_log,
            learner=learner,
            cache=cache,
        )

    async def start(self) -> None:
        if self._started:
            return
        await self.pool.start()
        if self.request_log is not None:
            await self.request_log.start()
        await self.auth.start()
        await self.limit_store.start()
        if self.cache is not None:
            await self.cache.start()
        self._started = True
        if self.auth.open:
            log.warning("no gateway keys configured: every caller is accepted")

    async def close(self) -> None:
        """Close in the reverse order; the request log last but one, so it flushes what the others logged."""
        if not self._started:
            return
        self._started = False
        for closer in (self._close_cache, self.limit_store.close, self.auth.close, self._close_log, self.pool.close):
            try:
                await closer()
            except Exception:
                log.exception("closing a gateway service failed")

    async def _close_cache(self) -> None:
        if self.cache is not None:
            await self.cache.close()

    async def _close_log(self) -> None:
        if self.request_log is not None:
            await self.request_log.close()
