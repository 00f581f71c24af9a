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


MODELS = [
    {"name": "cheap", "prices": {"input": 1, "output": 2}, "quality": 0.7},
    {"name": "strong", "prices": {"input": 10, "output": 20}, "quality": 0.95},
]


def _traffic(tmp_path, n=40):
    lines = [
        json.dumps(
            {
                "model": "strong",
                "messages": [{"role": "user", "content": f"classify: item {i}"}],
                "usage": {"prompt_tokens": 1000, "completion_tokens": 500},
            }
        )
        for i in range(n)
    ]
    f = tmp_path / "traffic.jsonl"
    f.write_text("\n".join(lines) + "\nnot json\n")
    cfg = tmp_path / "c.yaml"
    routes = [{"name": "premium", "candidates": ["strong"]}]
    cfg.write_text(json.dumps({"models": MODELS, "routes": routes, "learning": {"enabled": False}}))
    return f, cfg


def test_compare_reads_a_traffic_file_and_route_definitions(tmp_path):
    f, cfg = _traffic(tmp_path)
    # As sent (strong: 0.02 a request at these tokens) against the config's `premium` route and a fixed model.
    r = CliRunner().invoke(
        cli_main, ["compare", str(f), "--config", str(cfg), "--a", "sent", "--b", "model:cheap", "--json"]
    )
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert rep["arms"]["A"]["requests"] == 40 and rep["arms"]["A"]["cost_per_request_usd"] == pytest.approx(0.02)
    assert rep["arms"]["B"]["cost_per_request_usd"] == pytest.approx(0.002)  # (1000*1 + 500*2)/1e6
    assert rep["comparisons"][0]["verdict"].startswith("arm B vs A: cheaper by 90%")
    r = CliRunner().invoke(
        cli_main, ["compare", str(f), "--config", str(cfg), "--a", "route:premium", "--b", "route:auto"]
    )
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[1].startswith("A ") and lines[2].startswith("B ") and "40" in lines[1]
    r = CliRunner().invoke(cli_main, ["compare", str(f), "--config", str(cfg), "--a", "route:nope", "--b", "sent"])
    assert r.exit_code == 2 and "unknown route 'nope'" in r.output
    assert CliRunner().invoke(cli_main, ["compare", str(f), "--a", "sent", "--b", "sent"]).exit_code != 0  # no config


def test_cascade_rows_are_expected_cost_and_quality_under_reach():
    from faregate.analysis.compare import replay
    from faregate.routing.data import Row

    row = Row("1", None, [], {"c": {"cost_usd": 1.0, "quality": 0.5}, "s": {"cost_usd": 10.0, "quality": 1.0}})
    (out,) = replay([row], lambda _row: (["c", "s"], [1.0, 0.25]))
    assert out["cost_usd"] == pytest.approx(1.0 + 0.25 * 10.0)  # the strong stage is paid a quarter of the time
    assert out["score"] == pytest.approx(0.75 * 0.5 + 0.25 * 1.0)  # and answers that quarter


def _outcomes_and_router(tmp_path):
    """Easy prompts the cheap model answers right; hard ones only the strong model does."""
    rows = []
    for i in range(120):
        hard = i % 2 == 1
        text = f"{'prove the theorem about primes' if hard else 'say hi to'} number {i}"
        rows.append(
            {
                "id": str(i),
                "task": "hard" if hard else "easy",
                "messages": [{"role": "user", "content": text}],
                "outcomes": {
                    "cheap": {"quality": 0.0 if hard else 1.0, "cost_usd": 0.001},
                    "strong": {"quality": 1.0, "cost_usd": 0.01},
                },
            }
        )
    data = tmp_path / "outcomes.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    router = tmp_path / "router.json"
    r = CliRunner().invoke(cli_main, ["train", str(data), "-o", str(router), "--no-cascades"])
    assert r.exit_code == 0, r.output
    routes = [
        {"name": "smart", "candidates": ["cheap", "strong"], "router_model": str(router), "min_quality": 0.8},
        {"name": "only-cheap", "candidates": ["cheap"], "router_model": str(router), "min_quality": 0.8},
        {"name": "untrained", "candidates": ["cheap"]},
    ]
    cfg = tmp_path / "c.yaml"
    cfg.write_text(json.dumps({"models": MODELS, "routes": routes, "learning": {"enabled": False}}))
    return data, cfg


