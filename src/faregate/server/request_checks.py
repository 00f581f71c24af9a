"""Checks of a parsed request against the configuration, before the pipeline runs: what the
front codecs cannot know (the models' limits, the routing constraints' ranges).

- ``max_tokens`` (or ``max_completion_tokens``) beyond what the model can ever produce is a
  400 naming the limit, not a 429 whose Retry-After waits for a budget that can never fit it.
  For a route or ``auto``, beyond every candidate's limit.
- the ``faregate`` routing object (and its headers) is validated for every model, fixed ones
  included, with the same ranges the router applies.
"""

from __future__ import annotations

from ..cache import directives as cache_directives
from ..config import GatewayConfig, ModelConfig
from ..core.errors import InvalidRequest
from ..core.types import ChatRequest
from ..routing.constraints import resolve_constraints


def output_limit(m: ModelConfig) -> tuple[int, str]:
    """The most tokens ``m`` can answer with, and the config field that says so."""
    if m.max_output_tokens is not None and m.max_output_tokens < m.context_window:
        return m.max_output_tokens, "max_output_tokens"
    return m.context_window, "context_window"


def _candidates(req: ChatRequest, config: GatewayConfig) -> list[ModelConfig] | None:
    m = config.model(req.model)
    if m is not None:
        return [m]
    route = next((r for r in config.routes if r.name == req.model), None)
    if route is not None and route.candidates:
        return [c for c in (config.model(n) for n in route.candidates) if c is not None]
    if route is not None or req.model == "auto":
        return list(config.models)
    return None  # an unknown model: the pipeline answers 404


def check_max_tokens(req: ChatRequest, config: GatewayConfig) -> None:
    if req.max_tokens is None:
        return
    models = _candidates(req, config)
    if not models:
        return
    best = max(models, key=lambda m: output_limit(m)[0])
    limit, field = output_limit(best)
    if req.max_tokens > limit:
        which = (
            f"model {best.name!r}" if len(models) == 1 else f"any candidate of {req.model!r} (largest: {best.name!r})"
        )
        raise InvalidRequest(
            f"max_tokens = {req.max_tokens} is more than {which} can produce: its {field} is {limit} tokens. "
            f"Ask for at most {limit}.",
            param="max_tokens",
            code="max_tokens_too_large",
        )


def check_request(req: ChatRequest, config: GatewayConfig) -> None:
    """Every check above; raises ``InvalidRequest`` (400) naming the field."""
    if req.routing:
        # The cache step reads (and removes) the per-request cache control; the rest are constraints.
        cache_directives.parse(req.routing.get("cache"))
        constraints = {k: v for k, v in req.routing.items() if k != "cache"}
        resolve_constraints(constraints, None, config, None)  # validation only: ranges, keys, task
    check_max_tokens(req, config)
