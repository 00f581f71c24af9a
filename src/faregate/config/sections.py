"""The gateway-wide sections: server, learning, estimates, retries, probes, the HTTP pool, the log writer."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import _Frozen


class ServerConfig(_Frozen):
    """The HTTP server of `faregate serve`."""

    host: str = Field("127.0.0.1", description="Bind address (`FAREGATE_HOST`, `--host`).")
    port: int = Field(8080, ge=0, le=65535, description="Port (`FAREGATE_PORT`, `--port`).")
    max_body_bytes: int = Field(8 * 1024 * 1024, gt=0, description="Largest request body; 413 above.")
    log_bodies: bool = Field(False, description="Log prompt and answer text (secrets redacted).")
    # Caps of `faregate serve` (server/capacity.py): bounded work per connection and per process.
    header_timeout_s: float = Field(
        10.0, gt=0, le=600, description="A new connection must send a complete request head within this (s)."
    )
    body_timeout_s: float = Field(
        30.0, gt=0, le=3600, description="A request body must arrive whole within this (s); 408 after."
    )
    keepalive_timeout_s: float = Field(
        15.0,
        gt=0,
        le=3600,
        description="An idle keep-alive connection (or a slow next request head) is closed after this (s).",
    )
    max_connections: int = Field(
        1000, ge=1, description="Open connections per process; one more is answered 503 and closed."
    )
    max_in_flight: int = Field(
        500, ge=1, description="Requests handled at once per process; one more gets 503 with Retry-After."
    )
    overload_retry_after_s: int = Field(1, ge=1, le=3600, description="Retry-After (s) of those 503 answers.")
    log_body_max_chars: int = Field(
        64 * 1024, gt=0, description="With log_bodies: the most characters of a prompt or an answer logged."
    )
    # A fleet (docs/cluster.md): which replica answered, and how it leaves on SIGTERM.
    replica_id: str = Field(
        "", description="This replica's id in `x-faregate-replica` (`FAREGATE_REPLICA_ID`); empty: hostname-pid."
    )
    drain_timeout_s: float = Field(
        30.0, gt=0, le=3600, description="On SIGTERM, in-flight requests and streams get this long to finish (s)."
    )


class LearningConfig(_Frozen):
    """Online learning from feedback and implicit signals."""

    enabled: bool = Field(True, description="Learn from feedback and implicit signals.")
    explore_rate: float = Field(0.05, ge=0, le=1)  # share of routed requests that may explore
    max_explore_shift: float = Field(
        0.1, ge=0, le=1, description="How far an exploring request's sampled quality may lie from the learner's mean."
    )
    retry_window_s: float = Field(300.0, gt=0)  # a near-duplicate prompt within it is a retry
    retry_min_gap_s: float = Field(
        2.0, ge=0, description="A look-alike prompt sooner than this after the answer is a burst, not a retry (s)."
    )
    retry_weight: float = Field(0.5, gt=0, le=1, description="Weight of a retry signal (an explicit score is 1).")
    max_retry_signals: int = Field(
        3, ge=0, description="Retry signals one key may give per retry window (a bound on how far it moves models)."
    )
    max_signal_move: float = Field(
        0.1,
        gt=0,
        le=1,
        description="The most a behavioural signal (a retry, a slow answer) of weight 1 moves a model's "
        "predicted quality for its request; a signal of weight w moves it at most w times this.",
    )
    shared: bool = Field(True, description="Share what is learned through the request-log database (every replica).")
    sync_interval_s: float = Field(
        1.0, gt=0, le=60, description="How often a replica writes what it learned and reads the others' (s)."
    )


class RoutingEstimatesConfig(_Frozen):
    """The planner's token and latency estimates (``routing/estimate.py``)."""

    output_tokens_by_task: dict[str, int] = Field(
        default_factory=lambda: {
            "classify": 16,
            "extract_json": 150,
            "summarize": 200,
            "chat": 250,
            "generate": 500,
            "code": 400,
            "multiple_choice": 8,
        },
        description="Typical answer length in tokens per task, for cost and latency when max_tokens is not given.",
    )
    default_output_tokens: int = Field(
        256, gt=0, description="Answer length in tokens for a task missing from output_tokens_by_task."
    )
    p95_factor: float = Field(
        1.5, gt=0, description="p95 time to first token over its moving mean (or over the configured prior)."
    )


