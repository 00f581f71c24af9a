import orjson
import pytest
from click.testing import CliRunner

from faregate.analysis.commands import analyze_cmd
from faregate.analysis.traffic import analyze, read_lines
from faregate.config import GatewayConfig

MODELS = [
    {"name": "cheap", "prices": {"input": 1, "output": 2}, "quality": 0.7},
    {"name": "strong", "prices": {"input": 10, "output": 20}, "quality": 0.95},
]


def line(floor, used="strong", ts=None):
    rec = {
        "model": used,
        "messages": [{"role": "user", "content": "classify: x"}],
        "faregate": {"min_quality": floor, "confidence": 0.5},  # 0.5: the mean against the floor
        "usage": {"prompt_tokens": 1000, "completion_tokens": 500},
    }
    if ts is not None:
        rec["created"] = ts
    return orjson.dumps(rec)


def test_costs_and_choices_match_hand_computation():
    # confidence 0.5: the chance constraint at its median, so each prior meets a floor below it
    config = GatewayConfig.model_validate({"models": MODELS, "learning": {"enabled": False}, "default_confidence": 0.5})
    lines = [line(0.5), line(0.9), line(0.6), b"not json"]
    res = analyze(read_lines(lines), config)
    # As sent: 3 x strong = 3 x (1000*10 + 500*20)/1e6 = 3 x 0.02
    assert res.actual_cost == pytest.approx(0.06)
    # faregate: cheap (0.002) for floors 0.5 and 0.6, strong (0.02) for 0.9
    assert res.routed_cost == pytest.approx(0.002 * 2 + 0.02)
    assert res.chosen == {"cheap": 2, "strong": 1}
    assert res.skipped == 1
    assert res.savings_pct == pytest.approx(100 * (0.06 - 0.024) / 0.06)


def test_monthly_projection_uses_the_time_span():
    config = GatewayConfig.model_validate({"models": MODELS, "learning": {"enabled": False}})
    # 3 requests over 2 days -> 1.5 a day -> 45 a month; savings 0.018 per request (cheap chosen each time)
    res = analyze(read_lines([line(0.5, ts=0), line(0.5, ts=86400), line(0.5, ts=172800)]), config)
    monthly, basis = res.monthly(None)
    assert monthly == pytest.approx(0.018 * 45)
    assert "time span" in basis
    assert res.monthly(1000)[0] == pytest.approx(18.0)


def test_cli_prints_savings(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(orjson.dumps({"models": MODELS}).decode())
    traffic = tmp_path / "t.jsonl"
    traffic.write_bytes(b"\n".join([line(0.5), line(0.9)]))
    out = CliRunner().invoke(analyze_cmd, [str(traffic), "--config", str(cfg), "--monthly-requests", "1000"])
    assert out.exit_code == 0, out.output
    assert "45.0%" in out.output  # (0.04 - 0.022) / 0.04
    assert "$9.00" in out.output  # 0.009 saved per request x 1000


def test_analysis_imports_neither_pipeline_nor_endpoints():
    import subprocess
    import sys

    code = (
        "import sys, faregate.analysis.traffic, faregate.analysis.commands; "
        "print([m for m in sys.modules if m.startswith(('faregate.pipeline', 'faregate.endpoints'))])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_analyze_says_plainly_when_plans_rest_on_priors(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(orjson.dumps({"models": MODELS}).decode())
    traffic = tmp_path / "t.jsonl"
    traffic.write_bytes(b"\n".join([line(0.5), line(0.9)]))
    res = analyze(read_lines([line(0.5), line(0.9)]), GatewayConfig.model_validate({"models": MODELS}))
    assert res.prediction_sources == {"prior": 2}  # no router, no calibration: configured priors
    out = CliRunner().invoke(analyze_cmd, [str(traffic), "--config", str(cfg)], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "predictions from prior (low confidence)" in text
    assert "2 plan(s) rest on quality priors" in text


# Real model names and no prices or quality: everything comes from the model catalogue.
CATALOGUE_MODELS = {"models": [{"name": "gpt-4o"}, {"name": "claude-3-5-haiku"}], "learning": {"enabled": False}}


def catalogue_traffic(tmp_path):
    """A config of catalogue models and two classify requests sent to gpt-4o: floor 0.5 (which
    claude-3-5-haiku's catalogue prior meets) and 0.8 (which only gpt-4o's does)."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(orjson.dumps(CATALOGUE_MODELS).decode())
    traffic = tmp_path / "t.jsonl"
    rows = [
        {
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": "classify: the weather is nice"}],
            "faregate": {"min_quality": floor},
            "usage": {"prompt_tokens": 1000, "completion_tokens": 200},
        }
        for floor in (0.5, 0.8)
    ]
    traffic.write_bytes(b"\n".join(orjson.dumps(r) for r in rows))
    return cfg, traffic


def catalogue_cost(name: str) -> float:
    """One request's cost (1000 tokens in, 200 out) at the shipped catalogue's prices."""
    from faregate.catalogue import shipped

    p = shipped().get(name).prices
    return (1000 * p.input + 200 * p.output) / 1e6


def cells(output: str, label: str) -> list[str]:
    """The cells after the first of the rich table row whose first cell is ``label``."""
    for line in output.splitlines():
        row = [c.strip() for c in line.strip().strip("│").split("│")]
        if row[0] == label:
            return row[1:]
    raise AssertionError(f"no row {label!r} in {output}")


def test_cli_prices_and_plans_with_the_model_catalogue(tmp_path):
    cfg, traffic = catalogue_traffic(tmp_path)
    out = CliRunner().invoke(analyze_cmd, [str(traffic), "--config", str(cfg)], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    sent, routed = 2 * catalogue_cost("gpt-4o"), catalogue_cost("claude-3-5-haiku") + catalogue_cost("gpt-4o")
    assert sent > 0 and routed < sent  # was $0 both, the config having no prices
    assert cells(out.output, "cost as sent") == [f"${sent:,.4f}"]
    assert cells(out.output, "cost with faregate") == [f"${routed:,.4f}"]
    assert cells(out.output, "constraint unmet") == ["0"]  # was 2: no catalogue prior, the flat 0.8
    # The planner's choice (model mix: as sent, faregate): haiku for the low floor, gpt-4o for the high one.
    assert cells(out.output, "claude-3-5-haiku") == ["0", "1"]
    assert cells(out.output, "gpt-4o") == ["2", "1"]
