"""Token usage and its cost."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Usage:
    """Tokens one call consumed, as the provider reported them.

    ``input_tokens`` counts every prompt token, cached ones included; ``cached_input_tokens``
    is the part billed at the cached price; ``cache_creation_tokens`` the part written to a
    provider cache (priced at ``Prices.cache_write``).
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_creation_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cached_input_tokens + other.cached_input_tokens,
            self.cache_creation_tokens + other.cache_creation_tokens,
        )

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def to_openai(self) -> dict:
        return {
            "prompt_tokens": self.input_tokens,
            "completion_tokens": self.output_tokens,
            "total_tokens": self.input_tokens + self.output_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_input_tokens},
        }


@dataclass(frozen=True, slots=True)
class Prices:
    """USD per million tokens."""

    input: float = 0.0
    output: float = 0.0
    cached_input: float | None = None
    cache_write: float | None = None  # a provider cache write (Anthropic: 1.25x input); None: input

    def cost(self, usage: Usage) -> float:
        cached = min(usage.cached_input_tokens, usage.input_tokens)
        written = min(usage.cache_creation_tokens, usage.input_tokens - cached)
        cached_price = self.input if self.cached_input is None else self.cached_input
        write_price = self.input if self.cache_write is None else self.cache_write
        plain = usage.input_tokens - cached - written
        return (
            plain * self.input + cached * cached_price + written * write_price + usage.output_tokens * self.output
        ) / 1_000_000
