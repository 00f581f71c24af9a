"""A streamed answer, held until its first content event, then passed on as it arrives.

``open_held_stream`` sends the request and reads until the first content event (text or a
tool-call delta): any failure before that is an ordinary failed attempt, so the executor fails
over and the client never knows. Once it returns, the client may get bytes, so the attempt
is committed: ``HeldStream`` yields what was held, then the rest, bounded by the idle timeout
and the request's deadline, and raises a failure from its iterator (the front codec sends it
in-band). Closing it at any point settles the attempt exactly once. An opening read is parsed
only up to its first content event; the rest of it is parsed after the held events are
written, so a failure there too comes in-band, whatever way TCP split the bytes.

With ``StreamOptions.resumer`` (the model's ``stream_resume``), a failure after content is not
raised at once: the attempt is settled as failed, the resumer opens a continuation elsewhere
(the partial answer as an assistant prefill) and its events follow in the same stream. Bytes
read are capped (``max_answer_bytes``); malformed events are skipped up to the tolerance.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp

from ..adapters.base import StreamParser
from ..adapters.sse import too_large
from ..config import UpstreamCapsConfig
from ..core.errors import UpstreamError
from ..core.types import CONTENT_EVENTS, ChatRequest, Event, StreamStart, TextDelta, ToolCallDelta, UsageEvent
from ..core.usage import Usage
from ..endpoints import transport
from ..endpoints.breaker import Permit
from ..endpoints.deployments import Deployment
from ..endpoints.health import DeploymentHealth
from ..endpoints.http import HttpPool, StreamResponse
from .charge import charge, mark_disconnected, mark_failed
from .context import Attempt, RequestContext

HEAD_EVENTS = 8  # events of an opening read parsed one by one while looking for the first content
# ``(partial answer, failure)`` -> a continuation of the answer elsewhere, or None (fail as before).
Resumer = Callable[[str, UpstreamError], Awaitable["HeldStream | None"]]


@dataclass(slots=True)
class StreamOptions:
    """How one stream is read: caps, malformed-event tolerance, resume, and where it starts."""

    caps: UpstreamCapsConfig = field(default_factory=UpstreamCapsConfig)
    tolerate: int = 0
    resumer: Resumer | None = None
    request: ChatRequest | None = None  # None: the context's request
    prefix: str = ""  # a continuation: the answer so far, already sent to the client
    sink: list[Event] | None = None  # the held events, for a caller that cancels the opening
    # A continuation whose prefill went without the partial answer's trailing whitespace (the
    # client has it already): the continuation's leading whitespace is dropped.
    drop_leading_space: bool = False


async def open_held_stream(
    pool: HttpPool,
    health: DeploymentHealth,
    ctx: RequestContext,
    dep: Deployment,
    deadline: float,
    permit: Permit,
    opts: StreamOptions | None = None,
) -> HeldStream:
    """Open a stream on ``dep`` and hold it until its first content event (or its end).

    Raises an ``UpstreamError`` (with any usage reported so far as ``partial_usage``) when it
    fails, times out (``timeouts.ttfb`` or the deadline) or is not an event stream.
    """
    opts = opts or StreamOptions()
    t = dep.timeouts
    req = opts.request or ctx.request
    up = dep.adapter.request_for(req, dep.target, stream=True)
    t_start = time.perf_counter()
    parser = dep.adapter.parser_for(req)
    parser.configure(tolerate=opts.tolerate, max_line_bytes=opts.caps.max_sse_line_bytes)
    buffered: list[Event] = opts.sink if opts.sink is not None else []
    resp: StreamResponse | None = None
    hold = min(t.ttfb, max(0.001, deadline - time.monotonic()))
    try:
        async with asyncio.timeout(hold):
            resp = await transport.open_stream(pool, dep, up, opts.caps)
            done, read, rest = await _read_until_content(resp, parser, buffered, opts.caps.max_answer_bytes)
    except BaseException as exc:
        if resp is not None:
            resp.close()
        failure = _opening_failure(dep, exc, hold)
        if failure is None:
            usage = parser.partial_usage()
            if usage is not None and opts.sink is not None:
                opts.sink.append(UsageEvent(usage))  # a cancelled opening (a lost hedge) is still billed
            raise
        _note_partial_usage(buffered, failure)
        if failure is exc:
            raise
        raise failure from None
    ms = (time.perf_counter() - t_start) * 1000
    dep.observe_ttft(ms)
    ctx.ttft_ms = ctx.elapsed_ms()
    attempt = Attempt(dep.id, dep.target.model_name, "streaming", None, 0.0, ms)
    ctx.attempts.append(attempt)  # now, so x-faregate-attempts counts it before the stream ends
    held = HeldStream(health, ctx, dep, permit, resp, parser, list(buffered), done, t_start, deadline, attempt)
    held.options(opts, read, rest)
    return held


async def _read_until_content(
    resp: StreamResponse, parser: StreamParser, buffered: list[Event], cap: int
) -> tuple[bool, int, bytes]:
    """Parse into ``buffered`` up to the first content event: whether the stream ended already,
    bytes read, and the bytes read but not parsed yet (after that event)."""
    read = 0
    while True:
        chunk = await resp.content.readany()
        if not chunk:
            buffered.extend(parser.close())
            return True, read, b""
        read += len(chunk)
        if read > cap:
            raise too_large(f"the stream is over the cap of {cap} bytes")
        rest = _feed_until_content(parser, chunk, buffered)
        if rest is not None:
            return False, read, rest


def _feed_until_content(parser: StreamParser, chunk: bytes, buffered: list[Event]) -> bytes | None:
    """Feed ``chunk`` one SSE event (blank-line delimited) at a time until a content event: the
    bytes after it (parsed later, so the held events reach the client without waiting for the
    rest of a stream that came in one read), or None if the chunk held no content."""
    pos, n = 0, len(chunk)
    for i in range(HEAD_EVENTS + 1):
        if pos >= n:
            break
        # After HEAD_EVENTS events without content, the rest at once (no rescans of a long chunk).
        end = n if i == HEAD_EVENTS else _event_end(chunk, pos)
        events = parser.feed(chunk[pos:end] if pos or end < n else chunk)
        buffered.extend(events)
        pos = end
        if any(isinstance(e, CONTENT_EVENTS) for e in events):
            return chunk[pos:]
    return None


def _event_end(chunk: bytes, pos: int) -> int:
    """Where the event starting at ``pos`` ends (after its blank line), else the chunk's end."""
    lf = chunk.find(b"\n\n", pos)
    stop = len(chunk) if lf < 0 else lf
    crlf = chunk.find(b"\r\n\r\n", pos, stop)  # scans no further than the LF separator
    if crlf >= 0:
        return crlf + 4
    return len(chunk) if lf < 0 else lf + 2


