"""The base of every config section: frozen, unknown keys refused."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Capability = Literal["tools", "json", "vision", "streaming"]
CAPABILITIES: tuple[Capability, ...] = ("tools", "json", "vision", "streaming")


class ConfigError(ValueError):
    """The configuration is invalid; the message names each key path at fault."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
