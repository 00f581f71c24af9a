"""The extension point for cross-cutting concerns: a chain of ``(ctx, next)`` steps."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence

from .context import Reply, RequestContext

Next = Callable[[RequestContext], Awaitable[Reply]]


class Step(ABC):
    """One concern (auth, validation, limits, cache, routing, logging, ...).

    ``handle`` may read and add to ``ctx``, refuse by raising a ``GatewayError``, call
    ``call_next(ctx)`` to go on, and wrap or replace the ``Reply`` it gets back. Work that
    must happen after the answer is complete (reconciling a reservation, writing the log)
    goes in ``ctx.on_finish``, because a streamed reply is not complete when ``handle`` returns;
    work that only records what happened (a log row, metrics) goes in ``ctx.on_record``.

    A step with nothing to await on its common path may be a plain ``def`` that returns
    ``call_next(ctx)`` itself (a tail call): the chain then has one coroutine fewer per request.
    Whoever calls a step awaits what it returns either way.
    """

    @abstractmethod
    def handle(self, ctx: RequestContext, call_next: Next) -> Awaitable[Reply]: ...

    async def start(self) -> None:
        """Open what the step needs (connections, background tasks). Called once."""

    async def close(self) -> None:
        """Release it; flush anything pending. Called once at shutdown."""


def build_chain(steps: Sequence[Step], terminal: Next) -> Next:
    """Compose the steps once at start-up, outermost first."""
    handler = terminal
    for step in reversed(steps):
        handler = _bind(step, handler)
    return handler


class _Bound:
    """``step.handle`` with its ``call_next`` fixed. Calling it returns the step's own coroutine,
    so the chain costs no extra coroutine per step and request (a closure's ``await`` did)."""

    __slots__ = ("_handle", "_next")

    def __init__(self, step: Step, nxt: Next) -> None:
        self._handle, self._next = step.handle, nxt

    def __call__(self, ctx: RequestContext) -> Awaitable[Reply]:
        return self._handle(ctx, self._next)


def _bind(step: Step, nxt: Next) -> Next:
    return _Bound(step, nxt)
