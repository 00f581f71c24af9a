"""The demo's simulated world: deterministic, priced like the real tiers, and harder prompts hurt
the cheap tier more than the strong one."""

from __future__ import annotations

from faregate.demo.simulator import FLOORS, MIX, TIERS, Simulator


def test_deterministic_given_seed_and_prompt():
    a, b = Simulator(5), Simulator(5)
    pa, pb = a.workload(50), b.workload(50)
    assert [p.text for p in pa] == [p.text for p in pb]
    for p, q in zip(pa, pb):
        for t in TIERS:
            assert a.quality(t.name, p) == b.quality(t.name, q)
            assert a.tokens(t.name, p) == b.tokens(t.name, q)
            assert a.latency_ms(t.name, p) == b.latency_ms(t.name, q)
    assert [p.text for p in Simulator(6).workload(50)] != [p.text for p in pa]


def test_small_tier_fine_on_easy_prompts_and_worse_on_hard_ones():
    sim = Simulator(1)
    prompts = sim.workload(2000)
    easy = [p for p in prompts if p.difficulty < 0.2]
    hard = [p for p in prompts if p.difficulty > 0.8]
    assert easy and hard

    def met(tier, ps):
        return sum(sim.quality(tier, p) >= FLOORS[p.task] for p in ps) / len(ps)

    assert met("sim-small", easy) > 0.9
    assert met("sim-small", hard) < 0.1
    assert met("sim-frontier", hard) > 0.95
    # Prices order the tiers the other way round.
    costs = [sim.cost_usd(t.name, hard[0]) for t in TIERS]
    assert costs == sorted(costs, reverse=True)


def test_mix_and_training_rows_use_another_seed():
    sim = Simulator(2)
    prompts = sim.workload(4000)
    for task, share in MIX.items():
        assert abs(sum(p.task == task for p in prompts) / len(prompts) - share) < 0.03
    rows = Simulator(3).outcome_rows(20)
    assert {r["messages"][0]["content"] for r in rows}.isdisjoint(p.text for p in prompts)
    assert all(set(r["outcomes"]) == {t.name for t in TIERS} for r in rows)


def test_responder_answers_as_the_tier_with_usage_and_timing():
    sim = Simulator(4, time_scale=0.5)
    p = sim.workload(1)[0]
    b = sim.responder("openai", "sim-mid", {"messages": [{"role": "user", "content": p.text}], "stream": True})
    i, o = sim.tokens("sim-mid", p)
    assert b["usage"] == {"input_tokens": i, "output_tokens": o}
    ttft, gen = sim.timing_ms("sim-mid", p)
    total = b["ttft_ms"] + b["chunks"] * b["chunk_gap_ms"]
    assert abs(total - 0.5 * (ttft + gen)) < 1e-6 or b["ttft_ms"] == 0.0
