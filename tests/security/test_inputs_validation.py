"""Validation gaps: ``max_tokens`` beyond any model's limit, the routing object on fixed models,
and the admin API's expiry and limits."""

from __future__ import annotations

import aiohttp
import openai
import pytest
from inputs_support import AUTH, HELLO, openai_error

from helpers import GATEWAY_KEY, fake_config

MASTER = "fg-master-security-inputs"


def _cfg(upstreams, **extra):
    cfg = fake_config(upstreams, **extra)
    cfg["models"][0]["max_output_tokens"] = 4096  # fake-openai
    cfg["models"][0]["context_window"] = 16_000
    cfg["models"][1]["context_window"] = 32_000  # fake-anthropic, no max_output_tokens
    cfg["routes"] = [{"name": "cheap", "candidates": ["fake-openai", "fake-anthropic"]}]
    return cfg


@pytest.fixture
def server(start_server, upstreams):
    return start_server(_cfg(upstreams, master_key=MASTER, limits={"keys": {"tpm": 100_000}}))


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=server.base_url, api_key=GATEWAY_KEY, max_retries=0)


@pytest.mark.parametrize(
    "model,max_tokens,words",
    [
        ("fake-openai", 4097, "max_output_tokens is 4096"),
        ("fake-openai", 2**62, "max_output_tokens is 4096"),
        ("fake-anthropic", 32_001, "context_window is 32000"),
        ("cheap", 32_001, "any candidate of 'cheap' (largest: 'fake-anthropic')"),
        ("auto", 10**9, "any candidate of 'auto'"),
    ],
)
def test_max_tokens_beyond_every_limit_is_a_400_naming_it(client, upstreams, model, max_tokens, words):
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(model=model, messages=HELLO, max_tokens=max_tokens)
    assert exc.value.body["param"] == "max_tokens" and words in exc.value.body["message"]
    assert exc.value.response.headers.get("retry-after") is None
    assert all(f.requests() == [] for f in upstreams.values())


def test_max_tokens_within_a_limit_passes(client, upstreams):
    r = client.chat.completions.create(model="fake-openai", messages=HELLO, max_tokens=4096)
    assert r.choices[0].message.content
    # a route takes what its largest candidate can do (the router then picks among those that fit)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="cheap", messages=HELLO, max_tokens=32_001)


@pytest.mark.parametrize(
    "routing,param",
    [
        ({"min_quality": 5}, "faregate.min_quality"),
        ({"min_quality": "high"}, "faregate.min_quality"),
        ({"max_latency_ms": -1}, "faregate.max_latency_ms"),
        ({"colour": "red"}, "faregate"),
        ({"task": ""}, "faregate.task"),
    ],
)
@pytest.mark.parametrize("model", ["fake-openai", "auto"])
def test_the_routing_object_is_validated_for_fixed_models_too(client, routing, param, model):
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(model=model, messages=HELLO, extra_body={"faregate": routing})
    assert exc.value.body["param"] == param


async def test_a_routing_header_out_of_range_is_refused_on_a_fixed_model(server):
    async with aiohttp.ClientSession() as s:
        async with s.post(
            server.base_url + "/chat/completions",
            json={"model": "fake-openai", "messages": HELLO},
            headers={**AUTH, "x-faregate-min-quality": "5"},
        ) as r:
            assert r.status == 400 and openai_error(await r.json())["param"] == "faregate.min_quality"


async def _admin(server, method: str, path: str, body):
    async with aiohttp.ClientSession() as s:
        async with s.request(method, server.url + path, json=body, headers={"authorization": f"Bearer {MASTER}"}) as r:
            return r.status, await r.json()


@pytest.mark.parametrize(
    "body,param,words",
    [
        ({"name": "k", "expires_in_s": -60}, "expires_in_s", "positive"),
        ({"name": "k", "expires_in_s": 0}, "expires_in_s", "positive"),
        ({"name": "k", "expires_at": -5}, "expires_at", "positive"),
        ({"name": "k", "limits": {"rpm": -1}}, "limits.rpm", "greater than or equal to 0"),
        ({"name": "k", "limits": {"rpm": "many"}}, "limits.rpm", "integer"),
        ({"name": "k", "limits": {"rpx": 5}}, "limits.rpx", "allowed fields"),
        ({"name": "k", "limits": {"budget_usd_day": -0.5}}, "limits.budget_usd_day", "greater than or equal"),
    ],
)
async def test_admin_refuses_bad_expiry_and_limits_naming_the_field(server, body, param, words):
    status, payload = await _admin(server, "POST", "/admin/keys", body)
    assert status == 400, payload
    err = openai_error(payload)
    assert err["param"] == param and words in err["message"], err
    assert param in err["message"]


async def test_admin_limits_errors_name_the_field_on_update_and_teams(server):
    status, created = await _admin(server, "POST", "/admin/keys", {"name": "ok", "expires_in_s": 3600})
    assert status == 201, created
    status, payload = await _admin(server, "PATCH", f"/admin/keys/{created['id']}", {"limits": {"tpm": -3}})
    assert status == 400 and openai_error(payload)["param"] == "limits.tpm"
    status, payload = await _admin(server, "PUT", "/admin/teams/t1", {"limits": {"max_concurrent": -1}})
    assert status == 400 and openai_error(payload)["param"] == "limits.max_concurrent"
