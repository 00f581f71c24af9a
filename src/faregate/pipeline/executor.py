"""The terminal step: call the upstream, with retries and failover, and hand back the answer.

Attempt order: the request's candidate models in order (the named model, then its
fallbacks), each over its deployments as the balancer orders them. What is retried is
decided per error ``kind`` (see ``core.errors.UpstreamError``):

- ``transient`` / ``timeout``: back off (full jitter, 100 ms doubling to a 10 s cap, or the
  provider's ``Retry-After``) and try again, next deployment first, within the model's
  ``max_attempts``; then the next model.
- ``credential`` (401/403/429): cool that deployment down and move on at once.
- ``context_length``: go straight to the model's ``context_fallback``.
- ``client``: the request itself is wrong; raise, never retry.

The executor never finishes the context: the ``Gateway`` does, once the whole answer is out,
so a step (a cascade) may call it more than once for one request.

A stream is held until its first content event (text or tool-call delta). Any failure
before that fails over invisibly; after it, the client has bytes, so the error is raised
from the event iterator and the front codec sends it in-band.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import AsyncIterator

import aiohttp

from ..adapters.base import StreamParser
from ..config import GatewayConfig
from ..core.errors import GatewayError, UpstreamError
from ..core.types import CONTENT_EVENTS, ChatResponse, Event, UsageEvent
from ..core.usage import Usage
from ..endpoints.balancer import Balancer
from ..endpoints.deployments import Deployment, DeploymentRegistry
from ..endpoints.http import HttpPool
from .context import Attempt, Reply, RequestContext

BACKOFF_START_S = 0.1
BACKOFF_CAP_S = 10.0
COOLDOWN_START_S = 1.0
COOLDOWN_CAP_S = 300.0


class DeploymentHealth:
    """Hook points for deployment health (circuit breakers extend this)."""

    def usable(self, dep: Deployment) -> bool:
        return True

    def on_success(self, dep: Deployment) -> None:
        dep.successes += 1
        dep.cooldown_s = 0.0

    def on_failure(self, dep: Deployment, err: UpstreamError) -> None:
        dep.failures += 1
        dep.last_error = err.message


class Executor:
    def __init__(self, config: GatewayConfig, registry: DeploymentRegistry, pool: HttpPool, *,
                 balancer: Balancer | None = None, health: DeploymentHealth | None = None,
                 rng: random.Random | None = None, sleep=asyncio.sleep) -> None:
        self.config = config
        self.registry = registry
        self.pool = pool
        self.balancer = balancer or Balancer()
        self.health = health or DeploymentHealth()
        self._rng = rng or random.Random()
        self._sleep = sleep

    async def __call__(self, ctx: RequestContext) -> Reply:
        if ctx.request.stream:
            return Reply(events=await self._open_stream(ctx))
        try:
            response = await self._attempts(ctx, self._complete_once)
        except GatewayError as err:
            self._fail_ctx(ctx, err)
            raise
        ctx.response_text = response.content
        return Reply(response=response)

    # -- the attempt loop, shared by both modes -------------------------------------------

    async def _attempts(self, ctx: RequestContext, once):
        models = list(ctx.candidates)
        if not models:
            raise GatewayError("no model to call", code="no_candidates")
        first_model = models[0]
        deadline = time.monotonic() + (self.config.model(first_model).timeouts.total
                                       if self.config.model(first_model) else 600.0)
        last: UpstreamError | None = None
        i = 0
        while i < len(models):
            name = models[i]
            i += 1
            mcfg = self.config.model(name)
            if mcfg is None:
                continue
            deps = self.registry.deployments(name)
            tried = 0
            backoff_n = 0
            while tried < mcfg.max_attempts:
                order = self.balancer.order(name, mcfg.strategy, deps, self.health.usable)
                if not order:
                    if last is None:
                        last = UpstreamError(f"every deployment of {name!r} is cooling down or its circuit is open",
                                             kind="unavailable")
                    break
                dep = order[tried % len(order)] if tried < len(order) else order[0]
                tried += 1
                if time.monotonic() >= deadline:
                    raise UpstreamError(f"the request's deadline passed after {len(ctx.attempts)} attempts",
                                        kind="timeout")
                t_start = time.perf_counter()
                dep.in_flight += 1
                try:
                    result = await once(ctx, dep, deadline)
                except UpstreamError as err:
                    dep.in_flight -= 1
                    err.deployment = dep.id
                    self._record_failure(ctx, dep, err, t_start)
                    last = err
                    if err.kind == "client":
                        raise
                    if err.kind == "context_length":
                        if mcfg.context_fallback and mcfg.context_fallback not in models[i:]:
                            models.insert(i, mcfg.context_fallback)
                        break
                    if err.kind == "credential":
                        self._cool_down(dep, err)
                        continue
                    if tried < mcfg.max_attempts:
                        delay = self._backoff(backoff_n, err.retry_after_s)
                        backoff_n += 1
                        if time.monotonic() + delay >= deadline:
                            break
                        await self._sleep(delay)
                    continue
                except asyncio.CancelledError:
                    dep.in_flight -= 1
                    raise
                ctx.fallback_used = name != first_model
                ctx.answered_by = dep.id
                ctx.answered_model = name
                return result
        assert last is not None
        raise last

    def _backoff(self, n: int, retry_after_s: float | None) -> float:
        cap = min(BACKOFF_CAP_S, BACKOFF_START_S * (2 ** n))
        delay = self._rng.uniform(0, cap)
        if retry_after_s is not None:
            delay = max(delay, retry_after_s)
        return delay

    def _cool_down(self, dep: Deployment, err: UpstreamError) -> None:
        if err.retry_after_s is not None:
            length = err.retry_after_s
        else:
            length = min(COOLDOWN_CAP_S, dep.cooldown_s * 2 if dep.cooldown_s else COOLDOWN_START_S)
        dep.cooldown_s = length
        dep.cooldown_until = time.monotonic() + length

    def _record_failure(self, ctx: RequestContext, dep: Deployment, err: UpstreamError, t_start: float,
                        usage: Usage | None = None) -> None:
        self.health.on_failure(dep, err)
        usage = usage or getattr(err, "partial_usage", None)
        cost = dep.target.prices.cost(usage) if usage else 0.0
        if usage:
            ctx.usage = ctx.usage + usage
            ctx.cost_usd += cost
        ctx.attempts.append(Attempt(dep.id, dep.target.model_name, err.kind, usage, cost,
                                    (time.perf_counter() - t_start) * 1000, err.message))

    def _record_success(self, ctx: RequestContext, dep: Deployment, usage: Usage, t_start: float) -> None:
        self.health.on_success(dep)
        cost = dep.target.prices.cost(usage)
        ctx.usage = ctx.usage + usage
        ctx.cost_usd += cost
        ctx.attempts.append(Attempt(dep.id, dep.target.model_name, "ok", usage, cost,
                                    (time.perf_counter() - t_start) * 1000))

    @staticmethod
    def _fail_ctx(ctx: RequestContext, err: GatewayError) -> None:
        ctx.status = err.status
        ctx.error_class = getattr(err, "kind", None) or err.code or type(err).__name__
        ctx.error_message = err.message

    # -- non-streaming ---------------------------------------------------------------------

    async def _complete_once(self, ctx: RequestContext, dep: Deployment, deadline: float) -> ChatResponse:
        t = dep.timeouts
        up = dep.adapter.build_request(ctx.request, dep.target, stream=False)
        remaining = max(0.001, deadline - time.monotonic())
        timeout = aiohttp.ClientTimeout(total=min(t.total, remaining), sock_connect=t.connect,
                                        sock_read=t.ttfb)
        t_start = time.perf_counter()
        try:
            async with self.pool.session.request(up.method, up.url, headers=up.headers, data=up.body,
                                                 timeout=timeout) as resp:
                body = await resp.read()
                status = resp.status
                ctype = resp.headers.get("content-type", "")
                retry_after = _retry_after(resp.headers)
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
            raise UpstreamError(f"{dep.id} did not answer within its timeout", kind="timeout") from None
        except aiohttp.ClientError as exc:
            raise _connection_error(dep, exc) from None
        if status >= 400:
            raise dep.adapter.classify_error(status, body, retry_after_s=retry_after, deployment=dep.id)
        if "json" not in ctype:
            raise UpstreamError(f"{dep.id} answered with content type {ctype or 'none'!r}, not JSON",
                                kind="transient")
        response = dep.adapter.parse_response(body, model=dep.target.model_name)
        dep.in_flight -= 1
        dep.observe_ttft((time.perf_counter() - t_start) * 1000)
        ctx.ttft_ms = ctx.elapsed_ms()
        self._record_success(ctx, dep, response.usage, t_start)
        return response

    # -- streaming -------------------------------------------------------------------------

    async def _open_stream(self, ctx: RequestContext) -> AsyncIterator[Event]:
        try:
            opened = await self._attempts(ctx, self._open_stream_once)
        except GatewayError as err:
            self._fail_ctx(ctx, err)
            raise
        return self._relay(ctx, *opened)

    async def _open_stream_once(self, ctx: RequestContext, dep: Deployment, deadline: float):
        t = dep.timeouts
        up = dep.adapter.build_request(ctx.request, dep.target, stream=True)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=t.connect, sock_read=None)
        t_start = time.perf_counter()
        parser = dep.adapter.stream_parser()
        buffered: list[Event] = []
        resp = None
        try:
            async with asyncio.timeout(min(t.ttfb, max(0.001, deadline - time.monotonic()))):
                resp = await self.pool.session.request(up.method, up.url, headers=up.headers, data=up.body,
                                                       timeout=timeout)
                if resp.status >= 400:
                    body = await resp.read()
                    resp.release()
                    raise dep.adapter.classify_error(resp.status, body, retry_after_s=_retry_after(resp.headers),
                                                     deployment=dep.id)
                ctype = resp.headers.get("content-type", "")
                if "event-stream" not in ctype:
                    resp.close()
                    raise UpstreamError(f"{dep.id} answered a stream with content type {ctype or 'none'!r}",
                                        kind="transient")
                while True:
                    chunk = await resp.content.readany()
                    if not chunk:
                        buffered.extend(parser.close())
                        return dep, resp, parser, buffered, True, t_start
                    events = parser.feed(chunk)
                    buffered.extend(events)
                    if any(isinstance(e, CONTENT_EVENTS) for e in events):
                        return dep, resp, parser, buffered, False, t_start
        except UpstreamError as err:
            if resp is not None:
                resp.close()
            self._count_partial_usage(ctx, dep, buffered, err)
            raise
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
            if resp is not None:
                resp.close()
            err = UpstreamError(f"{dep.id} sent no content within {t.ttfb:g} s", kind="timeout")
            self._count_partial_usage(ctx, dep, buffered, err)
            raise err from None
        except aiohttp.ClientError as exc:
            if resp is not None:
                resp.close()
            raise _connection_error(dep, exc) from None
        except BaseException:
            if resp is not None:
                resp.close()
            raise

    @staticmethod
    def _count_partial_usage(ctx: RequestContext, dep: Deployment, buffered: list[Event],
                             err: UpstreamError) -> None:
        # A provider that reported usage before failing still billed it.
        for ev in buffered:
            if isinstance(ev, UsageEvent):
                err.partial_usage = ev.usage  # type: ignore[attr-defined]

    async def _relay(self, ctx: RequestContext, dep: Deployment, resp: aiohttp.ClientResponse,
                     parser: StreamParser, buffered: list[Event], done: bool,
                     t_start: float) -> AsyncIterator[Event]:
        usage = Usage()
        idle = dep.timeouts.idle
        total_deadline = t_start + dep.timeouts.total
        failed: UpstreamError | None = None
        text: list[str] = []
        ctx.ttft_ms = ctx.elapsed_ms()
        dep.observe_ttft((time.perf_counter() - t_start) * 1000)
        try:
            for ev in buffered:
                if isinstance(ev, UsageEvent):
                    usage = ev.usage
                elif hasattr(ev, "text"):
                    text.append(ev.text)  # type: ignore[union-attr]
                yield ev
            while not done:
                try:
                    async with asyncio.timeout(min(idle, max(0.001, total_deadline - time.perf_counter()))):
                        chunk = await resp.content.readany()
                except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
                    raise UpstreamError(f"{dep.id} stalled: no bytes for {idle:g} s mid-stream",
                                        kind="timeout") from None
                except aiohttp.ClientError as exc:
                    raise _connection_error(dep, exc) from None
                if chunk:
                    events = parser.feed(chunk)
                else:
                    events = parser.close()
                    done = True
                for ev in events:
                    if isinstance(ev, UsageEvent):
                        usage = ev.usage
                    elif hasattr(ev, "text"):
                        text.append(ev.text)  # type: ignore[union-attr]
                    yield ev
        except UpstreamError as err:
            failed = err
            err.deployment = dep.id
            self._fail_ctx(ctx, err)
            ctx.extras["failed_after_first_byte"] = True
            raise
        except (GeneratorExit, asyncio.CancelledError):
            ctx.client_disconnected = True
            ctx.status = 499
            ctx.error_class = "client_disconnected"
            raise
        finally:
            if not done:
                resp.close()  # drop the upstream connection: the provider stops generating
            else:
                resp.release()
            dep.in_flight -= 1
            if failed is not None:
                self._record_failure(ctx, dep, failed, t_start, usage if usage.total_tokens else None)
            elif ctx.client_disconnected:
                self._record_failure(ctx, dep, UpstreamError("client disconnected", kind="cancelled"),
                                     t_start, usage if usage.total_tokens else None)
            else:
                self._record_success(ctx, dep, usage, t_start)
            ctx.response_text = "".join(text)


def _retry_after(headers) -> float | None:
    value = headers.get("retry-after-ms")
    if value:
        try:
            return float(value) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: treat as absent rather than guess the clock skew


def _connection_error(dep: Deployment, exc: Exception) -> UpstreamError:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamError(f"could not connect to {dep.id}: {exc.os_error.strerror or exc}",
                             kind="transient")
    return UpstreamError(f"the connection to {dep.id} failed: {type(exc).__name__}", kind="transient")
