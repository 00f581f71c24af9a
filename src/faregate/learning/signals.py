"""Implicit feedback: a near-duplicate prompt from the same key soon after means the earlier
answer did not satisfy."""

from __future__ import annotations

import re
import time
import zlib
from collections import OrderedDict

_TOKEN = re.compile(r"\w+")


def simhash(text: str) -> int:
    """64-bit SimHash of word 3-shingles: near-identical prompts differ in few bits."""
    words = _TOKEN.findall(text.lower())[:2000]
    shingles = [" ".join(words[i : i + 3]) for i in range(max(1, len(words) - 2))] or [""]
    acc = [0] * 64
    for sh in shingles:
        h = zlib.crc32(sh.encode()) | (zlib.crc32(sh.encode()[::-1]) << 32)
        for bit in range(64):
            acc[bit] += 1 if (h >> bit) & 1 else -1
    return sum(1 << bit for bit in range(64) if acc[bit] > 0)


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


class RetryDetector:
    """Remembers each key's recent prompts; ``seen`` returns the earlier request a new prompt retries.

    Bounded: at most ``max_keys`` keys and ``per_key`` prompts each, older than ``window_s`` forgotten.
    """

    def __init__(
        self,
        *,
        window_s: float = 300.0,
        max_distance: int = 3,
        per_key: int = 32,
        max_keys: int = 10_000,
        clock=time.monotonic,
    ) -> None:
        self.window_s = window_s
        self.max_distance = max_distance
        self.per_key = per_key
        self.max_keys = max_keys
        self._clock = clock
        self._recent: OrderedDict[str, list[tuple[float, int, str]]] = OrderedDict()

    def seen(self, key_id: str, text: str, request_id: str) -> str | None:
        return self.seen_hash(key_id, simhash(text), request_id)

    def seen_hash(self, key_id: str, h: int, request_id: str) -> str | None:
        """``seen`` for a prompt already fingerprinted (``simhash``)."""
        now = self._clock()
        entries = [e for e in self._recent.pop(key_id, []) if now - e[0] <= self.window_s]
        earlier = None
        for _t, eh, rid in reversed(entries):
            if hamming(h, eh) <= self.max_distance:
                earlier = rid
                break
        entries.append((now, h, request_id))
        self._recent[key_id] = entries[-self.per_key :]
        while len(self._recent) > self.max_keys:
            self._recent.popitem(last=False)
        return earlier

    def add(self, key_id: str, h: int, request_id: str, age_s: float) -> None:
        """A prompt another replica saw ``age_s`` ago: a retry of it arriving here is detected."""
        if age_s > self.window_s:
            return
        entries = self._recent.pop(key_id, [])
        entries.append((self._clock() - max(0.0, age_s), h, request_id))
        entries.sort(key=lambda e: e[0])
        self._recent[key_id] = entries[-self.per_key :]
        while len(self._recent) > self.max_keys:
            self._recent.popitem(last=False)
