"""Implicit feedback: a near-duplicate prompt from the same key, in the same conversation, a
little while after an answer was given, means that answer did not satisfy.

What is NOT a retry: a prompt sent again before the earlier one was answered (a burst the
response cache's coalescing answers), or within ``min_gap_s`` of that answer (nobody read it:
a script, a double click, a quick burst by hand), a prompt of another key or conversation, one
outside ``window_s``, and a second retry of the same answer (each answer counts once). Each key
gets at most ``max_signals`` retry signals per window, so one client cannot drag a model down.
"""

from __future__ import annotations

import re
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass

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


@dataclass(slots=True)
class _Seen:
    at: float
    h: int
    conversation: int | None  # None: seen on another replica (matches any conversation)
    request_id: str
    answered_at: float | None = None  # when its answer completed; None: in flight or failed
    retried: bool = False  # a later prompt already counted as its retry


class RetryDetector:
    """Remembers each key's recent prompts; ``seen`` returns the earlier request a new prompt
    retries (see the module for what counts), ``answered`` marks a request's answer complete.

    Bounded: at most ``max_keys`` keys and ``per_key`` prompts each, older than ``window_s`` forgotten.
    """

    def __init__(
        self,
        *,
        window_s: float = 300.0,
        min_gap_s: float = 2.0,
        max_signals: int = 3,
        max_distance: int = 3,
        per_key: int = 32,
        max_keys: int = 10_000,
        clock=time.monotonic,
    ) -> None:
        self.window_s = window_s
        self.min_gap_s = min_gap_s
        self.max_signals = max_signals
        self.max_distance = max_distance
        self.per_key = per_key
        self.max_keys = max_keys
        self._clock = clock
        self._recent: OrderedDict[str, list[_Seen]] = OrderedDict()
        self._signalled: dict[str, list[float]] = {}  # key -> when its retry signals were given

    def seen(self, key_id: str, text: str, request_id: str, conversation: int | None = 0) -> str | None:
        return self.seen_hash(key_id, simhash(text), request_id, conversation)

    def seen_hash(self, key_id: str, h: int, request_id: str, conversation: int | None = 0) -> str | None:
        """``seen`` for a prompt already fingerprinted (``simhash``)."""
        now = self._clock()
        entries = [e for e in self._recent.pop(key_id, []) if now - e.at <= self.window_s]
        earlier = None
        for e in reversed(entries):
            if (e.conversation is not None and e.conversation != conversation) or hamming(h, e.h) > self.max_distance:
                continue
            if e.answered_at is not None and not e.retried and now - e.answered_at >= self.min_gap_s:
                earlier = e
            break  # only the latest look-alike: a burst's earlier copies are not retried again
        if earlier is not None and self._budget(key_id, now):
            earlier.retried = True
        else:
            earlier = None
        entries.append(_Seen(now, h, conversation, request_id))
        self._recent[key_id] = entries[-self.per_key :]
        while len(self._recent) > self.max_keys:
            gone, _ = self._recent.popitem(last=False)
            self._signalled.pop(gone, None)
        return earlier.request_id if earlier is not None else None

    def answered(self, key_id: str, request_id: str) -> None:
        """The request's answer completed (a later look-alike may now be its retry)."""
        for e in self._recent.get(key_id, ()):
            if e.request_id == request_id:
                e.answered_at = self._clock()
                return

    def _budget(self, key_id: str, now: float) -> bool:
        times = [t for t in self._signalled.get(key_id, ()) if now - t <= self.window_s]
        ok = len(times) < self.max_signals
        if ok:
            times.append(now)
        self._signalled[key_id] = times
        return ok

    def add(self, key_id: str, h: int, request_id: str, age_s: float) -> None:
        """A prompt another replica answered ``age_s`` ago: a retry of it arriving here is detected
        (its conversation is not shared, so it matches any)."""
        if age_s > self.window_s:
            return
        at = self._clock() - max(0.0, age_s)
        entries = self._recent.pop(key_id, [])
        # Its answer's completion time is not shared: taken as read (fingerprints arrive a sync
        # batch after the request, and the other replica's burst copies are deduplicated there).
        entries.append(_Seen(at, h, None, request_id, answered_at=at - self.min_gap_s))
        entries.sort(key=lambda e: e.at)
        self._recent[key_id] = entries[-self.per_key :]
        while len(self._recent) > self.max_keys:
            gone, _ = self._recent.popitem(last=False)
            self._signalled.pop(gone, None)
