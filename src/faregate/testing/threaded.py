"""A fake provider on its own event loop in a background thread (for synchronous code)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from .fake_provider import FakeProvider


class ThreadedFake:
    """A fake provider running on its own event loop in a background thread (for sync code)."""

    def __init__(self, provider: FakeProvider) -> None:
        self.provider = provider
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(provider.start(), self._loop).result(10)

    @property
    def base_url(self) -> str:
        return self.provider.base_url

    @property
    def port(self) -> int:
        return self.provider.port

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.provider.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def run_in_thread(protocol: str = "openai", port: int = 0, **kw: Any) -> ThreadedFake:
    return ThreadedFake(FakeProvider(protocol, port=port, **kw))
