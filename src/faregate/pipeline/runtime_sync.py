"""Models and credentials added at run time, kept in step on every replica.

The admin API writes an entry to the database (``storage/runtime_config.py``), which bumps the
``runtime_config_version`` row in the same transaction, then calls ``refresh`` here: this
replica compiles the config file's models plus the runtime ones and swaps its snapshot at once.
Every other replica on the same database polls that one row every
``runtime_config.poll_interval_s`` (1 s by default, at most 5) and, when it moved, does the
same refresh: a change reaches every replica within one poll interval plus a compile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..catalogue import apply_catalogue
from ..config import ConfigError, GatewayConfig, merge_runtime
from ..core.tasks import cancel_task
from ..storage.db import DatabaseUnavailable
from ..storage.runtime_config import RuntimeConfigStore, SecretKeyMissing

log = logging.getLogger("faregate")

Apply = Callable[[GatewayConfig], Awaitable[Any]]


class RuntimeSync:
    """The runtime-config store of one replica, its poll, and the merge with the config file."""

    def __init__(self, base: GatewayConfig) -> None:
        self.base = base  # the config file as loaded: it stays the source for what it declares
        self.store: RuntimeConfigStore | None = None
        self.version = -1
        self._apply: Apply | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def start(self, apply: Apply) -> None:
        """Open the store, load what is there (a restart keeps the runtime models), start polling."""
        self._apply = apply
        try:
            self.store = await RuntimeConfigStore.open(self.base.database_url, self.base.secret_key)
        except DatabaseUnavailable as exc:
            log.error("runtime models unavailable (the database cannot be reached): %s", exc)
            return
        try:
            await self.refresh()
        except (ConfigError, SecretKeyMissing) as exc:  # e.g. a stored entry the file now contradicts
            log.error("runtime models not applied, serving the config file's: %s", exc)
        self._task = asyncio.create_task(self._poll(), name="faregate-runtime-sync")

    async def close(self) -> None:
        await cancel_task(self._task)
        self._task = None
        if self.store is not None:
            await self.store.close()
            self.store = None

    def _store(self) -> RuntimeConfigStore:
        if self.store is None:
            raise RuntimeError("the runtime config store is not started")
        return self.store

    async def merged(
        self,
        models: dict[str, dict[str, Any]] | None = None,
        providers: dict[str, dict[str, Any]] | None = None,
        experiments: dict[str, dict[str, Any]] | None = None,
    ) -> GatewayConfig:
        """The config the given (default: stored) runtime entries make, checked as a compile would."""
        store = self._store()
        models = await store.entries("model") if models is None else models
        providers = await store.entries("provider") if providers is None else providers
        experiments = await store.entries("experiment") if experiments is None else experiments
        config = merge_runtime(self.base, [{**m, "name": n} for n, m in models.items()], providers, experiments)
        apply_catalogue(config)  # a price in the wrong unit is refused before it is stored
        return config

    async def refresh(self) -> None:
        """Compile the stored entries with the config file and swap them in (once per version)."""
        async with self._lock:
            store = self._store()
            version = await store.version()
            if version == self.version:
                return
            try:
                config = await self.merged()
            except Exception:
                self.version = version  # retried at the next change, not at every poll
                raise
            if self._apply is not None and (version > 0 or config.models != self.base.models):
                await self._apply(config)
            self.version = version

    async def _poll(self) -> None:
        interval = self.base.runtime_config.poll_interval_s
        while True:
            await asyncio.sleep(interval)
            try:
                if await self._store().version() != self.version:
                    await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("runtime config poll failed; retrying")
