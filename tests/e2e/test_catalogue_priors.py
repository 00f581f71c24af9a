"""An untrained gateway whose models are named only by their catalogue names: the official
``openai`` SDK sends "Hello" to ``auto`` and the catalogue's quality priors decide (no router, no
log). The plan says its predictions come from priors, with low confidence; the request is
constraint-unmet only when no configured model's prior can meet the floor."""

from __future__ import annotations

import openai

from helpers import GATEWAY_KEY, UPSTREAM_KEYS, http_json


def _config(fake, names: list[str]) -> dict:
    models = [
        {"model": n, "base_url": fake.model_base_url, "api_key": UPSTREAM_KEYS["openai"], "max_attempts": 1}
        for n in names
    ]
    return {"models": models, "keys": [{"key": GATEWAY_KEY}], "learning": {"enabled": False}}


def _route(srv, prompt: str) -> dict:
    body = {"model": "auto", "messages": [{"role": "user", "content": prompt}]}
    return http_json("POST", srv.url + "/v1/route", body, key=GATEWAY_KEY)


def _hello(srv):
    c = openai.OpenAI(base_url=srv.base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=10)
    return c.chat.completions.with_raw_response.create(model="auto", messages=[{"role": "user", "content": "Hello"}])


def test_untrained_gateway_routes_hello_to_the_cheapest_model_whose_prior_meets_the_floor(start_server, upstreams):
    fake = upstreams["openai"]
    srv = start_server(_config(fake, ["gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano"]))
    plan = _route(srv, "Hello")
    # chat's default floor 0.85 at the default confidence 0.9: nano's chat prior (0.835) cannot meet it
    assert plan["constraints"]["min_quality"] == 0.85 and plan["constraints"]["confidence"] == 0.9
    assert plan["models"] == ["gpt-4.1-mini"] and plan["constraint_unmet"] is False
    assert plan["p_meet"] >= 0.9
    assert plan["prediction_source"] == "prior" and plan["prediction_confidence"] == "low"
    assert "priors" in plan["prediction_note"]
    by_model = {c["models"][0]: c for c in plan["candidates"] if "p_meet" in c}
    assert by_model["gpt-4.1-nano"]["meets_floor"] is False and by_model["gpt-4.1"]["meets_floor"] is True
    fake.script({"text": "Hi! How can I help?"})
    raw = _hello(srv)
    assert raw.headers["x-faregate-model"] == "gpt-4.1-mini"
    assert fake.last_request()["body"]["model"] == "gpt-4.1-mini"  # the catalogue's upstream id
    assert raw.parse().choices[0].message.content == "Hi! How can I help?"


def test_constraint_unmet_only_when_no_configured_model_can_meet_the_floor(start_server, upstreams):
    fake = upstreams["openai"]
    weak = start_server(_config(fake, ["gpt-4.1-nano", "gpt-5-nano"]))
    plan = _route(weak, "Hello")
    assert plan["constraint_unmet"] is True and plan["prediction_source"] == "prior"
    assert all(c["meets_floor"] is False for c in plan["candidates"] if "meets_floor" in c)
    fake.script({"text": "Hi"})
    assert _hello(weak).headers["x-faregate-constraint-unmet"] == "true"
