"""The ``batch_tier:`` section: when the router may plan a request with a deadline onto the
batch tier, and how the answer reaches a client that gave a callback URL."""

from __future__ import annotations

from pydantic import Field, field_validator

from ..core.durations import parse_duration
from .base import _Frozen


class BatchTierConfig(_Frozen):
    """The batch tier as a routing target (docs/batch.md, "Deadlines and the batch plan")."""

    enabled: bool = Field(
        True, description="false: a request's deadline never plans it onto the batch tier (it runs synchronously)."
    )
    turnaround: str = Field(
        "24h",
        description="How long a batch may take (like OpenAI's completion_window): the tier is a candidate only "
        "for a deadline at least this long.",
    )
    callback_attempts: int = Field(
        5, ge=1, le=20, description="POSTs of the answer to a callback_url before giving up."
    )
    callback_timeout_s: float = Field(10.0, gt=0, le=120, description="Timeout of one callback POST (seconds).")
    callback_secret: str | None = Field(
        None,
        description="Signs each callback: `X-Faregate-Signature: sha256=<hex HMAC-SHA256 of the body>`, as alert "
        "webhooks are; null: unsigned.",
    )
    callback_hosts: list[str] | None = Field(
        None, description="Hosts a callback_url may name (a request naming another is a 400); null: any host."
    )

    @field_validator("turnaround")
    @classmethod
    def _turnaround_ok(cls, v: str) -> str:
        parse_duration(v)
        return v

    @property
    def turnaround_s(self) -> float:
        return parse_duration(self.turnaround)
