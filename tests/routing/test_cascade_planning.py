"""Cascades planned by expected cost, judges' calibration measured, and the two-model cascade
that observes the weak model's answer."""

import numpy as np
import orjson
import pytest
from click.testing import CliRunner

from faregate.routing import metrics as M
from faregate.routing.calibrate import expected_calibration_error
from faregate.routing.commands import eval_cmd
from faregate.routing.data import OutcomeTable, Row, load_rows
from faregate.routing.embed import HashEmbedder
from faregate.routing.features import extract
from faregate.routing.judges import judge_points, summarise_judges, verdict_rates
from faregate.routing.model import RouterModel
from faregate.routing.policy import choose

LAT = {"cheap": 300.0, "mid": 600.0, "strong": 1500.0}


def _one_task(rows: list[Row]) -> list[Row]:
    """The synthetic rows under a single task, so only the prompt tells easy from hard."""
    return [Row(r.id, "quiz", r.messages, r.outcomes) for r in rows]


def _ask(text: str):
    return extract([{"role": "user", "content": text}], task="quiz")


EASY = "What is 7 plus 8?\nA) 15\nB) 14\nAnswer:"
HARD = "In which century did event number 3 of the old kingdom happen?\nA) tenth\nB) ninth\nAnswer:"


@pytest.fixture
def one_task_model(synthetic_file):
    rows = _one_task(load_rows(synthetic_file))
    return RouterModel.fit(rows, embedder=HashEmbedder(128), predictor_args={"k": 10, "prior": 0.1})


def test_cascade_expected_cost_is_first_plus_reach_times_next(one_task_model):
    prices = {"cheap": 1e-4, "mid": 3e-4, "strong": 5e-3}
    cands = one_task_model.candidates(_ask(HARD), latency_ms=LAT, cost_usd=prices)
    preds = {p.arm.key: p for p in one_task_model.predict_arms(_ask(HARD))}
    casc = [c for c in cands if c.judge == "agree"]
    assert casc
    for c in casc:
        key = f"agree:{'>'.join(c.models)}"
        reach = preds[key].reach
        # Agreement always calls the first two; every later stage only with its reach probability.
        want = prices[c.models[0]] + prices[c.models[1]] + sum(r * prices[m] for r, m in zip(reach[2:], c.models[2:]))
        assert c.cost_usd == pytest.approx(want)
        assert c.worst_cost == pytest.approx(sum(prices[m] for m in c.models))
        assert reach[:2] == [1.0, 1.0] and 0.0 <= reach[-1] <= 1.0


def test_planner_escalates_straight_away_for_predicted_hard_prompts(one_task_model):
    prices = {"cheap": 1e-4, "mid": 3e-4, "strong": 5e-3}
    hard = choose(
        one_task_model.candidates(_ask(HARD), latency_ms=LAT, cost_usd=prices, floor=0.9),
        min_quality=0.9,
        confidence=0.9,
    )
    # The cheap answers disagree on such prompts, so a cascade would pay for them and then the
    # strong model anyway: the strong model is called directly.
    assert hard.kind == "single" and hard.models == ["strong"] and not hard.constraint_unmet
    easy = choose(
        one_task_model.candidates(_ask(EASY), latency_ms=LAT, cost_usd=prices, floor=0.9),
        min_quality=0.9,
        confidence=0.9,
    )
    assert easy.models[-1] != "strong" or easy.kind == "cascade"
    assert easy.predicted_cost_usd < 0.5 * prices["strong"]


def test_judge_ece_on_a_synthetic_case():
    p = np.array([0.2] * 10 + [0.8] * 10)
    calibrated = np.array([1] * 2 + [0] * 8 + [1] * 8 + [0] * 2, float)
    assert expected_calibration_error(p, calibrated) == pytest.approx(0.0)
    flat = np.array([1, 0] * 10, float)  # half right in both bins: |0.2-0.5| = |0.8-0.5| = 0.3
    assert expected_calibration_error(p, flat) == pytest.approx(0.3)
    out = summarise_judges([{"agree": (p[:10], flat[:10])}, {"agree": (p[10:], flat[10:])}])
    assert out["agree"]["ece"] == pytest.approx(0.3) and out["agree"]["n"] == 20


def test_verdict_rates_per_task_and_verdict():
    verdict = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    y = np.array([1, 1, 1, 1, 0, 0, 0, 1], float)
    groups = np.zeros(8, int)
    r = verdict_rates(verdict, y, groups, 1)
    assert r[0, 1] == pytest.approx(1.0) and r[0, 0] == pytest.approx(0.25)
    assert r[1, 1] == pytest.approx(1.0)  # an unseen task gets the verdict's overall rate


