"""``redis://``: entries shared by every replica, with a short timeout and a pause after a failure.

An entry is ``<prefix><key>`` with a TTL; ``<prefix>rid:<request id>`` points at the entry the
request filled (for deleting by request id); ``<prefix>semantic`` is a sorted set of the keys of
entries that also answer similar prompts, scored by until when (what rebuilds the semantic
index after a restart). Writes are queued and sent in pipelined batches by one background task
(no task per entry). Any error or a wait over ``timeout_s`` raises
``LayerDown``, and for ``retry_s`` afterwards the layer answers ``LayerDown`` at once instead of
trying again, so a Redis that is down costs a request at most one short timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from .layer import CacheLayer, LayerDown, Meta, Selector

PREFIX = "fg:cache:"
BATCH = 256  # entries a pipeline carries
log = logging.getLogger("faregate.cache")


class RedisLayer(CacheLayer):
    name = "redis"

    def __init__(self, url: str, *, timeout_s: float = 0.05, retry_s: float = 2.0, prefix: str = PREFIX) -> None:
        super().__init__()
        self.url, self.timeout_s, self.retry_s, self.prefix = url, timeout_s, retry_s, prefix
        self._r: Any = None
        self._down_until = 0.0
        self._pending: list[tuple[str, bytes, float, Meta]] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        import redis.asyncio as aioredis  # here, not at the top: about 23 MiB a gateway without Redis never needs

        self._r = aioredis.from_url(
            self.url, socket_timeout=self.timeout_s, socket_connect_timeout=self.timeout_s, retry_on_timeout=False
        )
        self._task = asyncio.create_task(self._writer(), name="cache-redis-writer")

    def enqueue(self, key: str, value: bytes, ttl_s: float, meta: Meta) -> None:
        """``set`` without awaiting: the entry joins the writer's next pipeline (dropped while
        Redis is paused after a failure: the other layers still hold it)."""
        if self._r is None or self.down:
            return
        self._pending.append((key, value, ttl_s, meta))
        if not self._wake.is_set():
            self._idle.clear()
            self._wake.set()

    async def flush(self) -> None:
        """Wait until the queued writes were sent (tests, shutdown)."""
        if self._task is not None and not self._task.done():
            await self._idle.wait()

    async def _writer(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending[:BATCH], self._pending[BATCH:]
                try:
                    await self._call(self._r_set_many, batch)
                    self.stats.writes += len(batch)
                except LayerDown:
                    pass
                except Exception:
                    log.exception("cache write to redis failed")
            self._idle.set()

    async def close(self) -> None:
        if self._task is not None:
            await self.flush()
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - Redis down never fails a request
                pass
            self._task = None
        if self._r is not None:
            r, self._r = self._r, None
            try:
                await r.aclose()
            except Exception:  # noqa: BLE001 - Redis down never fails a request
                pass

    @property
    def down(self) -> bool:
        return time.monotonic() < self._down_until

    async def _call(self, coro_fn: Any, *args: Any) -> Any:
        if self._r is None or self.down:
            raise LayerDown("redis is paused after a failure")
        try:
            return await asyncio.wait_for(coro_fn(*args), self.timeout_s)
        except Exception as exc:  # noqa: BLE001 - timeouts, refused connections, protocol errors alike
            self.stats.errors += 1
            self._down_until = time.monotonic() + self.retry_s
            raise LayerDown(f"redis: {type(exc).__name__}") from None

    async def get(self, key: str) -> bytes | None:
        return await self._call(self._r_get, self.prefix + key)

    async def _r_get(self, k: str) -> bytes | None:
        v: bytes | None = await self._r.get(k)
        return v

    async def set(self, key: str, value: bytes, ttl_s: float, meta: Meta) -> None:
        await self._call(self._r_set, key, value, ttl_s, meta)

    async def _r_set(self, key: str, value: bytes, ttl_s: float, meta: Meta) -> None:
        await self._r_set_many([(key, value, ttl_s, meta)])

    async def _r_set_many(self, batch: list[tuple[str, bytes, float, Meta]]) -> None:
        pipe = self._r.pipeline(transaction=False)
        semantic = False
        for key, value, ttl_s, meta in batch:
            ms = max(1, int(ttl_s * 1000))
            pipe.set(self.prefix + key, value, px=ms)
            pipe.set(f"{self.prefix}rid:{meta.request_id}", key, px=ms)
            if meta.group:
                pipe.zadd(self.prefix + "semantic", {key: meta.semantic_until})
                semantic = True
        if semantic:  # keep the set to the live ones
            pipe.zremrangebyscore(self.prefix + "semantic", "-inf", time.time())
        await pipe.execute()

    async def semantic_entries(self, limit: int) -> list[tuple[str, bytes]]:
        out: list[tuple[str, bytes]] = []
        keys = await self._call(self._r.zrevrangebyscore, self.prefix + "semantic", "+inf", time.time(), 0, limit)
        for i in range(0, len(keys), 500):  # one short call per chunk: each within the timeout
            chunk = [k.decode() for k in keys[i : i + 500]]
            values = await self._call(self._r.mget, [self.prefix + k for k in chunk])
            out += [(k, v) for k, v in zip(chunk, values) if v is not None]
        return out

    async def delete(self, sel: Selector) -> int:
        return int(await self._call(self._r_delete, sel))

    async def _r_delete(self, sel: Selector) -> int:
        if sel.request_id is not None:
            k = await self._r.get(f"{self.prefix}rid:{sel.request_id}")
            if k is None:
                return 0
            key = k.decode()
            if not sel.matches(key, Meta("", "", sel.request_id)):
                return 0
            return int(await self._r.delete(self.prefix + key, f"{self.prefix}rid:{sel.request_id}"))
        if sel.key is not None:
            return int(await self._r.delete(self.prefix + sel.key)) if sel.matches(sel.key, None) else 0
        n = 0
        async for k in self._r.scan_iter(match=self.prefix + sel.prefix() + "*", count=1000):
            key = k.decode()[len(self.prefix) :]
            if key.startswith("rid:") or not sel.matches(key, None):
                continue
            n += int(await self._r.delete(k))
        return n

    async def keys(self, since: float = 0.0) -> list[tuple[str, float]]:
        return []  # shared and written by every replica: read on an index miss instead (see service)

    async def size(self) -> tuple[int, int]:
        n, size = await self._call(self._r_size)
        return int(n), int(size)

    async def _r_size(self) -> tuple[int, int]:
        n = 0
        async for k in self._r.scan_iter(match=self.prefix + "*", count=1000):
            name = k.decode()[len(self.prefix) :]
            if not name.startswith("rid:") and name != "semantic":
                n += 1
        return n, 0
