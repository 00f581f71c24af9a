"""The gateway config as the offline analyses plan with it."""

from __future__ import annotations

import os

from ..catalogue import apply_catalogue
from ..config import ConfigError, GatewayConfig, load_config
from ..core.command_error import CommandError


def planning_config(path: str | os.PathLike | None) -> GatewayConfig:
    """The config at ``path`` completed from the model catalogue as the server compiles it
    (``pipeline.runtime.compile_runtime``): a model named only ``gpt-4o`` gets the catalogue's
    prices and quality priors, so offline plans cost and choose what the gateway would. A bad
    config, or a price in the wrong unit that ``faregate serve`` would refuse, is a one-line
    error (exit 2)."""
    try:
        return apply_catalogue(load_config(path))
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
