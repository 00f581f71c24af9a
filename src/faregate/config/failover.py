"""The ``failover:`` and ``upstream_caps:`` sections of a model (or a route): how hard faregate
works to rescue an answer, and how much of an upstream's answer it is willing to read.

Each default is the one that serves most users; ``docs/reliability.md`` gives the reason for
each. A route's ``failover:`` replaces its candidates' own for requests sent to the route.
"""

from __future__ import annotations

from pydantic import Field

from .base import _Frozen

MIB = 1024 * 1024


class FailoverConfig(_Frozen):
    """Short waits, quick retries, hedged first bytes and tolerant stream parsing."""

    retry_after_wait_max_s: float = Field(
        3.0,
        ge=0,
        description="A Retry-After up to this long (and within the deadline) is waited out on the same "
        "deployment before falling back; 0: never wait, fall back at once.",
    )
    quick_retry: bool = Field(
        True, description="One quick retry of the same deployment after a connection reset or a 500/502/503/504."
    )
    quick_retry_max_s: float = Field(
        0.25, ge=0, le=5, description="The quick retry waits uniform 0..this many seconds (jitter)."
    )
    hedge: bool = Field(
        True, description="Start the next candidate in parallel when the first byte is late (one extra call at most)."
    )
    hedge_p95_factor: float = Field(
        2.0, gt=0, description="Hedge delay: the deployment's observed p95 time to first token times this."
    )
    hedge_min_samples: int = Field(
        10, ge=1, description="Time-to-first-token samples a deployment needs before its p95 is used."
    )
    hedge_min_s: float = Field(0.25, ge=0, description="The hedge delay is never shorter than this (seconds).")
    hedge_default_s: float = Field(
        5.0, gt=0, description="The hedge delay with neither history nor a latency ceiling (seconds)."
    )
    malformed_events_skipped: int = Field(
        1, ge=0, description="Malformed stream events skipped per stream (counted); one more fails the stream."
    )
    openai_prefill: bool = Field(
        False,
        description="This OpenAI-wire server continues a final assistant message "
        "(vLLM's `continue_final_message`), so a stream can be resumed on it.",
    )


class UpstreamCapsConfig(_Frozen):
    """How much of an upstream's answer is read; over a cap the attempt fails as a 502."""

    max_answer_bytes: int = Field(16 * MIB, gt=0, description="Largest answer body (or stream) read, in bytes.")
    max_error_bytes: int = Field(1 * MIB, gt=0, description="Largest error body read, in bytes.")
    max_sse_line_bytes: int = Field(
        4 * MIB, gt=0, description="Longest line of an event stream, in bytes (a line is one event's data)."
    )
