"""The policy version changes when, and only when, what decides an answer changes."""

from __future__ import annotations

import textwrap

from faregate.config import load_config
from faregate.pipeline.gateway import Gateway
from faregate.pipeline.policy import policy_version

BASE = """
models:
  - model: gpt-4o-mini
    api_key: ${KEY}
  - name: big
    model: gpt-4o
    fallbacks: []
routes:
  - name: smart
    candidates: [gpt-4o-mini, big]
server:
  port: 8080
database_url: ""
"""


def _policy(tmp_path, text: str, env: dict | None = None, **overrides) -> str:
    path = tmp_path / "c.yaml"
    path.write_text(textwrap.dedent(text))
    cfg = load_config(path, env={"KEY": "sk-1", **(env or {})}, overrides=overrides or None)
    return Gateway(cfg).runtime.policy


def test_same_policy_for_reordered_keys_ports_keys_and_secrets(tmp_path):
    base = _policy(tmp_path, BASE)
    assert len(base) == 12
    reordered = BASE.replace("    model: gpt-4o\n    fallbacks: []\n", "    fallbacks: []\n    model: gpt-4o\n")
    assert _policy(tmp_path, reordered) == base
    assert _policy(tmp_path, "# a comment\n" + BASE) == base
    assert _policy(tmp_path, BASE.replace("port: 8080", "port: 9090")) == base
    assert _policy(tmp_path, BASE, env={"KEY": "sk-rotated"}) == base
    assert _policy(tmp_path, BASE, master_key="m", keys=[{"key": "fg-1"}]) == base


def test_each_policy_input_changes_it(tmp_path):
    base = _policy(tmp_path, BASE)
    seen = {base}
    variants = [
        BASE.replace("  - name: big\n", "  - name: large\n").replace("[gpt-4o-mini, big]", "[gpt-4o-mini, large]"),
        BASE.replace("    api_key: ${KEY}\n", "    api_key: ${KEY}\n    prices: {input: 0.2}\n"),
        BASE.replace("    fallbacks: []\n", "    fallbacks: [gpt-4o-mini]\n"),
        BASE.replace("candidates: [gpt-4o-mini, big]", "candidates: [big]"),
        BASE + "default_min_quality: 0.5\n",
    ]
    for text in variants:
        p = _policy(tmp_path, text)
        assert p not in seen, text
        seen.add(p)


def _file_policy(tmp_path, **overrides) -> str:
    path = tmp_path / "c.yaml"
    path.write_text(BASE)
    return policy_version(load_config(path, env={"KEY": "k"}, overrides=overrides))


def test_router_model_and_calibration_file_bytes_count(tmp_path):
    router = tmp_path / "router.json"
    router.write_text('{"w": 1}')
    calib = tmp_path / "calib.json"
    calib.write_text('{"m": 1}')
    a = _file_policy(tmp_path, router_model=str(router), calibration_file=str(calib))
    assert a == _file_policy(tmp_path, router_model=str(router), calibration_file=str(calib))
    router.write_text('{"w": 2}')
    b = _file_policy(tmp_path, router_model=str(router), calibration_file=str(calib))
    calib.write_text('{"m": 2}')
    c = _file_policy(tmp_path, router_model=str(router), calibration_file=str(calib))
    assert len({a, b, c}) == 3


def test_runtime_models_and_learner_snapshot_count(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(BASE)
    cfg = load_config(path, env={"KEY": "k"})
    more = cfg.model_copy(
        update={"models": [*cfg.models, *load_config(None, overrides={"models": [{"model": "o3"}]}).models]}
    )
    assert policy_version(cfg) != policy_version(more)
    assert policy_version(cfg, learner_snapshot="a") != policy_version(cfg, learner_snapshot="b")
    assert policy_version(cfg) == policy_version(cfg)
