"""The in-memory index of a slow layer's keys (key -> expiry), bounded in size.

The database layer is read only for keys in this index, so a miss costs no database round
trip. Without a bound it would hold every key written within the TTL, and every expired one
after it: about 170 bytes per distinct request cached, growing with traffic. Past ``cap`` keys
the oldest written are forgotten; such an entry is then a miss (answered upstream and cached
anew), never a wrong answer.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping


class KeyIndex(dict[str, float]):
    """A ``dict`` of key -> expiry (reads are plain dict reads) that keeps at most ``cap`` keys."""

    def __init__(self, cap: int) -> None:
        super().__init__()
        self.cap = cap
        self._order: deque[str] = deque()  # keys in the order first written (a purged key may linger)

    def __setitem__(self, key: str, expires: float) -> None:
        if key not in self:
            self._order.append(key)
        super().__setitem__(key, expires)
        while len(self._order) > self.cap:
            self.pop(self._order.popleft(), None)

    def update(self, other: Mapping[str, float] | Iterable[tuple[str, float]] = (), /, **kw: float) -> None:  # type: ignore[override]
        items = other.items() if isinstance(other, Mapping) else other
        for key, expires in items:
            self[key] = expires
        for key, expires in kw.items():
            self[key] = expires
