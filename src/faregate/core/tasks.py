"""Background tasks: stop one and wait until it has stopped."""

from __future__ import annotations

import asyncio
import contextlib


async def cancel_task(task: asyncio.Task | None) -> None:
    """Cancel ``task`` (if any) and wait for it, swallowing its cancellation."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
