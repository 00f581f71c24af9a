"""``faregate compare``: two policies replayed over a shared routing-outcomes file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from faregate.cli import main as cli_main

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "routing" / "routerbench-0shot-train.jsonl"


@pytest.mark.skipif(not DATA.exists(), reason="shared data absent")
def test_compare_two_fixed_models_prints_both_arms_and_the_right_sign():
    a, b = "model:gpt-4-1106-preview", "model:mistralai/mistral-7b-chat"
    r = CliRunner().invoke(cli_main, ["compare", str(DATA), "--a", a, "--b", b])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[1].startswith("A ") and lines[2].startswith("B ") and "2205" in lines[1]
    assert "arm B vs A: cheaper by" in r.output and "lower in quality" in r.output  # README: 0.880 vs 0.581
    rep = json.loads(CliRunner().invoke(cli_main, ["compare", str(DATA), "--a", a, "--b", b, "--json"]).output)
    assert rep["arms"]["A"]["quality"] == pytest.approx(0.880, abs=0.002)


def test_compare_refuses_a_bad_policy(tmp_path):
    f = tmp_path / "o.jsonl"
    f.write_text(json.dumps({"id": "1", "messages": [], "outcomes": {"m": {"quality": 1, "cost_usd": 0.1}}}) + "\n")
    r = CliRunner().invoke(cli_main, ["compare", str(f), "--a", "model:m", "--b", "model:zz"])
    assert r.exit_code == 2 and "unknown model 'zz'" in r.output
    r = CliRunner().invoke(cli_main, ["compare", str(f), "--a", "model:m", "--b", "nonsense"])
    assert r.exit_code == 2 and "model:NAME or router:PATH" in r.output
