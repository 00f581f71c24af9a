"""The request log's recent request ids (id -> key id), bounded, in a compact form.

Feedback on a request whose record is still queued is accepted because its id is here. The
gateway's own ids (``req_`` + 24 hex digits, ``core/ids.py``) are kept as the 96-bit number
they spell, about 48 bytes each instead of the string's 80; any other id as it is. Entries
sit in a plain ``dict`` (oldest first) with their keys in a ``deque`` for eviction: about 100
bytes an id in all, against 160 for an ``OrderedDict`` of strings.
"""

from __future__ import annotations

import re
from collections import deque

_OWN = re.compile(r"req_[0-9a-f]{24}")  # exactly: "req_0x..." must not read as a number


def _compact(request_id: str) -> int | str:
    return int(request_id[4:], 16) if _OWN.fullmatch(request_id) else request_id


class RecentIds:
    """At most ``cap`` ids, the oldest forgotten first; reads like a mapping of id -> key id."""

    __slots__ = ("cap", "_owners", "_order")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._owners: dict[int | str, str | None] = {}
        self._order: deque[int | str] = deque()

    def add(self, request_id: str, key_id: str | None) -> None:
        k = _compact(request_id)
        if k not in self._owners:
            self._order.append(k)
        self._owners[k] = key_id
        if len(self._order) > self.cap:
            self._owners.pop(self._order.popleft(), None)

    def __contains__(self, request_id: object) -> bool:
        return isinstance(request_id, str) and _compact(request_id) in self._owners

    def __getitem__(self, request_id: str) -> str | None:
        return self._owners[_compact(request_id)]

    def __len__(self) -> int:
        return len(self._owners)

    def clear(self) -> None:
        self._owners.clear()
        self._order.clear()
