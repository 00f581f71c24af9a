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

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

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


class GatewayMetrics:
    """The metric families; ``labels()`` children are cached, so a request costs a few dict hits."""

    def __init__(
        self,
        breakers: Callable[[], Iterable[BreakerReading]] = tuple,
        log: Callable[[], LogReading | None] = lambda: None,
    ) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "faregate_requests",
            "Requests by front, model, deployment, provider, status and cache outcome.",
            ["front", "model", "deployment", "provider", "status", "cache"],
            registry=r,
        )
        self._gen_ai(r)
        self.overhead = Histogram(
            "faregate_gateway_overhead_seconds",
            "Time spent in faregate itself: the request's duration minus its upstream calls.",
            ["front"],
            buckets=OVERHEAD_BUCKETS,
            registry=r,
        )
        self.tokens = Counter("faregate_tokens", "Tokens by model and type.", ["model", "type"], registry=r)
        self.cost = Counter("faregate_cost_usd", "Cost in USD by model and key id.", ["model", "key"], registry=r)
        self.attempts = Counter(
            "faregate_upstream_attempts",
            "Upstream calls by outcome.",
            ["deployment", "provider", "outcome"],
            registry=r,
        )
        self.retries = Counter("faregate_retries", "Upstream calls beyond the first, by model.", ["model"], registry=r)
        self.failovers = Counter(
            "faregate_failovers", "Requests answered by a fallback, by the model that answered.", ["model"], registry=r
        )
        self.rejections = Counter(
            "faregate_limit_rejections", "Requests refused by a limit: rate, budget or concurrency.",
            ["kind", "key"], registry=r,
        )  # fmt: skip
        self.cache = Counter(
            "faregate_cache", "Cache lookups by outcome: hit, miss, coalesced.", ["outcome"], registry=r
        )
        self.routing = Counter(
            "faregate_routing_decisions", "Routing decisions by route, chosen model and plan kind.",
            ["route", "model", "plan"], registry=r,
        )  # fmt: skip
        self.unmet = Counter("faregate_constraint_unmet", "Plans that met no candidate's floor.", ["route"], registry=r)
        r.register(_ScrapeTime(breakers, log))
        self._children: dict[tuple[Any, ...], Any] = {}

    def _gen_ai(self, r: CollectorRegistry) -> None:
        """The GenAI semantic-convention histograms, in Prometheus naming."""
        self.duration = Histogram(
            "gen_ai_client_operation_duration_seconds",
            "GenAI operation duration (gen_ai.client.operation.duration), the whole request.",
            ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_response_model"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "gen_ai_server_time_to_first_token_seconds",
            "Time to the first token (gen_ai.server.time_to_first_token).",
            ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model"],
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.token_usage = Histogram(
            "gen_ai_client_token_usage",
            "Tokens per request (gen_ai.client.token.usage) by token type.",
            ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_response_model", "gen_ai_token_type"],
            buckets=TOKEN_BUCKETS,
            registry=r,
        )

    def child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, cached (the library's lookup is several times dearer)."""
        key = (id(metric), *labels)
        c = self._children.get(key)
        if c is None:
            c = self._children[key] = metric.labels(*labels)
        return c

    def render(self) -> bytes:
        return generate_latest(self.registry)
