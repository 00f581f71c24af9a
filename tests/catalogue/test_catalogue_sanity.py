"""Structural sanity of the shipped catalogue: relations every entry must satisfy whatever the
prices are (a typo, a per-token figure or a swapped field breaks one of them), so a refresh of
the figures cannot ship a self-contradictory entry. The figures themselves are checked against
their dated sources (``source``), not restated here."""

from __future__ import annotations

import datetime as dt

import pytest

from faregate.adapters.registry import PROVIDERS
from faregate.catalogue import shipped
from faregate.catalogue.resolve import UNIT_RATIO

ENTRIES = shipped().models


def _id(e) -> str:
    return e.name


@pytest.mark.parametrize("e", ENTRIES, ids=_id)
def test_prices_relate_as_list_prices_do(e):
    p = e.prices
    assert p.input > 0
    if e.mode == "embedding":
        assert p.output == 0, "an embedding model is billed on its input only"
        return
    assert p.output >= p.input, "every catalogued chat model charges at least as much to write as to read"
    if p.cached_input is not None:
        assert 0 < p.cached_input < p.input, "a cache hit is cheaper than a fresh input token"
    if p.cache_write is not None:
        assert p.cache_write >= p.input, "writing the cache costs a premium over a plain input token"
    figures = [v for v in (p.input, p.output, p.cached_input, p.cache_write) if v]
    assert max(figures) / min(figures) < UNIT_RATIO, "one entry's prices are in one unit"


@pytest.mark.parametrize("e", ENTRIES, ids=_id)
def test_batch_discount_is_a_share_off(e):
    if e.batch_discount is not None:
        assert 0 < e.batch_discount < 1


@pytest.mark.parametrize("e", ENTRIES, ids=_id)
def test_limits_and_capabilities_agree(e):
    if e.max_output_tokens is not None:
        assert e.max_output_tokens <= e.context_window
    has_cache_price = e.prices.cached_input is not None
    assert e.capabilities.prompt_caching == has_cache_price, "prompt caching iff a cached-input price"
    if e.prices.cache_write is not None:
        assert e.capabilities.prompt_caching


@pytest.mark.parametrize("e", ENTRIES, ids=_id)
def test_wire_format_endpoint_and_source_are_usable(e):
    assert e.api in PROVIDERS, f"{e.api!r} is not a wire format faregate speaks"
    assert e.base_url is None or e.base_url.startswith("https://")
    assert e.source.url.startswith("https://")
    checked = dt.date.fromisoformat(e.source.as_of)
    if e.retires is not None:
        dt.date.fromisoformat(e.retires)
    assert checked <= dt.date.fromisoformat(shipped().version), "checked after the catalogue's own date"


def test_names_and_upstream_ids_are_unambiguous():
    names = [e.name for e in ENTRIES]
    assert len(names) == len(set(names))
    routes = [(e.api, e.base_url, e.upstream) for e in ENTRIES]
    assert len(routes) == len(set(routes)), "two entries would send requests to the same upstream model"


TIER_ORDER = ("small", "strong", "frontier")


@pytest.mark.parametrize("e", ENTRIES, ids=_id)
def test_every_chat_model_has_a_prior_for_every_task_family(e):
    from faregate.routing.features import TASKS

    if e.mode == "embedding":
        assert e.quality_priors is None, "an embedding model is never a routing candidate"
        return
    assert e.quality_priors is not None
    assert set(e.quality_priors.by_task) == {*TASKS, "default"}
    dt.date.fromisoformat(e.quality_priors.as_of)


def test_a_higher_tier_never_has_a_lower_prior():
    by_tier = {e.quality_priors.tier: e.quality_priors.by_task for e in ENTRIES if e.quality_priors}
    assert set(by_tier) == set(TIER_ORDER)
    for lo, hi in zip(TIER_ORDER, TIER_ORDER[1:]):
        assert all(by_tier[lo][t] < by_tier[hi][t] for t in by_tier[lo]), (lo, hi)