def test_agree_judge_is_calibrated_on_held_out_rows(synthetic_file):
    rows = load_rows(synthetic_file)
    model = RouterModel.fit(rows[:80], embedder=HashEmbedder(64), predictor_args={"k": 10, "prior": 0.1})
    tr, te = OutcomeTable.from_rows(rows[:80], model.models), OutcomeTable.from_rows(rows[80:], model.models)
    g = np.array([model.group_of(r.task) for r in rows])
    pts = judge_points(model, tr, g[:80], te, g[80:], None)
    p, y = pts["agree"]
    assert len(p) == len(y) > 0
    # Verdicts predict correctness exactly on this data, so the held-out ECE is near zero.
    assert expected_calibration_error(p, y) < 0.1


def _pair_rows(n: int = 160) -> list[dict]:
    """Two models; the prompts look alike, but the weak model's answer shows when it failed (a
    refusal), so only a judge that reads the answer can route."""
    rng = np.random.default_rng(1)
    out = []
    for i in range(n):
        ok = bool(rng.random() < 0.5)
        weak = "The answer is 42, because the two series converge." if ok else "I'm sorry, I cannot answer that."
        out.append(
            {
                "id": f"p{i}",
                "task": "chat",
                "messages": [{"role": "user", "content": f"Question {rng.integers(1e6)} about series?"}],
                "outcomes": {
                    "weak": {"quality": float(ok), "cost_usd": 1e-4, "response": weak},
                    "strong": {"quality": 1.0, "cost_usd": 5e-3, "response": "The answer is 42."},
                },
            }
        )
    return out


def test_two_model_cascade_reads_the_weak_answer_and_apgr_is_from_decisions(tmp_path):
    data = tmp_path / "pair.jsonl"
    data.write_bytes(b"\n".join(orjson.dumps(r) for r in _pair_rows()) + b"\n")
    dec = tmp_path / "d.jsonl"
    res = CliRunner().invoke(eval_cmd, [str(data), "--cv", "4", "--scorer", "--decisions", str(dec)])
    assert res.exit_code == 0, res.output
    printed = float(next(line for line in res.output.splitlines() if "APGR" in line).split("│")[2])
    assert "judge 'scorer' ECE" in res.output
    rows = {r.id: r for r in load_rows(data)}
    points: dict[float, list] = {}
    for line in dec.read_bytes().splitlines():
        d = orjson.loads(line)
        assert d["models"] in (["weak"], ["weak", "strong"])  # the weak model always answers first
        points.setdefault(d["point"], []).append((d["id"], d["models"]))
    q = {m: {i: r.outcomes[m]["quality"] for i, r in rows.items()} for m in ("weak", "strong")}
    share, pgr = M.pgr_from_decisions(points.values(), "strong", q["strong"], q["weak"])
    assert M.apgr(share, pgr) == pytest.approx(printed, abs=1e-4)
    # The refusals are escalated first: the best ranking of a half-failing weak model reaches 0.75.
    assert printed > 0.7
    blind = CliRunner().invoke(eval_cmd, [str(data), "--cv", "4"])
    blind_apgr = float(next(line for line in blind.output.splitlines() if "APGR" in line).split("│")[2])
    assert blind_apgr < 0.62  # without the answer the prompts carry no signal


def test_scorer_settings_chosen_by_inner_cv_and_saved():
    from faregate.routing.scorer import AnswerScorer, select

    rows = [Row(r["id"], r["task"], r["messages"], r["outcomes"]) for r in _pair_rows(120)]
    table = OutcomeTable.from_rows(rows)
    E = HashEmbedder(64).embed([r.messages[0]["content"] for r in rows])
    groups = np.zeros(len(rows), int)
    settings, oof = select(E, groups, 1, table.responses, table.quality, table.models, ["weak"])
    assert settings["features"] in ("full", "shape") and set(oof) == {"weak"}
    w = table.models.index("weak")
    # Honest out-of-fold scores still separate the refusals from the answers.
    assert oof["weak"][table.quality[:, w] == 1].min() > oof["weak"][table.quality[:, w] == 0].max()
    sc = AnswerScorer(table.models, features="shape", l2=0.03).fit(
        E, groups, 1, table.responses, table.quality, ["weak"]
    )
    again = AnswerScorer.from_state(table.models, sc.state())
    assert again.features == "shape" and again.l2 == pytest.approx(0.03)
    ans = [r[w] for r in table.responses]
    assert np.allclose(again.score("weak", E, groups, ans), sc.score("weak", E, groups, ans))
