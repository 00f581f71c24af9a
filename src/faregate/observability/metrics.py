"""Prometheus metrics: one registry per gateway, fed once per finished request.

Names: ``faregate_*`` for the gateway's own families; the OpenTelemetry GenAI metrics in
Prometheus naming (``gen_ai_client_operation_duration_seconds``, ``gen_ai_client_token_usage``,
``gen_ai_server_time_to_first_token_seconds``) with the buckets the semantic conventions
recommend. Every label value is bounded: model, deployment, provider, route, front (a path),
status, outcome, and the key *id* (never a key, a request id or prompt text).

State read at scrape time (breaker state per deployment, the request-log queue) comes from
``sources`` callables given by the gateway, so nothing on the request path updates it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

__all__ = ["CONTENT_TYPE_LATEST", "BreakerReading", "GatewayMetrics", "LogReading"]

# Recommended by the GenAI semantic conventions for each instrument.
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
# Time spent in faregate itself: well under a millisecond when all is well.
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
BREAKER_VALUES = {"closed": 0, "half_open": 1, "open": 2}


@dataclass(frozen=True, slots=True)
class BreakerReading:
    deployment: str
    model: str
    provider: str
    state: str  # closed | half_open | open
    failures: int = 0
    last_error_kind: str | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class LogReading:
    pending: int
    spilled: int
    dropped: int
    written: int


class _ScrapeTime(Collector):
    """Breaker state and request-log counters, read when Prometheus scrapes."""

    def __init__(self, breakers: Callable[[], Iterable[BreakerReading]], log: Callable[[], LogReading | None]) -> None:
        self._breakers, self._log = breakers, log

    def collect(self) -> Iterator[Metric]:
        g = GaugeMetricFamily(
            "faregate_breaker_state",
            "Circuit breaker state per deployment: 0 closed, 1 half open, 2 open.",
            labels=["deployment", "model", "provider"],
        )
        for b in self._breakers():
            g.add_metric([b.deployment, b.model, b.provider], BREAKER_VALUES.get(b.state, 0))
        yield g
        r = self._log()
        if r is None:
            return
        yield GaugeMetricFamily("faregate_request_log_queue_depth", "Request-log records queued.", value=r.pending)
        yield CounterMetricFamily("faregate_request_log_spilled", "Records spilled to the file.", value=r.spilled)
        yield CounterMetricFamily("faregate_request_log_dropped", "Records that could go nowhere.", value=r.dropped)
        yield CounterMetricFamily("faregate_request_log_written", "Records written to the database.", value=r.written)


class Family:
    """One counter or histogram family, accumulated in plain dicts on the event loop and turned
    into Prometheus samples at scrape time (``prometheus_client``'s own children take a lock and
    several checks per update: this costs a dict lookup and an addition)."""

    __slots__ = ("name", "doc", "labels", "buckets", "data")

    def __init__(self, name: str, doc: str, labels: Sequence[str], buckets: Sequence[float] | None = None) -> None:
        self.name, self.doc, self.labels = name, doc, list(labels)
        self.buckets = tuple(buckets) if buckets is not None else None
        self.data: dict[tuple[str, ...], Any] = {}

    def inc(self, key: tuple[str, ...], amount: float = 1.0) -> None:
        d = self.data
        d[key] = d.get(key, 0.0) + amount

    def observe(self, key: tuple[str, ...], value: float) -> None:
        buckets = self.buckets
        assert buckets is not None
        h = self.data.get(key)
        if h is None:
            h = self.data[key] = [0.0] + [0] * (len(buckets) + 1)  # [sum, bucket counts..., +Inf]
        h[0] += value
        h[1 + bisect_left(buckets, value)] += 1  # le is inclusive

    def metric(self) -> Metric:
        if self.buckets is None:
            c = CounterMetricFamily(self.name, self.doc, labels=self.labels)
            for key, v in self.data.items():
                c.add_metric(list(key), v)
            return c
        m = HistogramMetricFamily(self.name, self.doc, labels=self.labels)
        for key, h in self.data.items():
            acc, cumulative = 0, []
            for le, n in zip((*(floatToGoString(b) for b in self.buckets), "+Inf"), h[1:], strict=True):
                acc += n
                cumulative.append((le, acc))
            m.add_metric(list(key), cumulative, sum_value=h[0])
        return m


class _Families(Collector):
    def __init__(self, families: list[Family]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        for f in self.families:
            yield f.metric()


class GatewayMetrics:
    """The metric families (see the module docstring); updated only from the event loop."""

    def __init__(
        self,
        breakers: Callable[[], Iterable[BreakerReading]] = tuple,
        log: Callable[[], LogReading | None] = lambda: None,
    ) -> None:
        fams: list[Family] = []

        def fam(name: str, doc: str, labels: Sequence[str], buckets: Sequence[float] | None = None) -> Family:
            fams.append(Family(name, doc, labels, buckets))
            return fams[-1]

        self.requests = fam(
            "faregate_requests",
            "Requests by front, model, deployment, provider, status and cache outcome.",
            ["front", "model", "deployment", "provider", "status", "cache"],
        )
        self._gen_ai(fam)
        self.overhead = fam(
            "faregate_gateway_overhead_seconds",
            "Time spent in faregate itself: the request's duration minus its upstream calls.",
            ["front"],
            OVERHEAD_BUCKETS,
        )
        self.tokens = fam("faregate_tokens", "Tokens by model and type.", ["model", "type"])
        self.cost = fam("faregate_cost_usd", "Cost in USD by model and key id.", ["model", "key"])
        self.attempts = fam(
            "faregate_upstream_attempts", "Upstream calls by outcome.", ["deployment", "provider", "outcome"]
        )
        self._upstream(fam)
        self.retries = fam("faregate_retries", "Upstream calls beyond the first, by model.", ["model"])
        self.failovers = fam(
            "faregate_failovers", "Requests answered by a fallback, by the model that answered.", ["model"]
        )
        self.rejections = fam(
            "faregate_limit_rejections", "Requests refused by a limit: rate, budget or concurrency.", ["kind", "key"]
        )
        self.cache = fam("faregate_cache", "Cache lookups by outcome: hit, miss, coalesced.", ["outcome"])
        self.routing = fam(
            "faregate_routing_decisions",
            "Routing decisions by route, chosen model and plan kind.",
            ["route", "model", "plan"],
        )
        self.guardrails = fam(
            "faregate_guardrail_decisions",
            "Guardrail decisions: pass, mask or block.",
            ["guardrail", "action", "stage"],
        )
        self.unmet = fam("faregate_constraint_unmet", "Plans that met no candidate's floor.", ["route"])
        # Experiment and arm names come from the config, never from a client: a bounded label set.
        self.experiments = fam(
            "faregate_experiment_requests",
            "Requests that took part in a policy experiment, by experiment, arm and status.",
            ["experiment", "arm", "status"],
        )
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Families(fams))
        self.registry.register(_ScrapeTime(breakers, log))

    def _upstream(self, fam: Callable[..., Family]) -> None:
        """Upstream health as it happens: failures, breaker transitions, hedges, skipped events."""
        self.upstream_failures = fam(
            "faregate_upstream_failures",
            "Failed upstream calls that count against a deployment's health, as they happen, by error kind.",
            ["deployment", "provider", "kind"],
        )
        self.breaker_transitions = fam(
            "faregate_breaker_transitions",
            "Circuit breaker transitions per deployment, as they happen.",
            ["deployment", "from_state", "to_state"],
        )
        self.hedges = fam(
            "faregate_hedges",
            "Hedged requests (a second call started while the first had sent nothing), by outcome: "
            "first or hedge (whose answer the client got), failed (neither answered).",
            ["outcome"],
        )
        self.skipped_events = fam(
            "faregate_stream_events_skipped",
            "Malformed stream events skipped by tolerant parsing, by the provider of the answer.",
            ["provider"],
        )

    def _gen_ai(self, fam: Callable[..., Family]) -> None:
        """The GenAI semantic-convention histograms, in Prometheus naming."""
        op = ["gen_ai_operation_name", "gen_ai_provider_name"]
        self.duration = fam(
            "gen_ai_client_operation_duration_seconds",
            "GenAI operation duration (gen_ai.client.operation.duration), the whole request.",
            [*op, "gen_ai_request_model", "gen_ai_response_model"],
            DURATION_BUCKETS,
        )
        self.ttft = fam(
            "gen_ai_server_time_to_first_token_seconds",
            "Time to the first token (gen_ai.server.time_to_first_token).",
            [*op, "gen_ai_request_model"],
            TTFT_BUCKETS,
        )
        self.token_usage = fam(
            "gen_ai_client_token_usage",
            "Tokens per request (gen_ai.client.token.usage) by token type.",
            [*op, "gen_ai_response_model", "gen_ai_token_type"],
            TOKEN_BUCKETS,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
