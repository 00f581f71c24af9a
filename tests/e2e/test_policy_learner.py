"""The policy version each request records covers the learner: feedback that changes what the
router has learned changes the ``x-faregate-policy`` of the requests after it (and the version in
the request log); requests with no learning in between share one version."""

from __future__ import annotations

import sqlite3
import time

import openai
import test_learning_http as lh
import test_routing_http as rt

from helpers import GATEWAY_KEY, UPSTREAM_KEYS

router_file = rt.router_file
QUESTIONS = [
    rt.ARC,
    lh.CODE,
    "Translate into German: the train leaves at seven and arrives in Berlin at noon.",
    "Name three prime numbers larger than one hundred and explain how you checked them.",
    "Summarize in one sentence: the committee approved the budget after a long debate.",
]


def _logged(db: str, ids: list[str]) -> dict[str, str]:
    deadline = time.monotonic() + 10
    rows: dict[str, str] = {}
    while time.monotonic() < deadline and len(rows) < len(ids):
        with sqlite3.connect(db) as con:
            try:
                rows = dict(con.execute("SELECT id, policy FROM request_log").fetchall())
            except sqlite3.OperationalError:
                rows = {}
        time.sleep(0.1)
    return rows


def test_feedback_changes_the_recorded_policy_version(start_server, upstreams, router_file, tmp_path):
    fake = upstreams["openai"]
    models = [
        {
            "name": n,
            "provider": "openai",
            "model": up,
            "base_url": fake.model_base_url,
            "api_key": UPSTREAM_KEYS["openai"],
            "prices": {"input": p[0], "output": p[1]},
            "router_name": rb,
            "max_attempts": 1,
        }
        for n, (rb, up, p) in rt.MODELS.items()
    ]
    db = str(tmp_path / "policy.db")
    srv = start_server(
        {
            "models": models,
            "router_model": str(router_file),
            "keys": [{"key": GATEWAY_KEY}],
            "learning": {"enabled": True, "explore_rate": 0.0},
            "database_url": f"sqlite:///{db}",
        }
    )
    c = openai.OpenAI(base_url=srv.base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=10)

    def ask(prompt):
        fake.script({"text": "B"})
        raw = c.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": prompt}], extra_body={"faregate": {"min_quality": 0.3}}
        )
        return raw.headers["x-request-id"], raw.headers["x-faregate-policy"]

    first, p0 = ask(QUESTIONS[0])
    second, same = ask(QUESTIONS[1])
    assert same == p0 and len(p0) == 12, "nothing learned in between: one policy"
    assert p0 != srv.gateway.runtime.policy, "the learner's state is part of the version"

    assert lh.feedback(srv, first, 0.0) in (200, 201, 202)
    third, p1 = ask(QUESTIONS[2])
    assert p1 != p0, "feedback moved the learner, so the policy moved"
    assert lh.feedback(srv, first, 1.0) in (200, 201, 202)  # already settled: nothing more is learned
    fourth, again = ask(QUESTIONS[3])
    assert again == p1

    assert lh.feedback(srv, second, 1.0) in (200, 201, 202)
    fifth, p2 = ask(QUESTIONS[4])
    assert p2 not in (p0, p1)
    ids = [first, second, third, fourth, fifth]
    logged = _logged(db, ids)
    assert [logged.get(i) for i in ids] == [p0, p0, p1, p1, p2]
