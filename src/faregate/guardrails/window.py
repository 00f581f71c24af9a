"""Apply a text transform to a stream in bounded windows with hold-back.

Each chunk is appended to a buffer; everything except the last ``hold`` characters is
transformed and released, unless a match straddles the cut, in which case the cut moves to
the match's start. A value up to ``hold`` characters long split across chunks is therefore
seen whole, and the buffer stays under ``hold`` plus one value plus one chunk.
"""

from __future__ import annotations

from collections.abc import Callable

from .pii import Match

Finder = Callable[[str], list[Match]]
Transform = Callable[[str, list[Match]], str]


class StreamWindow:
    """Feed chunks in, get transformed text out; ``flush`` at the end of the stream."""

    def __init__(self, finder: Finder, transform: Transform, hold: int) -> None:
        self._find = finder
        self._transform = transform
        self._hold = hold
        self._buf = ""

    def feed(self, chunk: str) -> str:
        self._buf += chunk
        cut = len(self._buf) - self._hold
        if cut <= 0:
            return ""
        matches = self._find(self._buf)
        for m in matches:
            if m.start < cut < m.end:
                cut = m.start
                break
        if cut <= 0:
            return ""
        head, self._buf = self._buf[:cut], self._buf[cut:]
        return self._transform(head, [m for m in matches if m.end <= cut])

    def flush(self) -> str:
        head, self._buf = self._buf, ""
        return self._transform(head, self._find(head)) if head else ""
