"""How a model's batch lines run: through its provider's own batch API (billed at the
``batch_discount``) or by faregate itself (one normal call per line, at list price).

One rule for the batch executor, which applies it per deployment, and for the router, which
may only promise the discount where the provider's batch API will really run the line."""

from __future__ import annotations

from ..adapters.registry import provider_spec
from .models import ModelConfig

# Providers whose batch API the executor speaks (``batch/provider_api.APIS``).
BATCH_API_PROVIDERS = frozenset({"openai", "anthropic", "gemini"})


def public_endpoint(provider: str, base_url: str | None) -> bool:
    """Whether ``base_url`` is the provider's own public API (``None``: the default, so yes)."""
    return base_url is None or base_url.rstrip("/") == provider_spec(provider).default_base_url.rstrip("/")


def runs_on_provider(mode: str, provider: str, base_url: str | None) -> bool:
    """Whether one endpoint takes batch lines through its provider's batch API under ``mode``:
    ``provider`` wherever the provider has one, ``self`` never, ``auto`` on its public API only
    (an OpenAI-compatible local server or a proxy rarely serves ``/v1/batches``)."""
    if mode == "self" or provider not in BATCH_API_PROVIDERS:
        return False
    return mode == "provider" or public_endpoint(provider, base_url)


def effective_discount(model: ModelConfig, gateway_batch: str) -> float:
    """The share off the list price a batch line of ``model`` really gets: its
    ``batch_discount`` when one of its deployments runs batches on the provider (the executor
    takes the first that does), else 0."""
    mode = model.batch or gateway_batch
    targets = [(d.provider or model.provider, d.base_url or model.base_url) for d in model.deployments]
    if not any(runs_on_provider(mode, p, b) for p, b in targets or [(model.provider, model.base_url)]):
        return 0.0
    return float(model.batch_discount or 0.0)
