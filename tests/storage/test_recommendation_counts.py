"""The recommendations' prompt repeats are counted in the database (``_prompts``); on a generated
log they equal the reference computed from the prompts themselves, and the summary's answer is
the one the reference gives."""

from __future__ import annotations

import random
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from faregate.storage import recommendations as recs
from faregate.storage.request_log import LogWriter
from faregate.storage.request_record import RequestRecord

HEADS = ["You are a support agent. " * 20, "Résumé: 日本語のテキスト " * 30, "short"]


def _log(seed: int, now: float) -> list[RequestRecord]:
    rnd = random.Random(seed)
    out = []
    for i in range(300):
        head = rnd.choice(HEADS)
        prompt = None if rnd.random() < 0.2 else head + rnd.choice(["", " q1", " q2", f" q{rnd.randint(0, 60)}"])
        model = rnd.choice(["big", "small", None])
        out.append(
            RequestRecord(id=f"r{i}", ts=now - rnd.uniform(0, 7200), model=model, requested_model="auto", prompt=prompt)
        )
    return out


def _reference(rows: list[RequestRecord], since: float, until: float) -> dict[str, tuple[int, float, float]]:
    by: dict[str, list[str]] = {}
    for r in rows:
        if since <= r.ts < until and r.prompt is not None:
            by.setdefault(r.model or r.requested_model or "", []).append(r.prompt)
    return {m: (len(ps), recs._repeats(ps), recs._repeats(ps, recs.PREFIX_CHARS)) for m, ps in by.items()}


async def test_counted_in_the_database_equals_the_reference(db_url, tmp_path):
    now = time.time()
    rows = _log(11, now)
    w = LogWriter(db_url, spill_path=tmp_path / "spill.jsonl")
    await w.start()
    for r in rows:
        w.append(r)
    await w.flush()
    db = await w._ensure_db()
    try:
        for since, until in ((now - 7200, now + 1), (now - 3000, now - 1000), (now + 10, now + 20)):
            got = await recs._prompts(db, since, until)
            want = _reference(rows, since, until)
            assert {m: (s.n, s.repeats(), s.repeats(prefix=True)) for m, s in got.items()} == want
        full = await recs._prompts(db, now - 7200, now + 1)
        assert full and any(s.repeats() > 0 for s in full.values())  # the log has repeats to count
    finally:
        await w.close()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=6), max_size=30))
def test_repeat_shares_agree_with_the_reference(prompts):
    distinct = len(set(prompts))
    distinct_prefix = len({p[: recs.PREFIX_CHARS] for p in prompts})
    stats = recs.PromptStats(len(prompts), distinct, distinct_prefix)
    assert stats.repeats() == recs._repeats(prompts)
    assert stats.repeats(prefix=True) == recs._repeats(prompts, recs.PREFIX_CHARS)
