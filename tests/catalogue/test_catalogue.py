"""The shipped catalogue, the fill-in of config models from it, and `faregate models`."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
from click.testing import CliRunner

from faregate.catalogue import apply_catalogue, shipped
from faregate.catalogue.data import Catalogue
from faregate.cli import main
from faregate.config import ConfigError, GatewayConfig
from faregate.pipeline.gateway import Gateway

PROVIDERS = {"openai", "anthropic", "google", "mistral", "deepseek", "groq"}


def test_shipped_catalogue_covers_the_common_providers_with_dated_sources():
    cat = shipped()
    assert PROVIDERS <= {e.provider for e in cat.models}
    for e in cat.models:
        assert e.source.url.startswith("https://"), e.name
        dt.date.fromisoformat(e.source.as_of)  # a real date
        if e.mode == "embedding":  # priced per input token only
            assert 0 < e.prices.input < 1 and e.prices.output == 0, e.name
            assert e.context_window >= 2048
            continue
        assert 0 < e.prices.input < 100 and 0 < e.prices.output < 200, e.name  # per million, not per token
        assert e.context_window >= 8000


def test_a_model_named_only_gets_everything_from_the_catalogue():
    cfg = apply_catalogue(GatewayConfig.model_validate({"models": [{"model": "claude-haiku-4-5", "api_key": "k"}]}))
    m = cfg.models[0]
    e = shipped().get("claude-haiku-4-5")
    assert e is not None
    assert (m.name, m.provider, m.model) == ("claude-haiku-4-5", "anthropic", e.upstream)
    assert (m.prices.input, m.prices.output, m.prices.cached_input) == (
        e.prices.input,
        e.prices.output,
        e.prices.cached_input,
    )
    assert m.context_window == e.context_window and m.max_output_tokens == e.max_output_tokens


def test_hosted_models_get_their_endpoint_and_upstream_id():
    m = apply_catalogue(GatewayConfig.model_validate({"models": [{"model": "groq/llama-3.3-70b-versatile"}]})).models[0]
    assert m.provider == "openai" and m.model == "llama-3.3-70b-versatile"
    assert m.base_url == "https://api.groq.com/openai/v1"
    assert "vision" not in m.capabilities


def test_a_config_price_overrides_the_catalogue_field_by_field():
    cfg = GatewayConfig.model_validate(
        {"models": [{"name": "mini", "model": "gpt-4o-mini", "prices": {"input": 0.12}, "context_window": 1000}]}
    )
    m = apply_catalogue(cfg).models[0]
    assert m.prices.input == 0.12 and m.prices.output == shipped().get("gpt-4o-mini").prices.output
    assert m.context_window == 1000


@pytest.mark.parametrize("wrong", [0.15e-6, 0.15e-3, 150.0 * 1000])
def test_a_price_in_the_wrong_unit_is_a_config_error_that_says_so(wrong):
    cfg = GatewayConfig.model_validate({"models": [{"model": "gpt-4o-mini", "prices": {"input": wrong}}]})
    with pytest.raises(ConfigError, match=r"models\.0\.prices\.input: .*USD per million tokens.*0\.15"):
        apply_catalogue(cfg)
    with pytest.raises(ConfigError, match="USD per million"):
        Gateway(cfg)  # the compile step applies it


def test_a_price_within_the_unit_check_is_accepted():
    cfg = GatewayConfig.model_validate({"models": [{"model": "gpt-4o-mini", "prices": {"input": 0.15 * 50}}]})
    assert apply_catalogue(cfg).models[0].prices.input == 7.5


def test_an_unknown_unpriced_model_loads_at_zero_with_a_warning(caplog):
    cfg = GatewayConfig.model_validate({"models": [{"name": "in-house", "model": "our-llm"}]})
    with caplog.at_level(logging.WARNING, logger="faregate"):
        m = apply_catalogue(cfg).models[0]
    assert (m.prices.input, m.prices.output) == (0.0, 0.0)
    assert "'in-house' is not in the catalogue and has no prices" in caplog.text


def test_the_fill_in_reaches_the_compiled_snapshot_and_is_idempotent():
    gw = Gateway(GatewayConfig.model_validate({"database_url": "", "models": [{"model": "gpt-4o"}]}))
    assert gw.config.models[0].prices.input == 2.5
    assert gw.registry  # deployments were built from the filled-in model
    assert apply_catalogue(gw.config) is gw.config


def test_catalogue_file_replaces_the_shipped_one(tmp_path):
    doc = json.loads(json.dumps(shipped().model_dump(mode="json")))
    doc["models"] = [dict(doc["models"][0], name="house-model", prices={"input": 9.0, "output": 9.0})]
    path = tmp_path / "cat.json"
    path.write_text(json.dumps(doc))
    cfg = GatewayConfig.model_validate({"catalogue_file": str(path), "models": [{"model": "house-model"}]})
    assert apply_catalogue(cfg).models[0].prices.input == 9.0
    bad = GatewayConfig.model_validate({"catalogue_file": str(tmp_path / "none.json"), "models": []})
    with pytest.raises(ConfigError, match="catalogue_file"):
        apply_catalogue(bad)


def test_models_command_table_fits_80_columns_and_json_lists_prices():
    runner = CliRunner()
    res = runner.invoke(main, ["models"], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert max(len(ln) for ln in lines) <= 80
    assert any("gpt-4o-mini" in ln and "0.15" in ln and "0.6" in ln for ln in lines)
    res = runner.invoke(main, ["models", "--json"])
    data = json.loads(res.output)
    assert len(data) == len(shipped().models)
    mini = next(d for d in data if d["name"] == "gpt-4o-mini")
    assert mini["provider"] == "openai"
    assert mini["prices_usd_per_million"]["input"] == 0.15 and mini["prices_usd_per_million"]["output"] == 0.6
    assert mini["quality_priors"]["tier"] == "strong" and mini["quality_priors"]["by_task"]["chat"] > 0.5
    assert all(d["quality_priors"] is None for d in data if d["name"].startswith("text-embedding"))


def test_serve_refuses_a_wrong_unit_price_with_the_message(tmp_path):
    import subprocess
    import sys

    cfg = tmp_path / "bad.yaml"
    cfg.write_text("database_url: ''\nmodels:\n  - model: gpt-4o\n    prices: {input: 0.0000025, output: 10}\n")
    res = subprocess.run(
        [sys.executable, "-m", "faregate", "serve", "--config", str(cfg), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode != 0
    assert "models.0.prices.input" in res.stderr and "USD per million tokens" in res.stderr
    assert "Traceback" not in res.stderr


def test_a_model_past_its_retirement_date_loads_with_a_warning(caplog):
    base = shipped().get("gpt-4o-mini")
    assert base is not None
    cat = Catalogue(
        version="2000-01-01",
        models=[
            base.model_copy(update={"name": "gone", "upstream": "gone-1", "retires": "2000-01-01"}),
            base.model_copy(update={"name": "later", "upstream": "later-1", "retires": "2999-01-01"}),
        ],
    )
    cfg = GatewayConfig.model_validate({"models": [{"model": "gone"}, {"model": "later"}]})
    with caplog.at_level(logging.WARNING, logger="faregate"):
        models = apply_catalogue(cfg, cat).models
    assert [m.model for m in models] == ["gone-1", "later-1"]  # still filled in and served
    assert "'gone': the catalogue says openai retires gone-1 on 2000-01-01" in caplog.text
    assert "later" not in caplog.text


def test_catalogue_quality_priors_fill_a_model_unless_the_config_sets_its_quality():
    from faregate.catalogue.resolve import apply_catalogue
    from faregate.config import GatewayConfig
    from faregate.routing.sources import prior_quality

    cfg = apply_catalogue(
        GatewayConfig.model_validate(
            {
                "models": [
                    {"model": "gpt-4.1-mini", "api_key": "k"},
                    {"model": "gpt-4.1-nano", "api_key": "k", "quality": 0.9},
                ]
            }
        )
    )
    mini, nano = cfg.models
    assert mini.quality_priors["chat"] > mini.quality_priors["code"]  # per task family
    assert prior_quality(mini, "chat") == mini.quality_priors["chat"]
    assert prior_quality(mini, "no-such-task") == mini.quality_priors["default"]
    assert nano.quality_priors == {} and prior_quality(nano, "chat") == 0.9  # the operator's prior wins
    assert apply_catalogue(cfg) == cfg  # idempotent


def test_a_configured_prior_out_of_range_is_refused():
    from pydantic import ValidationError

    from faregate.config import GatewayConfig

    with pytest.raises(ValidationError, match="quality_priors"):
        GatewayConfig.model_validate({"models": [{"name": "m", "quality_priors": {"chat": 1.5}}]})
