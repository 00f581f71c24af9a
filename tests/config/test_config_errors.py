"""Config validation: every error names the key path at fault and what is wrong."""

from __future__ import annotations

import pytest

from faregate.config import ConfigError, load_config


@pytest.mark.parametrize(
    "yaml_text,path,words",
    [
        (
            "models:\n  - name: a\n    provider: bedrock\n",
            "models.0.provider",
            "'openai', 'anthropic', 'gemini' or 'azure'",
        ),
        (
            "models:\n  - name: a\n  - name: b\n    prices: {input: -1}\n",
            "models.1.prices.input",
            "greater than or equal to 0",
        ),
        ("server: {port: 99999}\n", "server.port", "less than or equal to 65535"),
        ("server: {max_body_bytes: 0}\n", "server.max_body_bytes", "greater than 0"),
        (
            "models:\n  - name: a\n    api_key: ${FG_TEST_UNSET_KEY}\n",
            "models.0.api_key",
            "FG_TEST_UNSET_KEY is not set",
        ),
        ("models: [{name: a, fallbacks: [b]}]\n", "models.0.fallbacks", "unknown model 'b'"),
        ("models: [{name: a}, {name: a}]\n", "models", "duplicate model name"),
        ("models: [{name: a, colour: red}]\n", "models.0.colour", "not permitted"),
        ("models: [{name: a, timeouts: {ttfb: soon}}]\n", "models.0.timeouts.ttfb", "valid number"),
        ("keys: [{name: no-key-field}]\n", "keys.0.key", "required"),
    ],
    ids=[
        "provider",
        "price",
        "port",
        "body-limit",
        "env-ref",
        "fallback",
        "duplicate",
        "unknown-key",
        "timeout",
        "key",
    ],
)
def test_errors_name_the_key_path(tmp_path, yaml_text, path, words):
    cfg = tmp_path / "faregate.yaml"
    cfg.write_text(yaml_text)
    with pytest.raises(ConfigError) as exc:
        load_config(cfg, env={})
    msg = str(exc.value)
    assert f"{path}:" in msg and words in msg, msg


def test_not_a_mapping_bad_yaml_and_missing_file(tmp_path):
    cfg = tmp_path / "faregate.yaml"
    cfg.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(cfg, env={})
    cfg.write_text("models: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(cfg, env={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml", env={})


def test_credentials_come_from_the_environment_reference(tmp_path):
    cfg = tmp_path / "faregate.yaml"
    cfg.write_text("models:\n  - name: a\n    api_key: ${FG_KEY}\n  - name: b\n    api_key: ${FG_OTHER:-dflt}\n")
    c = load_config(cfg, env={"FG_KEY": "sk-from-env"})
    assert [m.api_key for m in c.models] == ["sk-from-env", "dflt"]
    assert "sk-from-env" not in cfg.read_text()


def test_no_config_is_valid_and_empty():
    c = load_config(None, env={})
    assert c.models == [] and c.server.max_body_bytes == 8 * 1024 * 1024
