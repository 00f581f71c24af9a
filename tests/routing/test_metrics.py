import numpy as np
import pytest

from faregate.routing import metrics as M


def test_upper_hull_drops_points_below_and_ends_at_the_top():
    pts = [(1, 0.5), (2, 0.55), (3, 0.8), (4, 0.7), (5, 0.8)]
    # (2, 0.55) lies below the segment (1,0.5)-(3,0.8); after the top the hull stays flat.
    assert M.upper_hull(pts) == [(1.0, 0.5), (3.0, 0.8)]


def test_hull_value_zero_below_linear_inside_flat_after():
    h = [(1.0, 0.5), (3.0, 0.9)]
    assert M.hull_value(h, 0.5) == 0.0
    assert M.hull_value(h, 2.0) == pytest.approx(0.7)
    assert M.hull_value(h, 10.0) == pytest.approx(0.9)


def test_aiq_hand_computed():
    # Hull (1, .5) -> (3, .9), range [1, 5]: trapezoid 2 * .7 = 1.4, flat 2 * .9 = 1.8 -> 3.2 / 4.
    assert M.aiq([(1, 0.5), (3, 0.9), (2, 0.6)], 1, 5) == pytest.approx(0.8)


def test_aiq_counts_zero_below_the_cheapest_point():
    # Range [0, 4], hull starts at cost 2 with quality .6 then flat: area 2 * .6 = 1.2 -> 0.3.
    assert M.aiq([(2, 0.6)], 0, 4) == pytest.approx(0.3)


def test_zero_router_two_models():
    # Two single models: the line between them, then flat. Range is exactly their costs.
    assert M.aiq([(1, 0.6), (3, 0.8)], 1, 3) == pytest.approx(0.7)


def test_cost_to_reach():
    pts = [(1, 0.5), (3, 0.9)]
    assert M.cost_to_reach(pts, 0.7) == pytest.approx(2.0)
    assert M.cost_to_reach(pts, 0.4) == pytest.approx(1.0)
    assert M.cost_to_reach(pts, 0.95) is None


def test_pgr_apgr_cpt_hand_computed():
    # 4 prompts; strong right on all, weak right on the first two. Weak mean .5, strong 1.
    strong = np.array([1, 1, 1, 1.0])
    weak = np.array([1, 1, 0, 0.0])
    perfect = np.array([0, 0, 1, 1.0])  # routes the two weak failures first
    share, pgr = M.pgr_curve(perfect, strong, weak)
    assert share.tolist() == [0, 0.25, 0.5, 0.75, 1.0]
    assert pgr.tolist() == pytest.approx([0, 0.5, 1, 1, 1])
    # Area: 0.25*0.25 + 0.25*0.75 + 0.5 = 0.75
    assert M.apgr(share, pgr) == pytest.approx(0.75)
    assert M.cpt(share, pgr, 0.5) == pytest.approx(0.25)
    assert M.cpt(share, pgr, 0.8) == pytest.approx(0.5)
    worst = -perfect
    share, pgr = M.pgr_curve(worst, strong, weak)
    assert M.apgr(share, pgr) == pytest.approx(0.25)


def test_random_scores_give_apgr_near_half():
    rng = np.random.default_rng(0)
    weak = (rng.random(4000) < 0.6).astype(float)
    strong = (rng.random(4000) < 0.8).astype(float)
    share, pgr = M.pgr_curve(rng.random(4000), strong, weak)
    assert M.apgr(share, pgr) == pytest.approx(0.5, abs=0.05)


def test_tied_scores_get_no_credit_for_the_files_order():
    # The file lists the prompts the weak model gets wrong first: ranking by file order would look
    # perfect. A predictor that cannot tell them apart (every score equal) must score as random.
    from faregate.routing.metrics import apgr, pgr_curve, rank_desc

    n = 400
    q_strong = np.ones(n)
    q_weak = np.r_[np.zeros(n // 2), np.ones(n // 2)]
    assert apgr(*pgr_curve(np.zeros(n), q_strong, q_weak)) == pytest.approx(0.5)
    # Ties inside a block only: the block's internal order is random, the blocks' order kept.
    scores = np.r_[np.ones(n // 4), np.zeros(3 * n // 4)]
    share, pgr = pgr_curve(scores, q_strong, q_weak)
    assert pgr[n // 4] == pytest.approx(0.5)  # the first block is all weak-wrong prompts: gain 1 each
    # Decisions (the written knob points) break ties in a seeded random order, not the file's.
    order = rank_desc(np.zeros(n))
    assert sorted(order.tolist()) == list(range(n))
    first_half_wrong = (q_weak[order[: n // 2]] == 0).mean()
    assert 0.35 < first_half_wrong < 0.65
    assert (rank_desc(np.zeros(n)) == order).all()  # seeded: a decision replays
