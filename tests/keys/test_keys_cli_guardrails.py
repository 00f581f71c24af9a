"""``faregate keys create|update --mode --guardrails``: stored on the database key, cleared with
``none`` / ``''``, and an unknown guardrail name is a usage error (exit 2) naming the configured
ones, nothing stored."""

from __future__ import annotations

import orjson
from click.testing import CliRunner

from faregate.keys.commands import MODES, keys_group


def _config(tmp_path) -> str:
    path = tmp_path / "faregate.yaml"
    path.write_text(
        "guardrails:\n  - {name: pii-mask, type: pii}\n  - {name: no-cards, type: pii, action: block, kinds: [card]}\n"
    )
    return str(path)


def _keys(url: str) -> list[dict]:
    r = CliRunner().invoke(keys_group, ["list", "--json", "--database-url", url])
    assert r.exit_code == 0, r.output
    return [orjson.loads(line) for line in r.output.splitlines() if line.strip()]


def test_create_and_update_store_mode_and_guardrails(tmp_path) -> None:
    url, cfg = f"sqlite:///{tmp_path / 'k.db'}", _config(tmp_path)
    args = ["create", "--name", "g", "--mode", "cost", "--guardrails", "no-cards,pii-mask"]
    r = CliRunner().invoke(keys_group, [*args, "--config", cfg, "--database-url", url])
    assert r.exit_code == 0, r.output
    (key,) = _keys(url)
    assert key["mode"] == "cost" and key["guardrails"] == ["no-cards", "pii-mask"]  # in the order given
    r = CliRunner().invoke(
        keys_group,
        ["update", key["id"], "--mode", "quality", "--guardrails", "pii-mask", "--config", cfg, "--database-url", url],
    )
    assert r.exit_code == 0, r.output
    assert "mode=quality guardrails=pii-mask" in r.output
    (key,) = _keys(url)
    assert key["mode"] == "quality" and key["guardrails"] == ["pii-mask"]
    r = CliRunner().invoke(
        keys_group, ["update", key["id"], "--mode", "none", "--guardrails", "", "--database-url", url]
    )
    assert r.exit_code == 0, r.output
    (key,) = _keys(url)
    assert key["mode"] is None and key["guardrails"] is None


def test_an_unknown_guardrail_is_exit_2_naming_the_configured_ones(tmp_path) -> None:
    url, cfg = f"sqlite:///{tmp_path / 'k.db'}", _config(tmp_path)
    r = CliRunner().invoke(
        keys_group, ["create", "--name", "g", "--guardrails", "pii-mask,nope", "--config", cfg, "--database-url", url]
    )
    assert r.exit_code == 2
    assert "unknown guardrail(s) ['nope']" in r.output and "['no-cards', 'pii-mask']" in r.output
    assert _keys(url) == []  # nothing was created
    r = CliRunner().invoke(keys_group, ["create", "--name", "g", "--guardrails", "pii-mask", "--database-url", url])
    assert r.exit_code == 2 and "no --config" in r.output  # without a config no name is known


def test_an_unknown_mode_is_refused() -> None:
    r = CliRunner().invoke(keys_group, ["create", "--name", "g", "--mode", "fastest", "--database-url", "sqlite://"])
    assert r.exit_code == 2 and "cost" in r.output


def test_the_modes_are_the_routers() -> None:
    from faregate.routing.modes import MODES as ROUTING_MODES

    assert MODES == ROUTING_MODES
