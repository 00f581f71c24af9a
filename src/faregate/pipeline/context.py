"""The per-request context every pipeline step reads and adds to, and the reply it returns."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..core.ids import new_request_id
from ..core.redact import Redactor
from ..core.types import ChatRequest, ChatResponse, Event
from ..core.usage import Usage

log = logging.getLogger("faregate")

if TYPE_CHECKING:
    from ..routing.features import RequestFeatures
    from ..routing.plan import Plan


@dataclass(slots=True)
class Principal:
    """Who is calling: the authenticated gateway key (never the key itself, only its id and hash prefix)."""

    key_id: str
    name: str = ""
    team: str | None = None
    models: tuple[str, ...] | None = None  # allow-list; None: every model
    key_prefix: str = ""
    is_admin: bool = False
    idempotent: bool = True  # false: the key's requests may not be sent twice (never hedged)
    mode: str | None = None  # the key's optimisation mode (``routing.modes``)
    guardrails: tuple[str, ...] = ()  # the key's guardrails (``pipeline/guardrail_step.py``)


@dataclass(slots=True)
class Attempt:
    """One upstream call, kept for the log and the response headers."""

    deployment: str
    model: str
    status: str  # "ok" or an error kind
    usage: Usage | None = None
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    error: str | None = None


_PATTERNS_ONLY = Redactor()
FinishHook = Callable[["RequestContext"], Awaitable[None] | None]
# A hook that only records what happened (the request log, metrics, the access log, a trace).
RecordHook = Callable[["RequestContext"], None]


@dataclass(slots=True)
class StepSpan:
    """A timed piece of a request (the limit check, routing, a cache lookup) for its trace.

    ``start`` and ``end`` are ``time.perf_counter()`` readings; ``attributes`` are bounded
    values (no prompt text, no secret). See ``RequestContext.record_span``."""

    name: str
    start: float
    end: float
    attributes: dict[str, str | int | float | bool] | None = None


@dataclass(slots=True)
class RequestContext:
    """Everything known about one request as it moves forward through the steps.

    Each step fills the typed fields it owns for the steps after it (the principal, the plan,
    the attempts, usage and cost); none reaches into another step's internals. Steps register
    ``on_finish`` hooks, which run exactly once when the answer is complete, streamed or
    not, whichever way it ended (success, error, client disconnect). ``on_record`` hooks run
    once after them; they only record what happened, so the HTTP front runs them after a
    complete answer is written (``finish(hold_records=True)``, then ``run_records``): recording
    never delays the answer, and nothing else runs in between (the hooks are synchronous).
    """

    request: ChatRequest
    principal: Principal | None = None
    # The raw gateway key the client sent; only the auth step reads it, nothing logs it.
    credential: str | None = field(default=None, repr=False)
    request_id: str = field(default_factory=new_request_id)
    started_at: float = field(default_factory=time.time)
    t0: float = field(default_factory=time.perf_counter)
    route: str | None = None
    requested_model: str = ""
    # The models to try, in order (the router's plan or the named model with its fallbacks).
    candidates: list[str] = field(default_factory=list)
    # Filled by the routing step for the steps after it (and the request log).
    plan: Plan | None = None
    features: RequestFeatures | None = None  # computed once, shared by routing and learning
    bandit_features: Any = None  # the learner's feature vector (numpy), computed once
    task: str | None = None
    arm: str | None = None  # "routed" or "control" in a gradual rollout
    experiment: str | None = None  # the policy experiment this request took part in
    experiment_arm: str | None = None  # and its arm (``routing/experiments.py``)
    cascade_calls: int = 0  # cascade stages called before the answer
    constraint_unmet: bool = False
    complexity: str | None = None  # "simple" | "medium" | "complex" (``routing.complexity``)
    batch_id: str | None = None  # set by the batch runner: the request-log row names its batch
    # Filled by the limits step.
    limits_degraded: bool = False  # the limit store was unreachable and the policy let it through
    budget_alert: str | None = None  # the soft budget this request went over
    # (guardrail, action, stage, classes matched) per guardrail run; never the matched text.
    guardrail_decisions: list[tuple[str, str, str, str]] = field(default_factory=list)
    response_headers: dict[str, str] = field(default_factory=dict)
    # Filled by the executor.
    attempts: list[Attempt] = field(default_factory=list)
    answered_by: str | None = None  # deployment that produced the answer
    answered_model: str | None = None
    fallback_used: bool = False
    failed_after_first_byte: bool = False  # a stream failed after content reached the client
    cache_hit: bool = False
    cache_kind: str | None = None  # "exact", "semantic" or "coalesced" when the cache answered
    cache_saved_usd: float = 0.0  # the upstream cost of the answer the cache replayed
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    ttft_ms: float | None = None
    status: int = 200
    error_class: str | None = None
    error_message: str | None = None
    client_disconnected: bool = False
    # Events of the stream already parsed from bytes received, not yet passed on: while it is
    # above 0 the next event comes without waiting, so the server may write them together.
    stream_ready: int = 0
    response_text: str | None = None
    policy: str = ""  # the policy version of the snapshot this request runs on (``pipeline/policy.py``)
    # Filled by the executor's failover (hedging, resume, tolerant parsing), for the log.
    hedged: bool = False  # a second call was started while the first had sent nothing
    hedge_winner: str | None = None  # "first" or "hedge": whose answer the client got
    resumed: bool = False  # a cut stream was continued on another deployment
    resume_at_chars: int | None = None  # characters of the answer sent before the resume
    malformed_skipped: int = 0  # malformed stream events skipped
    # Observability: the client's W3C traceparent, the front that took the request, the
    # cache step's outcome ("hit", "miss", "coalesced"; None: no cache step ran) and the
    # timed pieces the trace shows as child spans (``record_span``).
    traceparent: str | None = None
    front: str = "inprocess"
    cache_outcome: str | None = None
    finish_reason: str | None = None
    # (trace id, remote parent) when tracing samples this request, decided as it enters the
    # observe step (``Tracing.decide``); None: not traced, nothing is built for the trace.
    trace: tuple[int, Any] | None = None
    spans: list[StepSpan] | None = None
    on_finish: list[FinishHook] = field(default_factory=list)
    on_record: list[RecordHook] = field(default_factory=list)
    # The snapshot's redaction of upstream errors (the Gateway sets it); patterns only without one.
    redactor: Redactor = field(default=_PATTERNS_ONLY, repr=False)
    _finished: bool = False
    _records_held: bool = False

    def record_span(
        self, name: str, start: float, end: float | None = None, **attributes: str | int | float | bool
    ) -> None:
        """Record a timed step (``time.perf_counter()`` readings; ``end`` defaults to now) as a
        child span of the request's trace: e.g. ``ctx.record_span("cache.lookup", t, outcome="hit")``."""
        span = StepSpan(name, start, time.perf_counter() if end is None else end, attributes or None)
        if self.spans is None:
            self.spans = [span]
        else:
            self.spans.append(span)

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.t0) * 1000.0

    async def finish(self, *, hold_records: bool = False) -> None:
        """Run the finish hooks once, then the record hooks unless ``hold_records`` (the caller
        then calls ``run_records`` once the answer is written); a failing hook never breaks the
        others."""
        if self._finished:
            return
        self._finished = True
        done = False
        try:
            for hook in reversed(self.on_finish):
                try:
                    res = hook(self)
                    if res is not None:
                        await res
                except Exception:  # a log or limit hook must never fail a response
                    log.exception("finish hook failed for %s", self.request_id)
            done = True
        finally:  # cancelled in a hook: the request is still recorded
            self._records_held = True
            if not (done and hold_records):
                self.run_records()

    def run_records(self) -> None:
        """Run the record hooks once, after ``finish`` (a no-op before it and after the first call)."""
        if not self._records_held:
            return
        self._records_held = False
        for hook in reversed(self.on_record):
            try:
                hook(self)
            except Exception:  # a log hook must never fail a response
                log.exception("record hook failed for %s", self.request_id)


@dataclass(slots=True)
class Reply:
    """What the pipeline returns: a whole response, or a stream of canonical events.

    For a stream, the iterator ends after the last event; an error after the first content
    event is raised from the iterator (the front codec turns it into an in-band error).
    """

    response: ChatResponse | None = None
    events: AsyncIterator[Event] | None = None
    body: bytes | None = None  # ``response`` rendered by the front (``Gateway.handle(render=...)``)
