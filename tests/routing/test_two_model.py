"""Two-model routing: the knob ranks prompts by predicted gain; APGR comes from the decisions."""

import numpy as np
import orjson
import pytest
from click.testing import CliRunner

from faregate.routing import metrics as M
from faregate.routing.commands import eval_cmd
from faregate.routing.data import load_rows, restrict
from faregate.routing.embed import HashEmbedder
from faregate.routing.evaluate import _picks, cross_validate, summarise
from faregate.routing.model import RouterModel


def test_two_model_knob_ranks_by_gain_not_gain_per_dollar(synthetic_file):
    model = RouterModel.fit(
        restrict(load_rows(synthetic_file), ["cheap", "strong"]), embedder=HashEmbedder(64), predictor_args={"k": 10}
    )
    col = {a.key: i for i, a in enumerate(model.arms)}
    s, w = col["strong"], col["cheap"]
    Qh = np.zeros((3, len(model.arms)))
    Qh[:, s] = [0.9, 0.6, 0.5]  # gains 0.4, 0.5, 0.1 ...
    Qh[:, w] = [0.5, 0.1, 0.4]
    Ch = np.zeros_like(Qh)
    Ch[:, s] = [1e-4, 1.0, 1e-6]  # ... but per dollar row 2 would come first and row 1 last
    picks = list(_picks(model, Qh, Ch, np.zeros(4)))
    first = next(p for p in picks if (p == s).sum() == 1)
    assert first.tolist() == [w, s, w]  # the largest gain gets the strong model first
    two = next(p for p in picks if (p == s).sum() == 2)
    assert two.tolist() == [s, s, w]
    assert picks[0].tolist() == [w, w, w] and picks[-1].tolist() == [s, s, s]


def test_printed_apgr_equals_apgr_of_written_decisions(synthetic_file, tmp_path):
    dec = tmp_path / "d.jsonl"
    res = CliRunner().invoke(
        eval_cmd, [str(synthetic_file), "--cv", "3", "--models", "mid,strong", "--decisions", str(dec)]
    )
    assert res.exit_code == 0, res.output
    printed = float(next(line for line in res.output.splitlines() if "APGR" in line).split("│")[2])
    rows = {r.id: r for r in load_rows(synthetic_file)}
    points: dict[float, list] = {}
    for line in dec.read_bytes().splitlines():
        d = orjson.loads(line)
        points.setdefault(d["point"], []).append((d["id"], d["models"]))
    q = {m: {i: r.outcomes[m]["quality"] for i, r in rows.items()} for m in ("mid", "strong")}
    share, pgr = M.pgr_from_decisions(points.values(), "strong", q["strong"], q["mid"])
    assert share[0] == 0.0 and share[-1] == 1.0
    assert M.apgr(share, pgr) == pytest.approx(printed, abs=1e-4)
    assert printed > 0.6  # the gain is learnable here (history prompts need the strong model)


def test_apgr_from_decisions_matches_the_ranking_curve():
    rng = np.random.default_rng(0)
    qs, qw = rng.integers(0, 2, 50).astype(float), rng.integers(0, 2, 50).astype(float)
    qw[0], qs[0] = 0.0, 1.0
    score = rng.normal(size=50)
    share, pgr = M.pgr_curve(score, qs, qw)
    order = np.argsort(-score, kind="stable")
    ids = [f"r{i}" for i in range(50)]
    decisions = [[(ids[i], ["strong"] if rank < k else ["weak"]) for rank, i in enumerate(order)] for k in range(51)]
    s2, p2 = M.pgr_from_decisions(decisions, "strong", dict(zip(ids, qs.tolist())), dict(zip(ids, qw.tolist())))
    assert M.apgr(s2, p2) == pytest.approx(M.apgr(share, pgr))


def test_cross_validated_two_model_summary_has_share_points(synthetic_file):
    rows = restrict(load_rows(synthetic_file), ["cheap", "strong"])
    sweep = cross_validate(rows, 3, embedder=HashEmbedder(64))
    assert sweep.lambdas[0] == 0.0 and sweep.lambdas[-1] == 1.0
    s = summarise(sweep, rows)
    assert 0.5 < s["apgr"] <= 1.0
