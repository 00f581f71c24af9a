"""The ``Gateway``: one pipeline, used in-process or behind the HTTP server.

async with Gateway.from_config("faregate.yaml") as gw:
    reply = await gw.chat({"model": "fake-openai", "messages": [...]})
    async for event in gw.stream({...}):
        ...
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from ..config import GatewayConfig, load_config
from ..core.errors import GatewayError, InternalError, UpstreamError
from ..core.redact import redact
from ..core.types import ChatRequest, ChatResponse, Event
from ..endpoints.deployments import DeploymentRegistry
from .context import Principal, Reply, RequestContext
from .policy import with_learner
from .runtime import Runtime, StepsFactory, compile_runtime
from .services import Services
from .step import Next, Step

log = logging.getLogger("faregate")

Render = Callable[[ChatResponse], bytes]  # a front's bytes for a complete answer


class Gateway:
    """Owns the long-lived services and the current compiled config snapshot (``runtime``).

    ``swap(config)`` compiles a new snapshot and replaces the current one atomically: requests
    already running finish on the snapshot they started with.
    """

    def __init__(
        self,
        config: GatewayConfig,
        *,
        steps: StepsFactory | list[Step] | None = None,
        executor: Next | None = None,
    ) -> None:
        self.services = Services.build(config)
        self._custom_steps = steps
        self._custom_executor = executor
        self.runtime: Runtime = compile_runtime(config, self.services, steps=steps, executor=executor)
        self._started = False

    @classmethod
    def from_config(cls, config: GatewayConfig | str | None = None, **kw: Any) -> Gateway:
        if not isinstance(config, GatewayConfig):
            config = load_config(config)
        return cls(config, **kw)

    # -- the current snapshot ---------------------------------------------------------------

    @property
    def config(self) -> GatewayConfig:
        return self.runtime.config

    @property
    def registry(self) -> DeploymentRegistry:
        return self.runtime.deployments

    @property
    def executor(self) -> Next:
        return self.runtime.executor

    @property
    def steps(self) -> tuple[Step, ...]:
        return self.runtime.steps

    @property
    def secrets(self) -> frozenset[str]:
        return self.runtime.secrets

    async def swap(self, config: GatewayConfig) -> Runtime:
        """Compile ``config`` and make it current; the old snapshot's background work stops."""
        old = self.runtime
        new = compile_runtime(
            config, self.services, previous=old, steps=self._custom_steps, executor=self._custom_executor
        )
        if self._started:
            await self._start_snapshot(new)
        self.runtime = new
        if self._started and new.executor is not old.executor:
            await self._close_snapshot(old)
        return new

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        await self.services.start()
        await self._start_snapshot(self.runtime)
        self._started = True
        if self.services.runtime_sync is not None:  # models added through the admin API, kept in step
            await self.services.runtime_sync.start(self.swap)

    async def close(self) -> None:
        if not self._started:
            return
        await self._close_snapshot(self.runtime)
        await self.services.close()
        self._started = False

    def _own_steps(self, rt: Runtime) -> list[Step]:
        """The steps whose lifecycle is theirs (services are started and closed by ``services``)."""
        shared = {id(self.services.auth)}
        return [s for s in rt.steps if id(s) not in shared]

    async def _start_snapshot(self, rt: Runtime) -> None:
        for step in self._own_steps(rt):
            await step.start()
        start = getattr(rt.executor, "start", None)  # active health probes, when configured
        if start is not None:
            await start()

    async def _close_snapshot(self, rt: Runtime) -> None:
        close = getattr(rt.executor, "close", None)
        if close is not None:
            await close()
        for step in reversed(self._own_steps(rt)):
            try:
                await step.close()
            except Exception:
                log.exception("closing %s failed", type(step).__name__)

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- requests --------------------------------------------------------------------------

    def context(
        self, request: ChatRequest, *, credential: str | None = None, principal: Principal | None = None
    ) -> RequestContext:
        ctx = RequestContext(request=request, credential=credential, principal=principal)
        task = request.routing.get("task") if request.routing else None
        if isinstance(task, str) and 0 < len(task) <= 64:
            # A request naming a model (a batch line the router planned, too) is logged with the
            # task it gave; a routed request's plan sets its own.
            ctx.task = task
        return ctx

    def policy(self, base: str) -> str:
        """The policy version a request is recorded with: the snapshot's, the learner's state (a
        stand-in learner without one is not part of it) and the published calibration the plan
        uses (``learning/shared_calibration.py``)."""
        state = getattr(self.services.learner, "snapshot_id", None)
        cal = self.services.calibration
        if cal is not None and cal.seq:
            state = f"{state or ''}/calibration-{cal.seq}"
        return with_learner(base, state)

    async def handle(self, ctx: RequestContext, render: Render | None = None, *, hold_records: bool = False) -> Reply:
        """Run the chain. Errors still finish the context, so every request is logged once, with
        the status the client gets: an exception no step expected becomes an ``InternalError``
        (500), logged with its traceback here and answered in the front's envelope.

        ``render``: the front's rendering of a complete answer, run here before the context is
        finished (its bytes in ``reply.body``), so a failure to render is that 500 too, in the
        log as in the answer. ``hold_records``: a complete answer's record hooks are left for
        the caller to run (``ctx.run_records()``) once it has written the answer."""
        rt = self.runtime  # this request's snapshot, whatever is swapped in meanwhile
        ctx.redactor = rt.redactor
        ctx.policy = self.policy(rt.policy)
        try:
            reply = await rt.chain(ctx)
            if render is not None and reply.response is not None:
                reply.body = render(reply.response)
        except GatewayError as err:
            if isinstance(err, UpstreamError):  # a provider's words: never echo credentials
                err.message = redact(err.message, rt.secrets)
            note_error(ctx, err)
            await ctx.finish()
            raise
        except Exception as exc:
            log.exception("unexpected error in request %s", ctx.request_id)
            internal = InternalError.for_request(ctx.request_id)
            note_error(ctx, internal)
            await ctx.finish()
            raise internal from exc
        except BaseException:
            await ctx.finish()
            raise
        if reply.events is None:
            await ctx.finish(hold_records=hold_records)
            return reply
        reply.events = _Finishing(ctx, reply.events, rt.secrets)
        return reply

    async def chat(self, request: ChatRequest | dict, *, api_key: str | None = None) -> ChatResponse:
        """One non-streaming answer (in-process: no HTTP server involved)."""
        req = _as_request(request, stream=False)
        reply = await self.handle(self.context(req, credential=api_key))
        assert reply.response is not None
        return reply.response

    async def stream(self, request: ChatRequest | dict, *, api_key: str | None = None) -> AsyncIterator[Event]:
        """The answer as canonical events (text deltas, tool-call deltas, usage, finish)."""
        req = _as_request(request, stream=True)
        reply = await self.handle(self.context(req, credential=api_key))
        assert reply.events is not None
        try:
            async for ev in reply.events:
                yield ev
        finally:
            await reply.events.aclose()  # type: ignore[attr-defined]

    async def authenticate(self, credential: str | None) -> Principal | None:
        """Check a raw gateway key (for routes outside the chat pipeline, e.g. ``GET /v1/models``)."""
        return await self.services.auth.authenticate(credential)

    def known_principal(self, credential: str | None) -> Principal | None:
        """The principal of a config key without awaiting anything (the hot path's shortcut);
        ``None``: await ``authenticate``, which decides every other case."""
        return self.services.auth.known(credential)

    def route_names(self) -> list[str]:
        names = [r.name for r in self.config.routes]
        return (["auto"] + names) if self.config.models else names

    def model_names(self) -> list[str]:
        return [m.name for m in self.config.models]


