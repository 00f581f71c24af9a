"""Models carry a mode: embedding models serve ``/v1/embeddings`` only, and are never a chat
routing candidate (``auto``, routes), a fallback or a rollout's control model; a request of the
wrong kind for a model is a clear 400."""

from __future__ import annotations

import json

import openai
import pytest

from faregate.config import ConfigError, GatewayConfig, load_config
from faregate.pipeline.gateway import Gateway
from helpers import GATEWAY_KEY, http_json

from .fronts_config import fronts_config, post


def client(srv) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=10)


def _tempting(upstreams) -> dict:
    """Embedding models that would win any cost-driven plan if they were eligible: free, perfect."""
    cfg = fronts_config(upstreams, routes=[{"name": "cheap"}])
    for m in cfg["models"]:
        if m.get("mode") == "embedding":
            m.update(quality=1.0, prices={"input": 0.0, "output": 0.0})
    return cfg


def test_auto_and_routes_never_pick_an_embedding_model(start_server, upstreams):
    srv = start_server(_tempting(upstreams))
    for model in ("auto", "cheap"):
        for floor in (0.1, 0.5, 0.95):
            body = {
                "model": model,
                "messages": [{"role": "user", "content": f"hi {floor}"}],
                "faregate": {"min_quality": floor},
            }
            plan = http_json("POST", srv.url + "/v1/route", body, key=GATEWAY_KEY)
            named = json.dumps(plan)
            assert "embed" not in named, plan  # neither chosen nor listed as a candidate
            raw = client(srv).chat.completions.with_raw_response.create(
                model=model,
                messages=[{"role": "user", "content": "hello"}],
                extra_body={"faregate": {"min_quality": floor}},
            )
            assert "embed" not in raw.headers["x-faregate-model"]
    paths = {r["path"] for f in upstreams.values() for r in f.requests()}
    assert not any("embed" in p.lower() for p in paths), paths


def test_planner_excludes_embedding_models_even_from_the_catalogue(upstreams):
    # `model: text-embedding-3-small` alone: the catalogue gives it mode embedding.
    cfg = fronts_config(upstreams)
    cfg["models"] = [m for m in cfg["models"] if m.get("mode") != "embedding" and m["provider"] != "azure"]
    cfg["models"].append({"model": "text-embedding-3-small", "base_url": upstreams["openai"].model_base_url})
    gw = Gateway(GatewayConfig.model_validate(cfg))
    assert gw.config.model("text-embedding-3-small").mode == "embedding"
    assert gw.config.model("text-embedding-3-small").prices.input == 0.02
    step = next(s for s in gw.steps if type(s).__name__ == "RoutingStep")
    ctx = gw.context(gw_request("auto"))
    plan = step.plan(ctx, "auto")
    assert "text-embedding-3-small" not in json.dumps(plan.candidates) and plan.models


def gw_request(model: str):
    from faregate.wire.openai_front import parse_chat_request

    return parse_chat_request({"model": model, "messages": [{"role": "user", "content": "hello"}]})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda c: c["models"][0].update(fallbacks=["fake-embed"]),
            "'fake-embed' is a model of mode embedding, 'fake-openai' of mode chat",
        ),
        (
            lambda c: c.update(routes=[{"name": "r", "candidates": ["fake-openai", "fake-embed"]}]),
            "routes choose among chat models",
        ),
        (
            lambda c: c.update(routes=[{"name": "r", "rollout": 0.5, "control_model": "fake-gemini-embed"}]),
            "control_model: 'fake-gemini-embed' is an embedding model",
        ),
    ],
)
def test_config_refuses_embedding_models_in_chat_chains(upstreams, tmp_path, change, message):
    cfg = fronts_config(upstreams)
    change(cfg)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(cfg))
    with pytest.raises(ConfigError) as exc:
        load_config(str(path))
    assert message in str(exc.value)


def test_wrong_kind_for_the_model_is_a_clear_400(start_server, upstreams):
    srv = start_server(fronts_config(upstreams))
    status, body, _ = post(
        srv, "/chat/completions", {"model": "fake-embed", "messages": [{"role": "user", "content": "x"}]}
    )
    assert status == 400 and "is an embedding model: send it to /v1/embeddings" in body["error"]["message"]
    status, body, _ = post(srv, "/embeddings", {"model": "fake-openai", "input": "x"})
    assert status == 400 and "is a chat model: send it to /v1/chat/completions" in body["error"]["message"]
    status, body, _ = post(srv, "/embeddings", {"model": "auto", "input": "x"})
    assert (
        status == 400
        and "needs an embedding model: one of fake-azure-embed, fake-embed, fake-gemini-embed"
        in body["error"]["message"]
    )
    status, body, _ = post(srv, "/embeddings", {"model": "nope", "input": "x"})
    assert status == 404 and "Embedding models: fake-azure-embed" in body["error"]["message"]
    assert all(f.requests() == [] for f in upstreams.values())
