"""``redis://``: entries shared by every replica, with a short timeout and a pause after a failure.

An entry is ``<prefix><key>`` with a TTL; ``<prefix>rid:<request id>`` points at the entry the
request filled (for deleting by request id). Any error or a wait over ``timeout_s`` raises
``LayerDown``, and for ``retry_s`` afterwards the layer answers ``LayerDown`` at once instead of
trying again, so a Redis that is down costs a request at most one short timeout.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import redis.asyncio as aioredis

from .layer import CacheLayer, LayerDown, Meta, Selector

PREFIX = "fg:cache:"


class RedisLayer(CacheLayer):
    name = "redis"

    def __init__(self, url: str, *, timeout_s: float = 0.05, retry_s: float = 2.0, prefix: str = PREFIX) -> None:
        super().__init__()
        self.url, self.timeout_s, self.retry_s, self.prefix = url, timeout_s, retry_s, prefix
        self._r: Any = None
        self._down_until = 0.0

    async def start(self) -> None:
        self._r = aioredis.from_url(
            self.url, socket_timeout=self.timeout_s, socket_connect_timeout=self.timeout_s, retry_on_timeout=False
        )

    async def close(self) -> None:
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
        ms = max(1, int(ttl_s * 1000))
        pipe = self._r.pipeline(transaction=False)
        pipe.set(self.prefix + key, value, px=ms)
        pipe.set(f"{self.prefix}rid:{meta.request_id}", key, px=ms)
        await pipe.execute()

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
            if not k.decode()[len(self.prefix) :].startswith("rid:"):
                n += 1
        return n, 0
