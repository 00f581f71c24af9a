"""The ``Gateway``: one pipeline, used in-process or behind the HTTP server.

async with Gateway.from_config("faregate.yaml") as gw:
    reply = await gw.chat({"model": "fake-openai", "messages": [...]})
    async for event in gw.stream({...}):
        ...
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from ..config import GatewayConfig, load_config
from ..core.errors import GatewayError, UpstreamError
from ..core.redact import redact
from ..core.types import ChatRequest, ChatResponse, Event
from ..endpoints.deployments import DeploymentRegistry
from ..endpoints.http import HttpPool
from .context import Principal, Reply, RequestContext
from .executor import Executor
from .resolve import ResolveModel
from .routing_step import RoutingStep
from .step import Next, Step, build_chain

log = logging.getLogger("faregate")


class Gateway:
    """Owns the config, the shared HTTP pool, the deployments and the step chain."""

    def __init__(
        self, config: GatewayConfig, *, steps: list[Step] | None = None, executor: Executor | None = None
    ) -> None:
        self.config = config
        self.pool = HttpPool()
        self.registry = DeploymentRegistry(config)
        self.executor = executor or Executor(config, self.registry, self.pool)
        self.components: dict[str, Any] = {}
        self.steps: list[Step] = steps if steps is not None else self._default_steps()
        self._chain: Next = build_chain(self.steps, self.executor)
        self._started = False
        # Upstream credentials from the config: no error a caller sees may contain them.
        self.secrets = frozenset(
            v
            for m in config.models
            for v in (
                m.api_key,
                *m.headers.values(),
                *(x for d in m.deployments for x in (d.api_key, *d.headers.values())),
            )
            if v
        )

    @classmethod
    def from_config(cls, config: GatewayConfig | str | None = None, **kw: Any) -> Gateway:
        if not isinstance(config, GatewayConfig):
            config = load_config(config)
        return cls(config, **kw)

    def _default_steps(self) -> list[Step]:
        steps: list[Step] = []
        # issue 5 (request log): outermost, so every request that reaches the chain is logged once.
        if self.config.database_url:
            from .request_log_step import RequestLogStep

            self.components["request_log"] = RequestLogStep.from_config(self.config)
            steps.append(self.components["request_log"])
        # issue 6 (keys, limits, budgets): database + config keys, then limits before anything else.
        from .limits_step import build_key_steps

        auth, limits = build_key_steps(self.config)
        self.components["auth"] = auth
        self.components["limits"] = limits
        steps += [auth, limits]
        steps.append(ResolveModel(self.config))
        learning = None
        if self.config.learning.enabled:
            from ..learning.loop import LearningLoop

            learning = LearningLoop(
                explore_rate=self.config.learning.explore_rate, retry_window_s=self.config.learning.retry_window_s
            )
            self.components["learning"] = learning
        routing = RoutingStep(self.config, self.registry, learning=learning)
        self.components["routing"] = routing
        steps.append(routing)
        return steps

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        await self.pool.start()
        for step in self.steps:
            await step.start()
        if hasattr(self.executor, "start"):
            await self.executor.start()  # active health probes, when configured
        self._started = True
        if getattr(self.components.get("auth"), "open", False):
            log.warning("no gateway keys configured: every caller is accepted")

    async def close(self) -> None:
        if not self._started:
            return
        if hasattr(self.executor, "close"):
            await self.executor.close()
        for step in reversed(self.steps):
            try:
                await step.close()
            except Exception:
                log.exception("closing %s failed", type(step).__name__)
        await self.pool.close()
        self._started = False

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- requests --------------------------------------------------------------------------

    def context(
        self, request: ChatRequest, *, credential: str | None = None, principal: Principal | None = None
    ) -> RequestContext:
        return RequestContext(request=request, credential=credential, principal=principal)

    async def handle(self, ctx: RequestContext) -> Reply:
        """Run the chain. Errors still finish the context, so every request is logged once."""
        try:
            reply = await self._chain(ctx)
        except GatewayError as err:
            if isinstance(err, UpstreamError):  # a provider's words: never echo credentials
                err.message = redact(err.message, self.secrets)
            if ctx.status == 200:
                ctx.status = err.status
                ctx.error_class = getattr(err, "kind", None) or err.code
                ctx.error_message = err.message
            await ctx.finish()
            raise
        except BaseException:
            await ctx.finish()
            raise
        if reply.events is None:
            await ctx.finish()
            return reply
        reply.events = _Finishing(ctx, reply.events, self.secrets)
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
        return await self.components["auth"].authenticate(credential)

    def known_principal(self, credential: str | None) -> Principal | None:
        """The principal of a config key without awaiting anything (the hot path's shortcut);
        ``None``: await ``authenticate``, which decides every other case."""
        auth = self.components.get("auth")
        return auth.known(credential) if auth is not None else None

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
        except UpstreamError as err:  # an in-band error after the first byte: never echo credentials
            err.message = redact(err.message, self._secrets)
            await self.aclose()
            raise
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


def _as_request(request: ChatRequest | dict, *, stream: bool) -> ChatRequest:
    if isinstance(request, ChatRequest):
        request.stream = stream
        return request
    from ..wire.openai_front import parse_chat_request

    body = dict(request)
    body["stream"] = stream
    return parse_chat_request(body)
