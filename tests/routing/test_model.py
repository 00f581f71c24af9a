from pathlib import Path

import numpy as np
import orjson
import pytest
from click.testing import CliRunner

from faregate.routing.commands import eval_cmd, route_cmd, train_cmd
from faregate.routing.data import load_rows
from faregate.routing.embed import HashEmbedder
from faregate.routing.evaluate import cross_validate, summarise
from faregate.routing.features import extract
from faregate.routing.model import RouterModel
from faregate.routing.policy import choose

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "routing"


def test_fit_predict_round_trip(synthetic_file, tmp_path):
    rows = load_rows(synthetic_file)
    model = RouterModel.fit(rows, embedder=HashEmbedder(128), predictor_args={"k": 10, "prior": 1})
    feats = extract([{"role": "user", "content": "What is 7 plus 8?\nA) 15\nB) 14\nAnswer:"}], task="arith")
    p = model.predict(feats)
    assert set(p) == {"cheap", "mid", "strong"}
    assert p["cheap"]["quality"] > 0.9 and p["strong"]["quality"] > 0.9
    hist = extract(
        [
            {
                "role": "user",
                "content": "In which century did event number 3 of the old kingdom "
                "happen?\nA) tenth\nB) ninth\nAnswer:",
            }
        ],
        task="history",
    )
    assert model.predict(hist)["cheap"]["quality"] < 0.2
    path = tmp_path / "router.model"
    model.save(path)
    again = RouterModel.load(path)
    for name, v in again.predict(feats).items():
        assert v["quality"] == pytest.approx(p[name]["quality"], abs=1e-6)
        assert v["cost_usd"] == pytest.approx(p[name]["cost_usd"], rel=1e-6)
    assert [a.key for a in again.arms] == [a.key for a in model.arms]
    # Renaming to gateway names drops models without a mapping.
    assert set(model.predict(feats, names={"cheap": "gw-small"})) == {"gw-small"}
    # Arithmetic is served by the cheap model alone at a high floor; history is not.
    lat = {"cheap": 300.0, "mid": 600.0, "strong": 1500.0}
    assert choose(model.candidates(feats, latency_ms=lat), min_quality=0.9).models == ["cheap"]
    plan = choose(model.candidates(hist, latency_ms=lat), min_quality=0.9)
    assert plan.models[-1] == "strong" and not plan.constraint_unmet


def test_load_rejects_other_files(tmp_path):
    p = tmp_path / "x.model"
    np.savez(open(p, "wb"), header=np.frombuffer(b'{"format": "other"}', dtype=np.uint8))
    with pytest.raises(ValueError):
        RouterModel.load(p)


def test_cli_train_route_eval_decisions(synthetic_file, tmp_path):
    r = CliRunner()
    model = tmp_path / "router.model"
    res = r.invoke(train_cmd, [str(synthetic_file), "-o", str(model)])
    assert res.exit_code == 0, res.output
    res = r.invoke(
        route_cmd,
        [
            "What is 2 plus 3?\nA) 5\nB) 6\nAnswer:",
            "--model-file",
            str(model),
            "--task",
            "arith",
            "--min-quality",
            "0.8",
        ],
    )
    assert res.exit_code == 0, res.output
    out = orjson.loads(res.output)
    assert out["plan"]["models"] == ["cheap"] and len(out["plan"]["candidates"]) >= 3
    res = r.invoke(route_cmd, ["hi"], env={"FAREGATE_ROUTER_MODEL": ""})
    assert res.exit_code != 0 and "FAREGATE_ROUTER_MODEL" in res.output
    dec = tmp_path / "decisions.jsonl"
    res = r.invoke(eval_cmd, [str(synthetic_file), "--cv", "3", "--decisions", str(dec)])
    assert res.exit_code == 0, res.output
    assert "AIQ" in res.output
    lines = [orjson.loads(x) for x in dec.read_bytes().splitlines()]
    points = {d["point"] for d in lines}
    assert len(lines) == 120 * len(points) and len(points) > 10
    ids = {f"r{i}" for i in range(120)}
    for d in lines:
        assert set(d) == {"point", "id", "models"} and d["id"] in ids
        assert d["models"] and all(m in ("cheap", "mid", "strong") for m in d["models"])


def test_eval_train_test_form(synthetic_file, tmp_path):
    rows = synthetic_file.read_bytes().splitlines()
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_bytes(b"\n".join(rows[:80]))
    b.write_bytes(b"\n".join(rows[80:]))
    res = CliRunner().invoke(eval_cmd, ["--train", str(a), "--test", str(b), "--plot", str(tmp_path / "c.png")])
    assert res.exit_code == 0, res.output
    assert "cost to match" in res.output


@pytest.mark.skipif(not (SHARED / "routerbench-0shot-train.jsonl").exists(), reason="shared data absent")
def test_router_beats_zero_router_on_routerbench_cv():
    rows = load_rows(SHARED / "routerbench-0shot-train.jsonl")
    s = summarise(cross_validate(rows, 5), rows)  # kNN settings by inner CV
    assert s["zero_router_aiq"] == pytest.approx(0.819, abs=0.002)
    assert s["aiq"] >= s["zero_router_aiq"] + 0.02


