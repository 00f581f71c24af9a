"""The terminal step: call the upstream, with retries and failover, and hand back the answer.

Attempt order: the request's candidate models in order (the named model, then its
fallbacks), each over its deployments as the balancer orders them (open circuits and
cooling deployments left out). What happens after a failed attempt is decided by the
error's ``kind`` (see ``core.errors.UpstreamError``):

- ``transient`` / ``timeout`` (5xx, 529, connection refused or reset, malformed reply, a
  stall): another deployment of the same model that has not failed yet is tried at once;
  when every deployment of the model has failed in this request, the next fallback is tried
  at once (a model with ``retry_before_fallback: true`` retries itself first); with no
  fallback left, a failed deployment is called again after a full-jitter backoff (uniform in
  0..100 ms, the bound doubling to a 10 s cap), never sooner than the provider's
  ``Retry-After`` (which also cools the deployment down for that long). At most
  ``max_attempts`` calls per model, all within the deadline (the first model's
  ``timeouts.total``). Waiting is for when nothing else is left.
- ``credential`` (401/403/429 from the provider): cool that deployment down (for
  ``Retry-After`` when given, else 1 s doubling to 5 min) and move on at once.
- ``context_length``: go straight to the model's ``context_fallback``, then its other fallbacks.
- ``client`` (a 400): the request itself is wrong; raised at once, never retried.

The executor never finishes the context: the ``Gateway`` does, once the whole answer is out,
so a step (a cascade) may call it more than once for one request.

A stream is held until its first content event (text or tool-call delta). Any failure
before that fails over invisibly; after it, the client has bytes, so the error is raised
from the event iterator and the front codec sends it in-band. Closing the iterator at any
point (a client that went away) closes the upstream connection at once.

Usage and cost count every attempt the provider reported usage for, failed ones included.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from ..adapters.base import StreamParser
from ..config import GatewayConfig
from ..core.errors import GatewayError, UpstreamError
from ..core.types import CONTENT_EVENTS, ChatRequest, ChatResponse, Event, TextDelta, UsageEvent
from ..core.usage import Usage
from ..endpoints.balancer import Balancer
from ..endpoints.breaker import CLOSED, OPEN, Permit
from ..endpoints.deployments import Deployment, DeploymentRegistry
from ..endpoints.health import DeploymentHealth
from ..endpoints.http import HttpPool
from .context import Attempt, Reply, RequestContext

__all__ = ["Executor", "DeploymentHealth", "BACKOFF_START_S", "BACKOFF_CAP_S"]

log = logging.getLogger("faregate")

BACKOFF_START_S = 0.1
BACKOFF_CAP_S = 10.0
COOLDOWN_START_S = 1.0
COOLDOWN_CAP_S = 300.0


class Executor:
    def __init__(
        self,
        config: GatewayConfig,
        registry: DeploymentRegistry,
        pool: HttpPool,
        *,
        balancer: Balancer | None = None,
        health: DeploymentHealth | None = None,
        rng: random.Random | None = None,
        sleep=asyncio.sleep,
    ) -> None:
        self.config = config
        self.registry = registry
        self.pool = pool
        self.balancer = balancer or Balancer()
        self.health = health or DeploymentHealth()
        self._rng = rng or random.Random()
        self._sleep = sleep  # tests inject a fast one where backoff is not what they test
        self._prober: asyncio.Task | None = None

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

    # -- lifecycle: optional active health probes ------------------------------------------

    async def start(self) -> None:
        """Start the active health prober when a model asks for one (``breaker.probe_interval_s``)."""
        if self._prober is None and any(m.breaker.enabled and m.breaker.probe_interval_s for m in self.config.models):
            self._prober = asyncio.create_task(self._probe_loop(), name="faregate-health-probes")

    async def close(self) -> None:
        if self._prober is not None:
            self._prober.cancel()
            try:
                await self._prober
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
            self._prober = None

    # -- the attempt loop, shared by both modes -------------------------------------------

    async def _attempts(self, ctx: RequestContext, once):
        models = list(ctx.candidates)
        if not models:
            raise GatewayError("no model to call", code="no_candidates")
        first = self.config.model(models[0])
        deadline = time.monotonic() + (first.timeouts.total if first else 600.0)
        last: UpstreamError | None = None
        i = 0
        while i < len(models):
            name = models[i]
            i += 1
            mcfg = self.config.model(name)
            if mcfg is None:
                continue
            deps = self.registry.deployments(name)
            failed: set[str] = set()
            tries = 0
            backoff_n = 0
            waited_for: Deployment | None = None
            while tries < mcfg.max_attempts:
                if time.monotonic() >= deadline:
                    raise self._final(
                        UpstreamError(
                            f"the request's deadline passed after {len(ctx.attempts)} attempt(s)"
                            + (f"; last error: {last.message}" if last else ""),
                            kind="timeout",
                        )
                    )
                picked = self._pick(name, mcfg.strategy, deps, failed, waited_for)
                waited_for = None
                if picked is None:
                    if last is None or last.kind == "unavailable":
                        last = self._unavailable(name, deps)
                    break
                dep, permit = picked
                tries += 1
                t_start = time.perf_counter()
                dep.in_flight += 1
                handed_off = False
                try:
                    result = await once(ctx, dep, deadline, permit)
                    handed_off = isinstance(result, HeldStream)
                except UpstreamError as err:
                    err.deployment = dep.id
                    self._record_failure(ctx, dep, err, t_start, permit)
                    last = err
                    if err.kind == "client":
                        raise self._final(err) from None
                    if err.kind == "context_length":
                        if mcfg.context_fallback and mcfg.context_fallback not in models[i:]:
                            models.insert(i, mcfg.context_fallback)
                        break
                    failed.add(dep.id)
                    if err.kind == "credential":
                        self._cool_down(dep, err)
                        continue
                    if err.retry_after_s is not None:
                        # The provider asked for a pause: no request calls it again before then.
                        dep.cooldown_until = max(dep.cooldown_until, time.monotonic() + err.retry_after_s)
                    if tries >= mcfg.max_attempts:
                        break
                    if self._has_fresh(deps, failed):
                        continue  # another deployment of this model, at once
                    if i < len(models) and (err.retry_after_s is not None or not mcfg.retry_before_fallback):
                        break  # a fallback now beats waiting for this model to recover
                    delay = self._backoff(backoff_n, err.retry_after_s)
                    backoff_n += 1
                    if time.monotonic() + delay >= deadline:
                        break
                    await self._sleep(delay)
                    waited_for = dep
                    continue
                except asyncio.CancelledError:
                    # The client went away (the server cancels its handler): nothing to learn.
                    self.health.on_neutral(dep, permit)
                    ctx.attempts.append(
                        Attempt(
                            dep.id,
                            name,
                            "cancelled",
                            None,
                            0.0,
                            (time.perf_counter() - t_start) * 1000,
                            "the client disconnected",
                        )
                    )
                    ctx.client_disconnected = True
                    ctx.status, ctx.error_class = 499, "client_disconnected"
                    raise
                except BaseException:
                    self.health.on_neutral(dep, permit)
                    raise
                finally:
                    if not handed_off:
                        dep.in_flight -= 1
                ctx.fallback_used = name != models[0]
                ctx.answered_by = dep.id
                ctx.answered_model = name
                return result
        if last is None:
            raise GatewayError(f"none of the models {models} is configured", code="no_candidates")
        raise self._final(last)

    def _pick(
        self, name: str, strategy: str, deps: list[Deployment], failed: set[str], waited_for: Deployment | None
    ) -> tuple[Deployment, Permit] | None:
        """The next deployment to call, with its permit: ones not yet failed in this request
        first, in the balancer's order; ``waited_for`` (whose Retry-After we just slept out)
        even though its cooldown may not have passed by the clock."""
        order = self.balancer.order(name, strategy, deps, self.health.usable)
        if waited_for is not None and waited_for not in order and self.health.usable(waited_for):
            order.insert(0, waited_for)
        if failed:
            order = [d for d in order if d.id not in failed] + [d for d in order if d.id in failed]
        for dep in order:
            permit = self.health.acquire(dep)
            if permit is not None:
                return dep, permit
        return None

    def _has_fresh(self, deps: list[Deployment], failed: set[str]) -> bool:
        now = time.monotonic()
        return any(d.id not in failed and not d.cooling(now) and self.health.usable(d) for d in deps)

    def _unavailable(self, name: str, deps: list[Deployment]) -> UpstreamError:
        now = time.monotonic()
        waits = [max(d.cooldown_until - now, d.breaker.retry_in() if d.breaker else 0.0) for d in deps]
        waits = [w for w in waits if w > 0]
        err = UpstreamError(
            f"every deployment of {name!r} is cooling down or its circuit is open",
            kind="unavailable",
            retry_after_s=min(waits) if waits else None,
        )
        return err

    @staticmethod
    def _final(err: UpstreamError) -> UpstreamError:
        """The error as the client gets it: with ``Retry-After`` when the provider gave one."""
        if err.retry_after_s is not None and err.status in (429, 503):
            err.headers.setdefault("retry-after", str(max(1, int(err.retry_after_s + 0.999))))
        return err

    def _backoff(self, n: int, retry_after_s: float | None) -> float:
        cap = min(BACKOFF_CAP_S, BACKOFF_START_S * (2**n))
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
        dep.cooldown_until = max(dep.cooldown_until, time.monotonic() + length)

    def _record_failure(
        self,
        ctx: RequestContext,
        dep: Deployment,
        err: UpstreamError,
        t_start: float,
        permit: Permit | None,
        usage: Usage | None = None,
    ) -> None:
        self.health.on_failure(dep, err, permit)
        usage = usage or getattr(err, "partial_usage", None)
        cost = dep.target.prices.cost(usage) if usage else 0.0
        if usage:
            ctx.usage = ctx.usage + usage
            ctx.cost_usd += cost
        ctx.attempts.append(
            Attempt(
                dep.id,
                dep.target.model_name,
                err.kind,
                usage,
                cost,
                (time.perf_counter() - t_start) * 1000,
                err.message,
            )
        )

    @staticmethod
    def _fail_ctx(ctx: RequestContext, err: GatewayError) -> None:
        ctx.status = err.status
        ctx.error_class = getattr(err, "kind", None) or err.code or type(err).__name__
        ctx.error_message = err.message

    # -- non-streaming ---------------------------------------------------------------------

    async def _post(self, dep: Deployment, req: ChatRequest, deadline: float) -> ChatResponse:
        """One non-streaming call: the parsed answer, or an ``UpstreamError`` of the right kind."""
        t = dep.timeouts
        up = dep.adapter.build_request(req, dep.target, stream=False)
        remaining = max(0.001, deadline - time.monotonic())
        # sock_read bounds the wait for the answer to start and every gap in its body.
        timeout = _timeout(min(t.total, remaining), t.connect, t.ttfb)
        try:
            async with self.pool.session.request(
                up.method, up.url, headers=up.headers, data=up.body, timeout=timeout
            ) as resp:
                body = await resp.read()
                status = resp.status
                ctype = resp.headers.get("content-type", "")
                retry_after = _retry_after(resp.headers)
        except TimeoutError:  # aiohttp's ServerTimeoutError is one too
            raise UpstreamError(f"{dep.id} did not answer within its timeout", kind="timeout") from None
        except aiohttp.ClientError as exc:
            raise _connection_error(dep, exc) from None
        if status >= 400:
            raise dep.adapter.classify_error(status, body, retry_after_s=retry_after, deployment=dep.id)
        if "json" not in ctype:
            raise UpstreamError(f"{dep.id} answered with content type {ctype or 'none'!r}, not JSON", kind="transient")
        return dep.adapter.parse_response(body, model=dep.target.model_name)

    async def _complete_once(
        self, ctx: RequestContext, dep: Deployment, deadline: float, permit: Permit
    ) -> ChatResponse:
        t_start = time.perf_counter()
        response = await self._post(dep, ctx.request, deadline)
        # A whole answer took generation time too: take it out, so the estimate stays a time to first token.
        # The speed is the configured prior, so keep at least a tenth of the measured time.
        total_ms = (time.perf_counter() - t_start) * 1000
        gen_ms = 1000.0 * response.usage.output_tokens / dep.tokens_per_s
        dep.observe_ttft(max(0.1 * total_ms, total_ms - gen_ms))
        ctx.ttft_ms = ctx.elapsed_ms()
        self.health.on_success(dep, permit)
        own = response.usage
        cost = dep.target.prices.cost(own)
        earlier = ctx.usage.total_tokens
        ctx.usage = ctx.usage + own
        ctx.cost_usd += cost
        if earlier:
            # Earlier failed attempts (or cascade stages) consumed tokens too: report them all.
            response.usage = ctx.usage
        ctx.attempts.append(
            Attempt(dep.id, dep.target.model_name, "ok", own, cost, (time.perf_counter() - t_start) * 1000)
        )
        return response

    # -- streaming -------------------------------------------------------------------------

    async def _open_stream(self, ctx: RequestContext) -> HeldStream:
        try:
            return await self._attempts(ctx, self._open_stream_once)
        except GatewayError as err:
            self._fail_ctx(ctx, err)
            raise

    async def _open_stream_once(
        self, ctx: RequestContext, dep: Deployment, deadline: float, permit: Permit
    ) -> HeldStream:
        t = dep.timeouts
        up = dep.adapter.build_request(ctx.request, dep.target, stream=True)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=t.connect, sock_read=None)
        t_start = time.perf_counter()
        parser = dep.adapter.stream_parser()
        buffered: list[Event] = []
        resp = None
        hold = min(t.ttfb, max(0.001, deadline - time.monotonic()))
        try:
            async with asyncio.timeout(hold):
                resp = await self.pool.session.request(
                    up.method, up.url, headers=up.headers, data=up.body, timeout=timeout
                )
                if resp.status >= 400:
                    body = await resp.read()
                    resp.release()  # the body is read: the connection can serve another request
                    raise dep.adapter.classify_error(
                        resp.status, body, retry_after_s=_retry_after(resp.headers), deployment=dep.id
                    )
                ctype = resp.headers.get("content-type", "")
                if "event-stream" not in ctype:
                    raise UpstreamError(
                        f"{dep.id} answered a stream with content type {ctype or 'none'!r}", kind="transient"
                    )
                done = False
                while True:
                    chunk = await resp.content.readany()
                    if not chunk:
                        buffered.extend(parser.close())
                        done = True
                        break
                    events = parser.feed(chunk)
                    buffered.extend(events)
                    if any(isinstance(e, CONTENT_EVENTS) for e in events):
                        break
        except UpstreamError as err:
            _close(resp)
            _note_partial_usage(buffered, err)
            raise
        except TimeoutError:
            _close(resp)
            what = "the request's deadline passed" if hold < t.ttfb else f"no content within {t.ttfb:g} s"
            err = UpstreamError(f"{dep.id} sent no content: {what}", kind="timeout")
            _note_partial_usage(buffered, err)
            raise err from None
        except aiohttp.ClientError as exc:
            _close(resp)
            err = _connection_error(dep, exc)
            _note_partial_usage(buffered, err)
            raise err from None
        except BaseException:
            _close(resp)
            raise
        ms = (time.perf_counter() - t_start) * 1000
        dep.observe_ttft(ms)
        ctx.ttft_ms = ctx.elapsed_ms()
        attempt = Attempt(dep.id, dep.target.model_name, "streaming", None, 0.0, ms)
        ctx.attempts.append(attempt)  # now, so x-faregate-attempts counts it before the stream ends
        return HeldStream(self, ctx, dep, permit, resp, parser, buffered, done, t_start, deadline, attempt)

    # -- active health probes --------------------------------------------------------------

    async def probe(self, dep: Deployment) -> bool:
        """Call ``dep`` with a one-token request; feed the result to its breaker.

        OPEN and it answers: HALF_OPEN at once (real traffic then confirms it). HALF_OPEN: the
        probe takes a probe slot and counts like any call. CLOSED deployments are not probed.
        """
        br = dep.breaker
        if br is None or br.state == CLOSED:
            return True
        req = ChatRequest(model=dep.target.model_name, messages=[{"role": "user", "content": "ping"}], max_tokens=1)
        permit = None
        if br.state != OPEN:
            permit = br.acquire()
            if permit is None:
                return False  # its probe slots are taken by real traffic
        deadline = time.monotonic() + dep.timeouts.connect + dep.timeouts.ttfb
        ok, error = True, None
        try:
            await self._post(dep, req, deadline)
        except UpstreamError as err:
            ok, error = err.kind in ("client", "context_length"), err.message
            if not ok:
                dep.last_error, dep.last_error_kind, dep.last_error_at = err.message, err.kind, time.time()
        except GatewayError as err:
            ok, error = False, err.message
        dep.last_probe = {"at": time.time(), "ok": ok, "error": error}
        if permit is not None:
            br.record_success(permit) if ok else br.record_failure(error, permit)
        elif ok:
            br.force_half_open()
        return ok

    async def _probe_loop(self) -> None:
        due: dict[str, float] = {}
        models = [m for m in self.config.models if m.breaker.enabled and m.breaker.probe_interval_s]
        tick = max(0.05, min(m.breaker.probe_interval_s for m in models) / 2)
        while True:
            now = time.monotonic()
            batch = []
            for m in models:
                for dep in self.registry.deployments(m.name):
                    if dep.breaker is None or dep.breaker.state == CLOSED or due.get(dep.id, 0.0) > now:
                        continue
                    due[dep.id] = now + m.breaker.probe_interval_s
                    batch.append(self.probe(dep))
            if batch:
                for res in await asyncio.gather(*batch, return_exceptions=True):
                    if isinstance(res, Exception):
                        log.warning("health probe failed: %r", res)
            await asyncio.sleep(tick)


class HeldStream:
    """The events of an opened stream: what was held until the first content event, then the rest
    as it arrives.

    Closing it at any point, iterated or not, releases the upstream connection, the in-flight
    slot and the breaker permit, and records the attempt. An error after the first event is
    raised from ``__anext__`` (the front codec turns it into an in-band error).
    """

    def __init__(
        self,
        ex: Executor,
        ctx: RequestContext,
        dep: Deployment,
        permit: Permit,
        resp: aiohttp.ClientResponse,
        parser: StreamParser,
        buffered: list[Event],
        done: bool,
        t_start: float,
        deadline: float,
        attempt: Attempt,
    ) -> None:
        self._ex, self._ctx, self._dep, self._permit = ex, ctx, dep, permit
        self._resp, self._parser, self._buffered, self._done = resp, parser, buffered, done
        self._t_start, self._deadline, self._attempt = t_start, deadline, attempt
        self._prior = ctx.usage  # what earlier attempts (or cascade stages) consumed
        self._usage = Usage()
        self._text: list[str] = []
        self._gen: AsyncIterator[Event] | None = None
        self._settled = False

    def __aiter__(self) -> HeldStream:
        return self

    async def __anext__(self) -> Event:
        if self._gen is None:
            self._gen = self._run()
        return await self._gen.__anext__()

    async def aclose(self) -> None:
        if self._gen is not None:
            await self._gen.aclose()  # type: ignore[attr-defined]
        if not self._settled:  # closed before the first event was asked for: the client left
            self._settle(None, disconnected=True)

    def _seen(self, ev: Event) -> Event:
        if isinstance(ev, UsageEvent):
            self._usage = ev.usage
            if self._prior.total_tokens:
                return UsageEvent(self._prior + ev.usage)
        elif isinstance(ev, TextDelta):
            self._text.append(ev.text)
        return ev

    async def _run(self) -> AsyncIterator[Event]:
        dep, resp, parser = self._dep, self._resp, self._parser
        idle = dep.timeouts.idle
        failed: UpstreamError | None = None
        disconnected = False
        try:
            for ev in self._buffered:
                yield self._seen(ev)
            self._buffered = []
            while not self._done:
                left = self._deadline - time.monotonic()
                if left <= 0:
                    raise UpstreamError(
                        f"{dep.id} was still streaming when the request's deadline passed", kind="timeout"
                    )
                try:
                    async with asyncio.timeout(min(idle, left)):
                        chunk = await resp.content.readany()
                except TimeoutError:
                    if idle < left:
                        raise UpstreamError(
                            f"{dep.id} stalled: no bytes for {idle:g} s mid-stream", kind="timeout"
                        ) from None
                    raise UpstreamError(
                        f"{dep.id} was still streaming when the request's deadline passed", kind="timeout"
                    ) from None
                except aiohttp.ClientError as exc:
                    raise _connection_error(dep, exc) from None
                if chunk:
                    events = parser.feed(chunk)
                else:
                    self._done = True
                    events = parser.close()
                for ev in events:
                    yield self._seen(ev)
        except UpstreamError as err:
            failed = err
            err.deployment = dep.id
            Executor._fail_ctx(self._ctx, err)
            self._ctx.failed_after_first_byte = True
            raise
        except (GeneratorExit, asyncio.CancelledError):
            disconnected = True
            raise
        finally:
            self._settle(failed, disconnected=disconnected)

    def _settle(self, failed: UpstreamError | None, *, disconnected: bool) -> None:
        if self._settled:
            return
        self._settled = True
        ctx, dep, ex = self._ctx, self._dep, self._ex
        if self._done and failed is None:
            self._resp.release()
        else:
            self._resp.close()  # drop the upstream connection: the provider stops generating
        dep.in_flight -= 1
        usage = self._usage if self._usage.total_tokens else None
        if usage is None and failed is not None:
            usage = getattr(failed, "partial_usage", None)  # reported before it failed, e.g. message_start
        cost = dep.target.prices.cost(usage) if usage else 0.0
        if usage:
            ctx.usage = ctx.usage + usage
            ctx.cost_usd += cost
        a = self._attempt
        a.usage, a.cost_usd = usage, cost
        a.latency_ms = (time.perf_counter() - self._t_start) * 1000
        if failed is not None:
            a.status, a.error = failed.kind, failed.message
            ex.health.on_failure(dep, failed, self._permit)
        elif disconnected and not self._done:
            a.status, a.error = "cancelled", "the client disconnected"
            ctx.client_disconnected = True
            ctx.status, ctx.error_class = 499, "client_disconnected"
            ex.health.on_neutral(dep, self._permit)
        else:
            a.status = "ok"
            ex.health.on_success(dep, self._permit)
        ctx.response_text = "".join(self._text)


@functools.lru_cache(maxsize=256)
def _timeout(total: float, connect: float, read: float) -> aiohttp.ClientTimeout:
    """Timeouts are immutable: the common case (the whole model timeout left) is built once."""
    return aiohttp.ClientTimeout(total=total, sock_connect=connect, sock_read=read)


def _close(resp: aiohttp.ClientResponse | None) -> None:
    if resp is not None:
        resp.close()


def _note_partial_usage(buffered: list[Event], err: UpstreamError) -> None:
    """A provider that reported usage before failing still billed it."""
    for ev in buffered:
        if isinstance(ev, UsageEvent):
            err.partial_usage = ev.usage  # type: ignore[attr-defined]


def _retry_after(headers: Any) -> float | None:
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
        return UpstreamError(f"could not connect to {dep.id}: {exc.os_error.strerror or exc}", kind="transient")
    if isinstance(exc, (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError)):
        return UpstreamError(
            f"{dep.id} closed the connection before the answer was complete ({type(exc).__name__})", kind="transient"
        )
    return UpstreamError(f"the connection to {dep.id} failed: {type(exc).__name__}", kind="transient")