def test_compare_replays_route_definitions_over_an_outcomes_file(tmp_path):
    data, cfg = _outcomes_and_router(tmp_path)
    run = ["compare", str(data), "--config", str(cfg), "--json"]
    rep = json.loads(CliRunner().invoke(cli_main, [*run, "--a", "model:strong", "--b", "route:smart"]).output)
    a, b = rep["arms"]["A"], rep["arms"]["B"]
    # The route sends easy prompts to the cheap model and hard ones to the strong one: the same
    # quality as always-strong for a bit over half the cost.
    assert a["quality"] == pytest.approx(1.0) and b["quality"] > 0.95
    assert b["cost_per_request_usd"] < 0.7 * a["cost_per_request_usd"]
    # Its candidates bound the plan: a cheap-only route answers half the prompts wrong.
    rep = json.loads(CliRunner().invoke(cli_main, [*run, "--a", "route:smart", "--b", "route:only-cheap"]).output)
    assert rep["arms"]["B"]["quality"] == pytest.approx(0.5) and rep["arms"]["B"]["cost_per_request_usd"] == 0.001


def test_compare_route_policy_errors_say_what_to_fix(tmp_path):
    data, cfg = _outcomes_and_router(tmp_path)
    r = CliRunner().invoke(cli_main, ["compare", str(data), "--a", "model:cheap", "--b", "route:smart"])
    assert r.exit_code == 2 and "needs --config" in r.output
    base = ["compare", str(data), "--config", str(cfg), "--a", "model:cheap"]
    r = CliRunner().invoke(cli_main, [*base, "--b", "route:nope"])
    assert r.exit_code == 2 and "unknown route 'nope'" in r.output
    r = CliRunner().invoke(cli_main, [*base, "--b", "route:untrained"])
    assert r.exit_code == 2 and "has no router_model" in r.output


def test_compare_traffic_prices_and_rates_with_the_model_catalogue(tmp_path):
    from faregate.catalogue import shipped
    from faregate.routing import features as F

    # Real model names, no prices or quality: prices and quality priors come from the catalogue.
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        json.dumps({"models": [{"name": "gpt-4o"}, {"name": "claude-3-5-haiku"}], "learning": {"enabled": False}})
    )
    messages = [{"role": "user", "content": "classify: the weather is nice"}]
    f = tmp_path / "t.jsonl"
    f.write_text(
        "\n".join(
            json.dumps(
                {
                    "model": "gpt-4o",
                    "messages": messages,
                    "faregate": {"min_quality": floor},
                    "usage": {"prompt_tokens": 1000, "completion_tokens": 200},
                }
            )
            for floor in (0.5, 0.8)
        )
    )
    r = CliRunner().invoke(
        cli_main, ["compare", str(f), "--config", str(cfg), "--a", "sent", "--b", "route:auto", "--json"]
    )
    assert r.exit_code == 0, r.output
    a, b = (json.loads(r.output)["arms"][k] for k in "AB")
    cat = shipped()
    cost = {
        m: (1000 * cat.get(m).prices.input + 200 * cat.get(m).prices.output) / 1e6
        for m in ("gpt-4o", "claude-3-5-haiku")
    }
    prior = {m: cat.get(m).quality_priors.by_task[F.extract(messages).task] for m in cost}
    assert a["cost_per_request_usd"] == pytest.approx(cost["gpt-4o"]) and cost["gpt-4o"] > 0  # was $0
    # The planner: claude-3-5-haiku meets the 0.5 floor, only gpt-4o the 0.8 one (was gpt-4o, unmet, both).
    assert b["cost_per_request_usd"] == pytest.approx((cost["claude-3-5-haiku"] + cost["gpt-4o"]) / 2)
    assert b["constraint_unmet_rate"] == 0.0
    assert b["quality"] == pytest.approx((prior["claude-3-5-haiku"] + prior["gpt-4o"]) / 2)
    assert a["quality"] == pytest.approx(prior["gpt-4o"])  # the sent model rated by its prior for the task too
