"""``memory://``: an LRU bounded by bytes, in this process. Never slow, never down."""

from __future__ import annotations

import time
from collections import OrderedDict

from .layer import CacheLayer, Meta, Selector

ENTRY_OVERHEAD = 480  # bytes a slot costs beyond its value (key, meta, tuple, ordering; measured), for the cap


class MemoryLayer(CacheLayer):
    name = "memory"
    slow = False

    def __init__(self, max_bytes: int = 16 * 1024 * 1024) -> None:
        super().__init__()
        self.max_bytes = max_bytes
        self.bytes = 0
        self.evictions = 0
        self._d: OrderedDict[str, tuple[bytes, float, Meta, float]] = OrderedDict()

    def get_now(self, key: str) -> bytes | None:
        """``get`` without awaiting (the hot path)."""
        item = self._d.get(key)
        if item is None:
            return None
        if item[1] <= time.time():
            self._drop(key)
            return None
        self._d.move_to_end(key)
        return item[0]

    async def get(self, key: str) -> bytes | None:
        return self.get_now(key)

    def set_now(self, key: str, value: bytes, ttl_s: float, meta: Meta) -> None:
        cost = len(value) + len(key) + ENTRY_OVERHEAD
        if cost > self.max_bytes:
            return
        if key in self._d:
            self._drop(key)
        now = time.time()
        self._d[key] = (value, now + ttl_s, meta, now)
        self.bytes += cost
        while self.bytes > self.max_bytes and self._d:
            self._drop(next(iter(self._d)))
            self.evictions += 1

    async def set(self, key: str, value: bytes, ttl_s: float, meta: Meta) -> None:
        self.set_now(key, value, ttl_s, meta)

    def _drop(self, key: str) -> None:
        value, _exp, _meta, _at = self._d.pop(key)
        self.bytes -= len(value) + len(key) + ENTRY_OVERHEAD

    async def delete(self, sel: Selector) -> int:
        if sel.key is not None and sel.request_id is None:
            doomed = [sel.key] if sel.key in self._d and sel.matches(sel.key, self._d[sel.key][2]) else []
        else:
            doomed = [k for k, v in self._d.items() if sel.matches(k, v[2])]
        for k in doomed:
            self._drop(k)
        return len(doomed)

    async def keys(self, since: float = 0.0) -> list[tuple[str, float]]:
        now = time.time()
        return [(k, v[1]) for k, v in self._d.items() if v[1] > now and v[3] >= since]

    async def size(self) -> tuple[int, int]:
        return len(self._d), self.bytes
