"""Request coalescing: identical cacheable requests in flight share one upstream call.

The first request for a key is the leader: it calls upstream and publishes what it receives
(stream events as they arrive, or the whole answer at the end) on a ``Flight``. Followers
for the same key subscribe: a streamed follower reads the events as they come, a non-streamed
one waits for the end. When the leader fails (an error, a truncated stream, a client that
left), the flight ends ``failed`` and each follower that has not received anything calls
upstream on its own; one that already streamed part of the answer gets an in-band error.
Within one process only: replicas do not see each other's flights.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from ..core.types import Event


class LeaderFailed(Exception):
    """The leader's call did not produce a complete answer."""


class Flight:
    """One leader's call. Cheap while nobody follows it (the common case: a list and two
    flags); the event followers wait on is only made when one does."""

    __slots__ = ("events", "done", "failed", "_changed", "followers", "model")

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.model = ""  # the model that answered the leader, for its followers' x-faregate-model
        self.done = False
        self.failed = False
        self.followers = 0
        self._changed: asyncio.Event | None = None

    def publish(self, ev: Event) -> None:
        self.events.append(ev)
        if self._changed is not None:
            self._changed.set()

    def finish(self, *, ok: bool) -> None:
        self.done, self.failed = True, not ok
        if self._changed is not None:
            self._changed.set()

    async def _wait(self) -> None:
        if self._changed is None:
            self._changed = asyncio.Event()
        self._changed.clear()
        await self._changed.wait()

    async def wait_done(self) -> list[Event]:
        while not self.done:
            await self._wait()
        if self.failed:
            raise LeaderFailed()
        return self.events

    async def follow(self) -> AsyncIterator[Event]:
        """The events as they arrive; raises ``LeaderFailed`` if the leader failed."""
        i = 0
        while True:
            while i < len(self.events):
                yield self.events[i]
                i += 1
            if self.done:
                if self.failed:
                    raise LeaderFailed()
                return
            await self._wait()


class Flights:
    """The in-flight table of one process."""

    def __init__(self) -> None:
        self._by_key: dict[str, Flight] = {}
        self.coalesced = 0

    def join(self, key: str) -> tuple[Flight, bool]:
        """(the flight for ``key``, whether the caller leads it)."""
        f = self._by_key.get(key)
        if f is not None and not f.done:
            f.followers += 1
            self.coalesced += 1
            return f, False
        f = self._by_key[key] = Flight()
        return f, True

    def land(self, key: str, flight: Flight, *, ok: bool) -> None:
        flight.finish(ok=ok)
        if self._by_key.get(key) is flight:
            del self._by_key[key]

    def __len__(self) -> int:
        return len(self._by_key)
