"""Filling a config's models from the catalogue, when the config is compiled.

A model the catalogue knows may say only ``model: gpt-4o-mini`` (and a key): the wire format,
upstream id, endpoint, prices, context window, largest answer and capabilities come from the
catalogue; anything the config says wins. A model neither in the catalogue nor priced in the
config costs $0 (with a warning). A config price 1,000 times (or more) off the catalogue's is
refused: it is almost surely per token (or per thousand) where faregate wants per million.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from ..config import CAPABILITIES, ConfigError, DeploymentConfig, GatewayConfig, ModelConfig, PricesConfig
from .data import Catalogue, CatalogueEntry, load_catalogue

log = logging.getLogger("faregate")

# How far a config price may be from the catalogue's before it is taken for a unit mistake.
UNIT_RATIO = 1000.0
_PRICE_FIELDS = ("input", "output", "cached_input", "cache_write")


def apply_catalogue(config: GatewayConfig, catalogue: Catalogue | None = None) -> GatewayConfig:
    """``config`` with each model completed from the catalogue (see the module docstring).

    Idempotent: a config already filled in comes back equal. Raises ``ConfigError`` for a
    price in the wrong unit."""
    cat = catalogue if catalogue is not None else load_catalogue(config.catalogue_file)
    models = [_fill(m, cat, f"models.{i}") for i, m in enumerate(config.models)]
    if all(a is b for a, b in zip(models, config.models)):
        return config
    return config.model_copy(update={"models": models})


def entry_for(m: ModelConfig, cat: Catalogue) -> CatalogueEntry | None:
    provider = m.provider if "provider" in m.model_fields_set else None
    for key in (m.model, m.name):
        if key:
            hit = cat.find(key, provider)
            if hit is not None:
                return hit
    return None


def _fill(m: ModelConfig, cat: Catalogue, path: str) -> ModelConfig:
    entry = entry_for(m, cat)
    if entry is None:
        priced = "prices" in m.model_fields_set or any(d.prices is not None for d in m.deployments)
        if not priced:
            log.warning(
                "model %r is not in the catalogue and has no prices: its requests are charged $0 "
                "(add `prices:` in USD per million tokens)",
                m.name,
            )
        return m
    if entry.retires and entry.retires <= dt.date.today().isoformat():
        log.warning(
            "model %r: the catalogue says %s retires %s on %s (%s): its requests will likely fail",
            m.name,
            entry.provider,
            entry.upstream,
            entry.retires,
            entry.source.url,
        )
    fs = m.model_fields_set
    update: dict[str, Any] = {}
    if "provider" not in fs:
        update["provider"] = entry.api
    provider = update.get("provider", m.provider)
    if m.model is None or m.model == entry.name:
        if m.model != entry.upstream:
            update["model"] = entry.upstream
    if "base_url" not in fs and entry.base_url and provider == entry.api and m.base_url != entry.base_url:
        update["base_url"] = entry.base_url
    prices = _prices(m.prices if "prices" in fs else None, entry, f"{path}.prices")
    if prices != m.prices:
        update["prices"] = prices
    if "context_window" not in fs:
        update["context_window"] = entry.context_window
    if "max_output_tokens" not in fs and entry.max_output_tokens is not None:
        update["max_output_tokens"] = entry.max_output_tokens
    if "capabilities" not in fs:
        update["capabilities"] = _capabilities(entry)
    if "mode" not in fs:
        update["mode"] = entry.mode
    if "batch_discount" not in fs and entry.batch_discount is not None:
        update["batch_discount"] = entry.batch_discount
    # A configured ``quality`` is the operator's prior for every task: the catalogue's stays out.
    if entry.quality_priors is not None and not fs & {"quality", "quality_priors"}:
        update["quality_priors"] = dict(entry.quality_priors.by_task)
    for j, d in enumerate(m.deployments):  # checked only: a deployment's prices stay its own
        _check_deployment(d, entry, f"{path}.deployments.{j}")
    update = {k: v for k, v in update.items() if getattr(m, k) != v}
    return m.model_copy(update=update) if update else m


def _check_deployment(d: DeploymentConfig, entry: CatalogueEntry, path: str) -> None:
    if d.prices is not None:
        for f in d.prices.model_fields_set & set(_PRICE_FIELDS):
            _check_unit(getattr(d.prices, f), getattr(entry.prices, f), entry, f"{path}.prices.{f}")


def _prices(given: PricesConfig | None, entry: CatalogueEntry, path: str) -> PricesConfig:
    """The catalogue's prices, overridden field by field by the config's (checked for their unit)."""
    values: dict[str, float | None] = {f: getattr(entry.prices, f) for f in _PRICE_FIELDS}
    if given is not None:
        for f in given.model_fields_set & set(_PRICE_FIELDS):
            v = getattr(given, f)
            _check_unit(v, values[f], entry, f"{path}.{f}")
            values[f] = v
    return PricesConfig(
        input=values["input"] or 0.0,
        output=values["output"] or 0.0,
        cached_input=values["cached_input"],
        cache_write=values["cache_write"],
    )


def _check_unit(given: float | None, known: float | None, entry: CatalogueEntry, path: str) -> None:
    if not given or not known:
        return
    if known / given >= UNIT_RATIO:
        hint = "USD per token (or per thousand tokens)"
    elif given / known >= UNIT_RATIO:
        hint = "a price in another unit"
    else:
        return
    raise ConfigError(
        f"{path}: {given:g} looks like {hint}: prices are USD per million tokens, and the catalogue "
        f"lists {entry.name} at {known:g} ({entry.source.url}, {entry.source.as_of}); write {known:g} "
        f"or your negotiated price per million tokens"
    )


def _capabilities(entry: CatalogueEntry) -> list[Any]:
    caps = entry.capabilities
    have = {"tools": caps.tools, "json": True, "vision": caps.vision, "streaming": True}
    return [c for c in CAPABILITIES if have[c]]