def _opening_failure(dep: Deployment, exc: BaseException, hold: float) -> UpstreamError | None:
    """``exc`` raised while opening as an ``UpstreamError``; ``None`` for what is not one (a cancel)."""
    if isinstance(exc, UpstreamError):
        return exc
    if isinstance(exc, TimeoutError):
        ttfb = dep.timeouts.ttfb
        what = "the request's deadline passed" if hold < ttfb else f"no content within {ttfb:g} s"
        return UpstreamError(f"{dep.id} sent no content: {what}", kind="timeout")
    if isinstance(exc, aiohttp.ClientError):
        return transport.connection_error(dep, exc)
    return None


def _note_partial_usage(buffered: list[Event], err: UpstreamError) -> None:
    """A provider that reported usage before failing still billed it."""
    for ev in buffered:
        if isinstance(ev, UsageEvent):
            err.partial_usage = ev.usage  # type: ignore[attr-defined]


class HeldStream:
    """The events of an opened stream: what was held until the first content event, then the rest
    as it arrives.

    Closing it at any point, iterated or not, releases the upstream connection, the in-flight
    slot and the breaker permit, and records the attempt. An error after the first event is
    raised from ``__anext__`` (the front codec turns it into an in-band error).
    """

    def __init__(
        self,
        health: DeploymentHealth,
        ctx: RequestContext,
        dep: Deployment,
        permit: Permit,
        resp: StreamResponse,
        parser: StreamParser,
        buffered: list[Event],
        done: bool,
        t_start: float,
        deadline: float,
        attempt: Attempt,
    ) -> None:
        self._health, self._ctx, self._dep, self._permit = health, ctx, dep, permit
        self._resp, self._parser, self._buffered, self._done = resp, parser, buffered, done
        self._t_start, self._deadline, self._attempt = t_start, deadline, attempt
        self._prior = ctx.usage  # what earlier attempts (or cascade stages) consumed
        self._usage = Usage()
        self._text: list[str] = []
        self._gen: AsyncIterator[tuple[list[Event], bool]] | None = None
        self._batch: list[Event] = []  # the events of the last upstream read, passed on from _i
        self._i = 0
        self._own = True
        self._settled = False
        self._opts = StreamOptions()
        self._trim = False  # a continuation's leading whitespace still to drop
        self._read = 0  # bytes read after the opening (the cap counts the whole stream)
        self._tools = False  # a tool-call delta was seen: such a stream is never resumed
        self._next: HeldStream | None = None  # the continuation after a resume
        self._rest = b""  # read while opening, after the first content event: parsed next
        self.lost = False  # closed as the loser of a hedge race: neutral, not a client that left

    def options(self, opts: StreamOptions, read: int = 0, rest: bytes = b"") -> None:
        """Set the reading options, the bytes read while opening and those of them not parsed yet
        (``open_held_stream`` does)."""
        self._opts, self._read, self._rest = opts, read, rest
        self._trim = opts.drop_leading_space
        if opts.prefix:
            self._text.append(opts.prefix)

    def __aiter__(self) -> HeldStream:
        return self

    async def __anext__(self) -> Event:
        # One event at a time from the current batch (the events of one upstream read); the
        # generator below runs only when a batch is used up, not once per event.
        i = self._i
        while i >= len(self._batch):
            if self._gen is None:
                self._gen = self._run()
            self._batch, self._own = await self._gen.__anext__()
            i = 0
        self._i = i + 1
        ev = self._batch[i]
        if not self._own:
            return ev  # a continuation's event: that stream counted it and set stream_ready
        self._ctx.stream_ready = len(self._batch) - i - 1  # exact: what a server may write with it
        return self._seen(ev)

    async def aclose(self) -> None:
        if self._gen is not None:
            await self._gen.aclose()  # type: ignore[attr-defined]
        if not self._settled:  # closed before the first event was asked for: the client left
            self._settle(None, disconnected=True)

    def _seen(self, ev: Event) -> Event:
        if isinstance(ev, ToolCallDelta):
            self._tools = True
        if isinstance(ev, UsageEvent):
            self._usage = ev.usage
            if self._prior.total_tokens:
                return UsageEvent(self._prior + ev.usage)
        elif isinstance(ev, TextDelta):
            self._text.append(ev.text)
        return ev

    async def _run(self) -> AsyncIterator[tuple[list[Event], bool]]:
        """Batches of events, and whether they are this stream's own (not a continuation's)."""
        failed: UpstreamError | None = None
        disconnected = False
        try:
            try:
                async for batch in self._own_batches():
                    yield batch, True
            except UpstreamError as err:
                err.deployment = self._dep.id
                if not await self._resume(err):
                    raise
            if self._next is not None:
                async for ev in self._next:
                    yield [ev], False
        except UpstreamError as err:
            failed = err
            mark_failed(self._ctx, err)
            self._ctx.failed_after_first_byte = True
            raise
        except (GeneratorExit, asyncio.CancelledError):
            disconnected = True
            if self._next is not None:
                await self._next.aclose()
            raise
        finally:
            self._settle(failed, disconnected=disconnected)

    async def _own_batches(self) -> AsyncIterator[list[Event]]:
        continuation = bool(self._opts.prefix)
        batch = [ev for ev in self._buffered if not (continuation and isinstance(ev, StreamStart))]
        self._buffered = []
        while True:
            batch = self._trimmed(batch)
            if batch:
                yield batch
            if self._done:
                break
            batch = await self._next_events()
        self._ctx.malformed_skipped += self._parser.skipped

    def _trimmed(self, batch: list[Event]) -> list[Event]:
        """A continuation's leading whitespace dropped (``drop_leading_space``), empty deltas with it."""
        if not self._trim:
            return batch
        out: list[Event] = []
        for ev in batch:
            if self._trim and isinstance(ev, TextDelta):
                ev = TextDelta(ev.text.lstrip())
                self._trim = not ev.text
                if not ev.text:
                    continue
            out.append(ev)
        return out

    async def _resume(self, err: UpstreamError) -> bool:
        """Settle this attempt as failed and continue elsewhere; whether a continuation opened."""
        resumer = self._opts.resumer
        text = "".join(self._text)
        if resumer is None or self._tools or not text:
            return False
        self._settle(err, disconnected=False)
        self._next = await resumer(text, err)
        return self._next is not None

    async def _next_events(self) -> list[Event]:
        """The events of the next chunk (the parser's last ones at the end of the stream)."""
        if self._rest:
            rest, self._rest = self._rest, b""
            return self._parser.feed(rest)
        dep = self._dep
        idle = dep.timeouts.idle
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise UpstreamError(f"{dep.id} was still streaming when the request's deadline passed", kind="timeout")
        try:
            async with asyncio.timeout(min(idle, left)):
                chunk = await self._resp.content.readany()
        except TimeoutError:
            if idle < left:
                raise UpstreamError(f"{dep.id} stalled: no bytes for {idle:g} s mid-stream", kind="timeout") from None
            raise UpstreamError(
                f"{dep.id} was still streaming when the request's deadline passed", kind="timeout"
            ) from None
        except aiohttp.ClientError as exc:
            raise transport.connection_error(dep, exc) from None
        if chunk:
            self._read += len(chunk)
            if self._read > self._opts.caps.max_answer_bytes:
                raise too_large(f"the stream is over the cap of {self._opts.caps.max_answer_bytes} bytes")
            return self._parser.feed(chunk)
        self._done = True
        return self._parser.close()

    def _settle(self, failed: UpstreamError | None, *, disconnected: bool) -> None:
        if self._settled:
            return
        self._settled = True
        ctx, dep, health = self._ctx, self._dep, self._health
        if self._done and failed is None:
            self._resp.release()
        else:
            self._resp.close()  # drop the upstream connection: the provider stops generating
        dep.in_flight -= 1
        usage = self._usage if self._usage.total_tokens else None
        if usage is None and failed is not None:
            usage = getattr(failed, "partial_usage", None)  # reported before it failed, e.g. message_start
        a = self._attempt
        charge(ctx, a, dep, usage)
        a.latency_ms = (time.perf_counter() - self._t_start) * 1000
        if failed is not None:
            health.on_failure(dep, failed, self._permit)  # redacts the error first: the attempt keeps that text
            a.status, a.error = failed.kind, failed.message
        elif self.lost:
            a.status, a.error = "hedge_lost", "another call answered first"
            health.on_neutral(dep, self._permit)
        elif disconnected and not self._done:
            mark_disconnected(ctx, a)
            health.on_neutral(dep, self._permit)
        else:
            a.status = "ok"
            health.on_success(dep, self._permit)
        ctx.response_text = "".join(self._text)
