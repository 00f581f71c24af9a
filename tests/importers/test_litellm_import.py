"""`faregate import litellm`: LiteLLM proxy configs (in the shape of LiteLLM's docs) translate,
report what they could not, and the output loads with `load_config` and serves."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from faregate.cli import main
from faregate.config import load_config
from faregate.pipeline.gateway import Gateway
from helpers import GATEWAY_KEY

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "litellm"
ENV = dict.fromkeys(
    (
        "OPENAI_API_KEY_EU",
        "OPENAI_API_KEY_CA",
        "ANTHROPIC_API_KEY",
        "GROQ_API_KEY",
        "OPENAI_API_KEY",
        "GEMINI_API_KEY",
        "LITELLM_MASTER_KEY",
    ),
    "x",
)


def _import(path: Path, tmp_path: Path) -> tuple[Path, str]:
    res = CliRunner().invoke(main, ["import", "litellm", str(path)])
    assert res.exit_code == 0, res.output
    out = tmp_path / "faregate.yaml"
    out.write_text(res.stdout)
    return out, res.stderr


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.yaml")))
def test_every_sample_round_trips_through_load_config(name, tmp_path):
    out, _ = _import(FIXTURES / name, tmp_path)
    cfg = load_config(out, env=ENV, overrides={"database_url": ""})
    assert cfg.models
    Gateway(cfg)  # compiles: catalogue fill-in, deployments, steps


def test_quickstart_translation(tmp_path):
    out, err = _import(FIXTURES / "proxy_quickstart.yaml", tmp_path)
    raw = yaml.safe_load(out.read_text())
    models = {m["name"]: m for m in raw["models"]}
    assert set(models) == {"gpt-4o", "claude"}
    gpt = models["gpt-4o"]
    assert [d["base_url"] for d in gpt["deployments"]] == ["https://eu.example.test/v1", "https://ca.example.test/v1"]
    assert gpt["deployments"][0]["api_key"] == "${OPENAI_API_KEY_EU}"
    assert gpt["fallbacks"] == ["claude"] and gpt["max_attempts"] == 4 and gpt["timeouts"] == {"total": 600.0}
    assert raw["limits"]["models"] == {"gpt-4o#0": {"rpm": 6}, "gpt-4o#1": {"rpm": 6}}
    assert models["claude"]["provider"] == "anthropic" and raw["master_key"] == "sk-1234"
    assert "model_list.3: provider 'bedrock'" in err
    assert "model_list.4: mode 'embedding'" in err
    assert "drop_params" in err and "general_settings.database_url" in err


def test_router_settings_translation(tmp_path):
    out, err = _import(FIXTURES / "router_settings.yaml", tmp_path)
    cfg = load_config(out, env=ENV, overrides={"database_url": ""})
    small, fast = cfg.model("small"), cfg.model("fast")
    assert small.prices.input == pytest.approx(0.15) and small.prices.output == pytest.approx(0.6)  # per million
    assert small.context_fallback == "long" and fast.fallbacks == ["small"]
    assert fast.strategy == "latency" and fast.max_attempts == 3 and fast.timeouts.total == 30
    assert fast.breaker.cooldown_s == 60 and fast.breaker.failure_threshold == 3
    assert fast.base_url == "https://api.groq.com/openai/v1" and fast.model == "llama-3.3-70b-versatile"
    assert cfg.limits.models["fast"].tpm == 100000 and cfg.master_key == "x"
    assert "'missing-model' is not a translated model" in err and "redis_host" in err and "temperature" in err


async def test_imported_config_serves(tmp_path, upstreams):
    fake = upstreams["openai"]
    src = tmp_path / "litellm.yaml"
    src.write_text(
        "model_list:\n  - model_name: mini\n    litellm_params:\n      model: openai/gpt-4o-mini\n"
        "      api_base: os.environ/FAKE_BASE\n      api_key: os.environ/OPENAI_API_KEY\n"
        "general_settings:\n  master_key: os.environ/MASTER\n"
    )
    out, _ = _import(src, tmp_path)
    cfg = load_config(
        out,
        env={"FAKE_BASE": fake.model_base_url, "OPENAI_API_KEY": "sk-imported", "MASTER": "m"},
        overrides={"database_url": "", "keys": [{"key": GATEWAY_KEY}], "learning": {"enabled": False}},
    )
    async with Gateway(cfg) as gw:
        reply = await gw.chat({"model": "mini", "messages": [{"role": "user", "content": "hi"}]}, api_key=GATEWAY_KEY)
        assert gw.config.model("mini").prices.input == 0.15  # priced by the catalogue
    assert reply.usage.output_tokens > 0
    assert fake.last_request()["headers"]["authorization"] == "Bearer sk-imported"
