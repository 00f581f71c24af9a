"""Calibrated p_meet: P(outcome >= floor) from the router, checked on held-out rows."""

from pathlib import Path

import numpy as np
import pytest

from faregate.routing.calibrate import Calibration, expected_calibration_error, fallback_p_meet
from faregate.routing.data import OutcomeTable, load_rows
from faregate.routing.embed import HashEmbedder
from faregate.routing.features import extract
from faregate.routing.model import RouterModel, row_features

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "routing"
MMLU = SHARED / "routellm-mmlu.jsonl"


def test_calibration_table_is_monotone_and_matches_rates():
    rng = np.random.default_rng(0)
    mu = rng.uniform(0, 1, 5000)
    y = (rng.uniform(0, 1, 5000) < mu).astype(float)  # a perfectly calibrated mean
    cal = Calibration.fit(mu, y)
    assert np.all(np.diff(cal.table, axis=1) >= -1e-12)  # non-decreasing in the predicted mean
    assert np.all(np.diff(cal.table, axis=0) <= 1e-12)  # non-increasing in the floor
    p = cal.p_meet(mu, 0.5)
    assert expected_calibration_error(p, y >= 0.5) < 0.05
    assert float(cal.p_meet(0.9, 0.5)) > float(cal.p_meet(0.1, 0.5)) + 0.5


def test_p_meet_on_candidates_monotone_in_floor_and_saved(synthetic_file, tmp_path):
    model = RouterModel.fit(load_rows(synthetic_file), embedder=HashEmbedder(128), predictor_args={"k": 10})
    feats = extract([{"role": "user", "content": "In which century did event number 5 happen?"}], task="history")
    lat = dict.fromkeys(model.models, 100.0)
    assert all(c.p_meet is None for c in model.candidates(feats, latency_ms=lat))
    by_floor = [
        {(c.models, c.judge): c.p_meet for c in model.candidates(feats, latency_ms=lat, floor=f)}
        for f in (0.2, 0.5, 0.9)
    ]
    for key in by_floor[0]:
        ps = [d[key] for d in by_floor]
        assert all(0.0 <= p <= 1.0 for p in ps)
        assert ps[0] >= ps[1] >= ps[2]
    # on history prompts the strong model always answers right, the cheap one never does
    assert by_floor[1][(("strong",), None)] > by_floor[1][(("cheap",), None)] + 0.3
    path = tmp_path / "router.model"
    model.save(path)
    again = RouterModel.load(path)
    assert again.calibration is not None
    got = {(c.models, c.judge): c.p_meet for c in again.candidates(feats, latency_ms=lat, floor=0.5)}
    assert got == pytest.approx(by_floor[1])


def test_router_without_table_falls_back_to_the_mean():
    assert fallback_p_meet(np.array([0.3, 0.8]), 0.6).tolist() == [0.3, 0.8]
    assert fallback_p_meet(np.array([0.3]), 0.0).tolist() == [1.0]


@pytest.mark.skipif(not MMLU.exists(), reason="shared data absent")
def test_p_meet_calibrated_on_a_held_out_fold_of_mmlu():
    rows = load_rows(MMLU)
    idx = np.random.default_rng(3).permutation(len(rows))[:1500]
    rows = [rows[i] for i in idx]
    train, test = rows[:1200], rows[1200:]
    model = RouterModel.fit(train, cascades=False)
    table = OutcomeTable.from_rows(test)
    ps, hits = [], []
    for i, r in enumerate(test):
        preds = model.predict_arms(row_features(r))
        for a, p in zip(preds, model.p_meet([a.quality for a in preds], 0.5)):
            y = table.quality[i, table.models.index(a.arm.models[0])]
            ps.append(p)
            hits.append(y >= 0.5)
    ece = expected_calibration_error(np.array(ps), np.array(hits))
    assert ece < 0.1, ece


def test_eval_models_subset_prints_ece_and_writes_reliability(synthetic_file, tmp_path):
    from click.testing import CliRunner

    from faregate.routing.commands import eval_cmd

    png = tmp_path / "rel.png"
    dec = tmp_path / "d.jsonl"
    args = [str(synthetic_file), "--cv", "3", "--models", "cheap,strong", "--decisions", str(dec)]
    res = CliRunner().invoke(eval_cmd, [*args, "--reliability", str(png)])
    assert res.exit_code == 0, res.output
    assert "calibration error" in res.output and "APGR" in res.output  # two models left: APGR
    called = {m for line in dec.read_bytes().splitlines() for m in __import__("orjson").loads(line)["models"]}
    assert called <= {"cheap", "strong"} and "mid" not in called
    assert png.read_bytes()[:4] == b"\x89PNG"
    res = CliRunner().invoke(eval_cmd, [str(synthetic_file), "--cv", "3", "--models", "cheap,nope"])
    assert res.exit_code == 2 and "no outcomes for nope" in res.output and "strong" in res.output


def test_router_file_from_before_calibration_still_loads(synthetic_file, tmp_path):
    model = RouterModel.fit(load_rows(synthetic_file), embedder=HashEmbedder(128), predictor_args={"k": 10})
    path = tmp_path / "new.model"
    model.save(path)
    with np.load(path, allow_pickle=False) as z:  # what an older faregate wrote: no new arrays
        old = {k: z[k] for k in z.files if k not in ("calib", "train_quality")}
    old_path = tmp_path / "old.model"
    with open(old_path, "wb") as f:
        np.savez_compressed(f, **old)
    again = RouterModel.load(old_path)
    assert again.calibration is None
    feats = extract([{"role": "user", "content": "What is 2 plus 3?"}], task="arith")
    cands = again.candidates(feats, latency_ms=dict.fromkeys(again.models, 1.0), floor=0.5)
    assert cands and all(c.p_meet == pytest.approx(c.quality) for c in cands)  # the mean, 0/1 reading