class RetryConfig(_Frozen):
    """How long the attempt loop waits (see ``pipeline/retry_policy.py``).

    Gateway-wide rather than per model: these numbers pace calls to a provider endpoint, and
    the cooldown is state of a deployment that every request shares, so one setting keeps the
    pacing the same whichever model a request names. How many calls a model gets
    (``max_attempts``) and whether it retries before its fallbacks (``retry_before_fallback``)
    are choices about that model's cost and quality, so they stay in ``ModelConfig``.
    """

    backoff_start_s: float = Field(
        0.1, gt=0, description="Bound of the first full-jitter backoff (uniform in 0..bound); doubles per retry."
    )
    backoff_cap_s: float = Field(10.0, gt=0, description="Largest backoff bound, however many retries.")
    cooldown_start_s: float = Field(
        1.0, gt=0, description="First cooldown of a deployment after a credential error without Retry-After."
    )
    cooldown_cap_s: float = Field(
        300.0, gt=0, description="Longest such cooldown; it doubles on each repeated credential error."
    )


class ProberConfig(_Frozen):
    """How often the active health prober wakes (the probe interval itself is ``breaker.probe_interval_s``)."""

    tick_share: float = Field(
        0.5, gt=0, le=1, description="The prober wakes every this share of the shortest probe_interval_s."
    )
    min_tick_s: float = Field(0.05, gt=0, description="The prober never wakes more often than this (seconds).")


class HttpPoolConfig(_Frozen):
    """The shared upstream HTTP connection pool (see ``endpoints/http.py``)."""

    limit: int = Field(1000, ge=0, description="Most open connections in all (0: no limit).")
    limit_per_host: int = Field(0, ge=0, description="Most open connections to one host (0: no limit).")
    keepalive_s: float = Field(30.0, gt=0, description="How long an idle connection is kept for reuse (seconds).")
    dns_cache_s: int = Field(300, ge=0, description="How long a resolved address is cached (seconds).")
    client: Literal["aiohttp", "pyreqwest"] = Field(
        "aiohttp",
        description="The model calls' HTTP client; pyreqwest needs the `fast` extra (`FAREGATE_HTTP_CLIENT`).",
    )
    http2: bool = Field(
        True, description="pyreqwest: offer HTTP/2 to https upstreams (ALPN); plain http stays HTTP/1.1."
    )


class LogWriterConfig(_Frozen):
    """The request-log writer's pacing: batches, queue bound, retries and bulk-write slicing."""

    batch_size: int = Field(500, ge=1, description="Records written per database transaction.")
    spill_path: str | None = Field(
        None,
        description="Spill file (FAREGATE_LOG_SPILL); default: beside the SQLite file, else faregate-log-spill.jsonl.",
    )
    flush_interval_s: float = Field(
        0.25, gt=0, description="Seconds between writes when fewer than batch_size records are queued."
    )
    max_queue: int = Field(
        50_000, ge=1, description="Records held in memory; past it the oldest tenth goes to the spill file."
    )
    retry_interval_s: float = Field(1.0, gt=0, description="Seconds to wait after a failed write before retrying.")
    recent_ids: int = Field(
        100_000, ge=1, description="Recent request ids remembered, so feedback on a queued request is accepted."
    )
    lookup_chunk: int = Field(
        500, ge=1, description="Ids per query when checking which records of a retried batch are stored already."
    )
    prepare_slice: int = Field(
        128, ge=1, description="Records turned into rows per event-loop slice before the loop is served again."
    )
    loop_slice_rows: int = Field(32, ge=1, description="SQLite: rows inserted per event-loop slice of a bulk write.")
    checkpoint_every_batches: int = Field(
        8, ge=1, description="SQLite: a passive WAL checkpoint after this many bulk writes."
    )
    busy_give_up_s: float = Field(
        10.0, gt=0, description="SQLite: seconds a bulk write waits for another connection's write lock."
    )
    close_timeout_s: float = Field(
        20.0, gt=0, description="Seconds the shutdown flush may take before the rest goes to the spill file."
    )
