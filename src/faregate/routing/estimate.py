"""The one estimate of a request's tokens, latency and cost, before it runs.

Used by the planner (expected answer length per task), the limits step (an upper bound:
``max_tokens`` or ``limits.default_max_tokens``, priced at the dearest model it may reach) and
``faregate analyze`` (recorded usage when present). What differs between them is a parameter:

- input tokens: ``prompt_tokens(text, n_messages, overhead)`` = characters / 4 + 4 per
  message + ``overhead`` (the limits step reserves 3 more for the reply's priming);
- output tokens: ``output_tokens(max_tokens, task, estimates)`` = ``max_tokens`` if given,
  else the task's typical answer length (or a fixed default such as ``default_max_tokens``);
- cost per model: input x input price + output x output price, per million tokens;
- p95 latency per model: p95 time to first token (live moving mean x ``p95_factor``, else a
  calibrated p95, else the configured prior x ``p95_factor``) + output tokens over speed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..config import ModelConfig, RoutingEstimatesConfig

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4


def prompt_tokens(text: str, n_messages: int, *, overhead: int = 0) -> int:
    """Estimated input tokens of a conversation whose text is ``text``."""
    return len(text) // CHARS_PER_TOKEN + TOKENS_PER_MESSAGE * n_messages + overhead


def output_tokens(
    max_tokens: int | None,
    task: str | None = None,
    estimates: RoutingEstimatesConfig | None = None,
    *,
    default: int | None = None,
) -> int:
    """``max_tokens`` when given; else ``default`` if given, else the task's typical length."""
    if max_tokens:
        return max_tokens
    if default is not None:
        return default
    est = estimates or RoutingEstimatesConfig()
    return est.output_tokens_by_task.get(task or "", est.default_output_tokens)


@dataclass(frozen=True)
class LatencyStats:
    """What is known of the models' speed: live ttft means, calibration, the p95 factor."""

    observed_ttft_ms: Mapping[str, float] = field(default_factory=dict)
    calibration: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    p95_factor: float = 1.5


@dataclass(frozen=True)
class Estimate:
    input_tokens: int
    output_tokens: int
    cost_usd: dict[str, float]
    latency_ms: dict[str, float]

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def max_cost_usd(self) -> float:
        return max(self.cost_usd.values(), default=0.0)


def cost_usd(m: ModelConfig, input_tokens: int, output_tokens: int) -> float:
    return (input_tokens * m.prices.input + output_tokens * m.prices.output) / 1e6


def latency_ms(m: ModelConfig, output_tokens: int, stats: LatencyStats) -> float:
    """Predicted p95 latency of one call of ``m`` answering ``output_tokens`` tokens."""
    cal = stats.calibration.get(m.name, {})
    live = stats.observed_ttft_ms.get(m.name)
    if live is not None:
        ttft = stats.p95_factor * live
    elif cal.get("ttft_ms_p95") is not None:
        ttft = cal["ttft_ms_p95"]
    else:
        ttft = stats.p95_factor * m.latency.ttft_ms
    speed = cal.get("tokens_per_s") or m.latency.tokens_per_s
    return ttft + 1000.0 * output_tokens / speed


def estimate(
    models: Sequence[ModelConfig],
    *,
    input_tokens: int,
    output_tokens: int,
    latency: LatencyStats | None = None,
) -> Estimate:
    """Tokens, and per model the cost and (if ``latency`` is given) the p95 latency."""
    return Estimate(
        input_tokens,
        output_tokens,
        {m.name: cost_usd(m, input_tokens, output_tokens) for m in models},
        {} if latency is None else {m.name: latency_ms(m, output_tokens, latency) for m in models},
    )
