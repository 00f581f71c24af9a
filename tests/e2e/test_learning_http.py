"""Online learning in a running gateway: feedback through ``POST /v1/feedback`` (request id from
``x-request-id``, same key) moves ``auto`` off the cheap model for that kind of request only."""

from __future__ import annotations

import json
import urllib.request

import openai
import test_routing_http as rt

from helpers import GATEWAY_KEY, UPSTREAM_KEYS

router_file = rt.router_file
ARC = rt.ARC
CODE = "Write a python function that returns the sum of the squares of a list of integers."


def feedback(srv, request_id: str, score: float) -> int:
    req = urllib.request.Request(
        srv.url + "/v1/feedback",
        method="POST",
        data=json.dumps({"request_id": request_id, "score": score}).encode(),
        headers={"content-type": "application/json", "authorization": f"Bearer {GATEWAY_KEY}"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status


def test_feedback_moves_auto_off_the_cheap_model_for_that_task_only(start_server, upstreams, router_file):
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
    srv = start_server(
        {
            "models": models,
            "router_model": str(router_file),
            "keys": [{"key": GATEWAY_KEY}],
            "learning": {"enabled": True, "explore_rate": 0.0},
        }
    )
    c = openai.OpenAI(base_url=srv.base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=10)
    # confidence 0.5: at the default 0.9 a 0/1-graded ARC prompt needs a strong plan even at floor 0.3
    floor = {"faregate": {"min_quality": 0.3, "confidence": 0.5}}

    def ask(prompt):
        fake.script({"text": "B"})
        return c.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": prompt}], extra_body=floor
        )

    first_arc, first_code = ask(ARC), ask(CODE)
    assert first_arc.headers["x-faregate-model"] == "m7b"
    code_model = first_code.headers["x-faregate-model"]
    moved = None
    for i in range(40):
        raw = ask(ARC.replace("mammal", f"mammal ({i})"))
        if raw.headers["x-faregate-model"] != "m7b":
            moved = raw.headers["x-faregate-model"]
            break
        assert feedback(srv, raw.headers["x-request-id"], 0.0) in (200, 201, 202)
    assert moved is not None and moved != "m7b", "repeated score 0 never moved auto off the cheap model"
    assert ask(CODE).headers["x-faregate-model"] == code_model  # the other task keeps its choice