def test_inner_cv_selection_picks_from_grid_and_fits(synthetic_file):
    from faregate.routing.tune import GRID

    rows = load_rows(synthetic_file)
    model = RouterModel.fit(rows, embedder=HashEmbedder(128))  # predictor_args=None: inner CV
    assert {"k": model.predictor.k, "prior": model.predictor.prior} in [dict(g) for g in GRID]


def test_learned_scorer_judge_and_accept(synthetic_file, tmp_path):
    from faregate.routing.scorer import AnswerScorer

    rows = load_rows(synthetic_file)
    model = RouterModel.fit(rows, embedder=HashEmbedder(128), predictor_args={"k": 10, "prior": 1}, scorer=True)
    arith = extract([{"role": "user", "content": "What is 7 plus 8?\nA) 15\nB) 14\nAnswer:"}], task="arith")
    hist = extract(
        [
            {
                "role": "user",
                "content": "In which century did event number 3 of the old kingdom "
                "happen?\nA) tenth\nB) ninth\nAnswer:",
            }
        ],
        task="history",
    )
    if model.scorer is None:  # every scorer plan was pruned: train the judge directly
        model.scorer = AnswerScorer(model.models)
    from faregate.routing.data import OutcomeTable
    from faregate.routing.model import row_features

    t = OutcomeTable.from_rows(rows, model.models)
    E = model.embedder.embed([row_features(r).routing_text for r in rows])
    g = np.array([model.group_of(r.task) for r in rows])
    model.scorer.fit(E, g, len(model.tasks), t.responses, t.quality, ["cheap"])
    assert model.accept("scorer@0.5", arith, ["cheap"], ["A"])
    assert not model.accept("scorer@0.5", hist, ["cheap"], ["B"])
    assert model.accept("agree", hist, ["cheap", "mid"], ["B", "b)"])
    assert not model.accept("agree", hist, ["cheap"], ["B"])
    assert model.accept("json", hist, ["cheap"], ['{"a": 1}']) and not model.accept("json", hist, ["cheap"], [None])
    path = tmp_path / "r.model"
    model.save(path)
    again = RouterModel.load(path)
    assert again.accept("scorer@0.5", arith, ["cheap"], ["A"])
    assert again.accept("scorer@0.5", arith, ["gw-small"], ["A"], names={"cheap": "gw-small"})
    assert not again.accept("scorer@0.5", hist, ["cheap"], ["B"])


@pytest.mark.parametrize("predictor,args", [("logistic", {"steps": 150}), ("mf", {"rank": 4, "steps": 150})])
def test_other_predictors_learn_and_round_trip(synthetic_file, tmp_path, predictor, args):
    rows = load_rows(synthetic_file)
    model = RouterModel.fit(rows, embedder=HashEmbedder(128), predictor=predictor, predictor_args=args)
    arith = extract([{"role": "user", "content": "What is 7 plus 8?\nA) 15\nB) 14\nAnswer:"}], task="arith")
    hist = extract(
        [{"role": "user", "content": "In which century did event number 3 happen?\nA) x\nB) y"}], task="history"
    )
    p, h = model.predict(arith), model.predict(hist)
    assert p["cheap"]["quality"] > 0.7 > 0.3 > h["cheap"]["quality"]
    model.save(tmp_path / "m")
    again = RouterModel.load(tmp_path / "m").predict(arith)
    assert again["cheap"]["quality"] == pytest.approx(p["cheap"]["quality"], abs=1e-6)


@pytest.mark.skipif(not (SHARED / "routellm-mmlu.jsonl").exists(), reason="shared data absent")
def test_router_beats_random_on_mmlu_apgr():
    import zlib

    rows = [r for r in load_rows(SHARED / "routellm-mmlu.jsonl") if zlib.crc32(r.id.encode()) % 4 == 0]
    s = summarise(cross_validate(rows, 3), rows)  # a quarter of the file, 3 folds: fast
    assert s["apgr"] >= 0.62  # random routing scores 0.5
    assert s["cpt50"] < 0.4


def test_output_tokens_from_recorded_answers(synthetic_file, tmp_path):
    rows = load_rows(synthetic_file)
    model = RouterModel.fit(rows, embedder=HashEmbedder(128), predictor_args={"k": 10, "prior": 1})
    feats = extract([{"role": "user", "content": "What is 1 plus 2?"}], task="arith")
    assert model.predict_output_tokens(feats) == {"cheap": 1.0, "mid": 1.0, "strong": 1.0}
    model.save(tmp_path / "m")
    assert RouterModel.load(tmp_path / "m").predict_output_tokens(feats) == {"cheap": 1.0, "mid": 1.0, "strong": 1.0}


def test_fit_refuses_fewer_rows_than_it_needs(synthetic_file):
    from faregate.routing.model import MIN_TRAIN_ROWS

    rows = load_rows(synthetic_file)[: MIN_TRAIN_ROWS - 1]
    with pytest.raises(ValueError, match=f"at least {MIN_TRAIN_ROWS} training rows, got {len(rows)}"):
        RouterModel.fit(rows)