class _Finishing:
    """Pass a stream through, and finish the context when it ends, however it ends: also when
    it is closed before its first event was asked for (a client that left before the first
    write), which an async generator's ``finally`` would not see."""

    __slots__ = ("_ctx", "_events", "_closed", "_secrets")

    def __init__(
        self, ctx: RequestContext, events: AsyncIterator[Event], secrets: frozenset[str] = frozenset()
    ) -> None:
        self._ctx, self._events, self._closed, self._secrets = ctx, events, False, secrets

    def __aiter__(self) -> _Finishing:
        return self

    async def __anext__(self) -> Event:
        try:
            return await self._events.__anext__()
        except StopAsyncIteration:
            await self.aclose()
            raise
        except GatewayError as err:  # an in-band error after the first byte
            if isinstance(err, UpstreamError):  # never echo credentials
                err.message = redact(err.message, self._secrets)
            note_error(self._ctx, err)
            await self.aclose()
            raise
        except Exception as exc:
            log.exception("unexpected error in the stream of request %s", self._ctx.request_id)
            internal = InternalError.for_request(self._ctx.request_id)
            note_error(self._ctx, internal)
            await self.aclose()
            raise internal from exc
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._events.aclose()  # type: ignore[attr-defined]
        finally:
            await self._ctx.finish()


def note_error(ctx: RequestContext, err: GatewayError) -> None:
    """Record on the context the error the client is about to get (the request log reads it).
    A more specific class a step already recorded (an upstream's kind) is kept, and so is a
    client that left (499: nobody got this error)."""
    if ctx.status == 499 and ctx.client_disconnected:
        return
    ctx.status = err.status
    if ctx.error_class is None or isinstance(err, InternalError):
        ctx.error_class = getattr(err, "kind", None) or err.code
        ctx.error_message = err.message


def _as_request(request: ChatRequest | dict, *, stream: bool) -> ChatRequest:
    if isinstance(request, ChatRequest):
        request.stream = stream
        return request
    from ..wire.openai_front import parse_chat_request

    body = dict(request)
    body["stream"] = stream
    return parse_chat_request(body)
