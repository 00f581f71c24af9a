"""Where guardrails come from (key, team, route, model, merged in that order, each once) and
answer guardrails on cache hits."""

from __future__ import annotations

import json
import urllib.request

import openai
import pytest

from faregate.config import GatewayConfig
from faregate.core.types import ChatRequest
from faregate.pipeline.context import Principal, RequestContext
from faregate.pipeline.guardrail_step import GuardrailStep
from guardrail_calls import answer_or_error
from helpers import fake_config

EMAIL = "ada.lovelace@example.com"
GUARDS = [
    {"name": "a", "type": "pii", "kinds": ["email"]},
    {"name": "b", "type": "pii", "kinds": ["card"]},
    {"name": "c", "type": "regex", "patterns": ["x"]},
    {"name": "d", "type": "regex", "patterns": ["y"]},
]


def _step_config() -> GatewayConfig:
    return GatewayConfig.model_validate(
        {
            "guardrails": GUARDS,
            "teams": {"red": {"guardrails": ["b", "a"]}},
            "models": [{"name": "m1", "guardrails": ["d"]}, {"name": "m2"}],
            "routes": [{"name": "r1", "candidates": ["m1", "m2"], "guardrails": ["c"]}],
        }
    )


def _ctx(team: str | None, keyg: tuple[str, ...], model: str, route: str | None = None) -> RequestContext:
    ctx = RequestContext(request=ChatRequest(model=model, messages=[]))
    ctx.principal = Principal(key_id="k", team=team, guardrails=keyg)
    ctx.requested_model, ctx.route = model, route
    return ctx


@pytest.mark.parametrize(
    ("team", "keyg", "model", "route", "expected"),
    [
        (None, (), "m2", None, []),
        (None, ("c",), "m2", None, ["c"]),
        ("red", ("a",), "m2", None, ["a", "b"]),  # key first, then the team's, each once
        ("red", (), "m1", None, ["b", "a", "d"]),  # then the model's
        (None, ("a",), "r1", "r1", ["a", "c"]),  # or the route's
        ("blue", (), "m2", None, []),  # a team without settings
    ],
)
def test_the_merge_order_is_key_team_route_or_model(team, keyg, model, route, expected) -> None:
    assert GuardrailStep(_step_config()).names(_ctx(team, keyg, model, route)) == expected


@pytest.mark.parametrize("where", ["teams", "routes", "models"])
def test_an_unknown_name_anywhere_is_a_config_error(where) -> None:
    cfg: dict = {"guardrails": GUARDS, "models": [{"name": "m1"}]}
    if where == "teams":
        cfg["teams"] = {"red": {"guardrails": ["nope"]}}
    elif where == "routes":
        cfg["routes"] = [{"name": "r1", "guardrails": ["nope"]}]
    else:
        cfg["models"] = [{"name": "m1", "guardrails": ["nope"]}]
    with pytest.raises(ValueError, match=rf"{where}\.\w+\.guardrails: unknown guardrail 'nope'"):
        GatewayConfig.model_validate(cfg)


def test_team_route_and_model_guardrails_apply_end_to_end(start_server, upstreams) -> None:
    cfg = fake_config({"openai": upstreams["openai"]}, guardrails=[GUARDS[0]])
    cfg["teams"] = {"red": {"guardrails": ["a"]}}
    cfg["keys"] = [{"key": "fg-team", "team": "red"}, {"key": "fg-plain"}]
    cfg["models"].append({**cfg["models"][0], "name": "fake-guarded", "guardrails": ["a"]})
    cfg["routes"] = [{"name": "guarded-route", "candidates": ["fake-openai"], "guardrails": ["a"]}]
    srv = start_server(cfg)
    c = openai.OpenAI(base_url=srv.base_url, api_key="fg-plain", max_retries=0)
    for key, model in [("fg-team", "fake-openai"), ("fg-plain", "fake-guarded"), ("fg-plain", "guarded-route")]:
        c = openai.OpenAI(base_url=srv.base_url, api_key=key, max_retries=0)
        c.chat.completions.create(model=model, messages=[{"role": "user", "content": f"mail {EMAIL}"}])
        sent = json.dumps(upstreams["openai"].last_request())
        assert EMAIL not in sent and "[EMAIL_1]" in sent, (key, model)
    c.chat.completions.create(model="fake-openai", messages=[{"role": "user", "content": f"mail {EMAIL}"}])
    assert EMAIL in json.dumps(upstreams["openai"].last_request())  # fg-plain on a plain model: untouched


@pytest.mark.parametrize("stream", [False, True])
def test_answer_guardrails_run_on_cache_hits(start_server, upstreams, stream) -> None:
    cfg = fake_config(
        {"openai": upstreams["openai"]},
        guardrails=[{"name": "out", "type": "pii", "kinds": ["email"], "stages": ["response"]}],
        cache={"enabled": True, "layers": ["memory://"]},
    )
    cfg["keys"] = [{"key": "fg-out", "guardrails": ["out"]}]
    srv = start_server(cfg)
    upstreams["openai"].script({"text": f"Write to {EMAIL}.", "chunks": 5})
    for _ in range(2):  # a miss, then a hit: both masked, and the guardrail decided twice
        assert answer_or_error("chat", srv.url, "fg-out", "who?", stream) == ("Write to [EMAIL_REDACTED].", None)
    assert len(upstreams["openai"].requests()) == 1
    with urllib.request.urlopen(srv.url + "/metrics", timeout=10) as r:
        metrics = r.read().decode()
    assert 'faregate_guardrail_decisions_total{action="mask",guardrail="out",stage="response"} 2.0' in metrics
