"""The router's batch plan end to end with the official openai SDK: a chat request with a 24h
deadline is answered 202 with a batch, which completes and holds the answer; a callback_url gets
the answer line POSTed; no deadline, a short one or a stream is answered at once; a bad deadline
is a 400; ``POST /v1/route`` shows the batch candidates."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import openai
import orjson
import pytest
from batch_calls import batch_client as _client
from batch_calls import wait_batch as _wait

from faregate.testing.webhook_receiver import WebhookReceiver
from helpers import GATEWAY_KEY, cost_of, fake_config

MSG = [{"role": "user", "content": "summarise the quarterly report"}]


def _config(upstreams, **extra):
    cfg = fake_config({"openai": upstreams["openai"]}, **extra)
    # The fake serves OpenAI's Batch API: its discount is only promised where that API runs the line.
    cfg["models"] = [{**m, "batch_discount": 0.5, "batch": "provider"} for m in cfg["models"]]
    cfg["default_min_quality"] = 0.5
    return cfg


def _post(url: str, body: dict, headers: dict | None = None) -> tuple[int, dict]:
    hdr = {"content-type": "application/json", "authorization": f"Bearer {GATEWAY_KEY}", **(headers or {})}
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers=hdr)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _deferred(client: openai.OpenAI, **kw):
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=MSG, **kw)
    return raw.http_response


def test_a_24h_deadline_gets_202_and_the_answer_in_the_batch(upstreams, start_server):
    srv = start_server(_config(upstreams))
    client = _client(srv)
    upstreams["openai"].reset()
    resp = _deferred(client, extra_body={"faregate": {"deadline": "24h"}})
    assert resp.status_code == 202
    job = resp.json()
    assert job["object"] == "batch" and job["id"].startswith("batch_")
    assert resp.headers["location"] == f"/v1/batches/{job['id']}"
    assert resp.headers["x-faregate-tier"] == "batch"
    assert job["metadata"]["faregate_model"] == "fake-openai"
    done = _wait(client, job["id"])
    assert done.status == "completed" and done.request_counts.completed == 1
    [line] = [orjson.loads(x) for x in client.files.content(done.output_file_id).text.splitlines()]
    assert line["custom_id"] == f"request-{resp.headers['x-request-id']}"
    assert line["response"]["status_code"] == 200
    assert line["response"]["body"]["choices"][0]["message"]["content"]
    # Answered once, inside one batch submitted to the provider's batch API (the fake records the
    # line it runs for that batch as a chat call, after the submission).
    paths = [r["path"] for r in upstreams["openai"].requests()]
    assert paths.count("/v1/batches") == 1 and paths.count("/v1/chat/completions") == 1
    assert paths.index("/v1/batches") < paths.index("/v1/chat/completions")


def test_the_deadline_header_works_like_the_body(upstreams, start_server):
    srv = start_server(_config(upstreams))
    client = _client(srv)
    resp = _deferred(client, extra_headers={"x-faregate-deadline": "1d"})
    assert resp.status_code == 202
    assert _wait(client, resp.json()["id"]).status == "completed"


def test_a_route_deadline_defers_its_requests(upstreams, start_server):
    srv = start_server(_config(upstreams, routes=[{"name": "overnight", "deadline": "2d"}]))
    client = _client(srv)
    raw = client.chat.completions.with_raw_response.create(model="overnight", messages=MSG)
    assert raw.http_response.status_code == 202


@pytest.mark.parametrize(
    "kw",
    [
        {},  # no deadline
        {"extra_body": {"faregate": {"deadline": "1h"}}},  # shorter than the 24h turnaround
        {"extra_body": {"faregate": {"max_latency_ms": 3_600_000}}},  # a latency ceiling is no deadline
    ],
)
def test_no_deadline_that_allows_it_is_answered_at_once(kw, upstreams, start_server):
    srv = start_server(_config(upstreams))
    resp = _deferred(_client(srv), **kw)
    assert resp.status_code == 200
    assert resp.json()["choices"][0]["message"]["content"]
    assert "x-faregate-tier" not in resp.headers


def test_a_stream_with_a_deadline_streams(upstreams, start_server):
    srv = start_server(_config(upstreams))
    stream = _client(srv).chat.completions.create(
        model="auto", messages=MSG, stream=True, extra_body={"faregate": {"deadline": "24h"}}
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def test_a_model_without_a_batch_discount_is_answered_at_once(upstreams, start_server):
    cfg = _config(upstreams)
    cfg["models"] = [{**m, "batch_discount": 0.0} for m in cfg["models"]]  # the catalogue's 0.5 switched off
    srv = start_server(cfg)
    assert _deferred(_client(srv), extra_body={"faregate": {"deadline": "24h"}}).status_code == 200


@pytest.mark.parametrize("bad", ["tomorrow", "24", "0h", "-1h", "1w", True])
def test_a_bad_deadline_is_a_400_that_says_the_form(bad, upstreams, start_server):
    srv = start_server(_config(upstreams))
    body = {"model": "auto", "messages": MSG, "faregate": {"deadline": bad}}
    status, got = _post(srv.base_url + "/chat/completions", body)
    assert status == 400, got
    err = got["error"]
    assert err["param"] == "faregate.deadline" and "deadline" in err["message"]


def test_a_bad_deadline_header_is_a_400(upstreams, start_server):
    srv = start_server(_config(upstreams))
    status, got = _post(
        srv.base_url + "/chat/completions", {"model": "auto", "messages": MSG}, {"x-faregate-deadline": "soon"}
    )
    assert status == 400 and "'24h'" in got["error"]["message"]


def test_a_bad_callback_url_is_a_400(upstreams, start_server):
    srv = start_server(_config(upstreams))
    body = {"model": "auto", "messages": MSG, "faregate": {"deadline": "24h", "callback_url": "ftp://x"}}
    status, got = _post(srv.base_url + "/chat/completions", body)
    assert status == 400 and got["error"]["param"] == "faregate.callback_url"


def test_route_dry_run_shows_the_batch_candidate_and_its_cost(upstreams, start_server):
    srv = start_server(_config(upstreams))
    body = {"model": "auto", "messages": MSG, "max_tokens": 100}
    plain = _post(srv.base_url + "/route", body)[1]
    assert plain["tier"] == "sync" and all(c["tier"] == "sync" for c in plain["candidates"] if "tier" in c)
    planned = _post(srv.base_url + "/route", {**body, "faregate": {"deadline": "24h"}})[1]
    assert planned["tier"] == "batch" and planned["constraints"]["deadline_s"] == 86400
    sync = next(c for c in planned["candidates"] if c.get("tier") == "sync")
    batch = next(c for c in planned["candidates"] if c.get("tier") == "batch")
    assert batch["models"] == sync["models"]
    assert batch["predicted_cost_usd"] == pytest.approx(sync["predicted_cost_usd"] * 0.5)
    assert planned["predicted_cost_usd"] == pytest.approx(batch["predicted_cost_usd"])
    assert batch["turnaround_s"] == 86400 and batch["predicted_p95_latency_ms"] == 86_400_000
    short = _post(srv.base_url + "/route", {**body, "faregate": {"deadline": "2h"}})[1]
    assert short["tier"] == "sync" and "shorter than the batch turnaround" in short["batch_tier"]


@pytest.fixture
def hook(server_loop):
    h = server_loop.run(WebhookReceiver(path="/done").start())
    yield h
    server_loop.run(h.stop())


def test_a_callback_url_gets_the_answer_line(upstreams, start_server, hook):
    srv = start_server(_config(upstreams))
    client = _client(srv)
    url = hook.url
    resp = _deferred(client, extra_body={"faregate": {"deadline": "24h", "callback_url": url}})
    assert resp.status_code == 202
    bid = resp.json()["id"]
    assert _wait(client, bid).status == "completed"
    end = time.monotonic() + 10
    while not hook.received and time.monotonic() < end:
        time.sleep(0.05)
    [got] = hook.received
    assert got["batch_id"] == bid and got["custom_id"] == f"request-{resp.headers['x-request-id']}"
    assert got["response"]["status_code"] == 200 and got["response"]["body"]["choices"][0]["message"]["content"]
    assert "callback_url" not in str(client.batches.retrieve(bid).model_dump())  # kept private


def test_a_deferred_request_past_the_budget_is_a_429_now(upstreams, start_server):
    budget = {"keys": {"budget_usd_day": 0.0001}}  # under one line's estimate (~0.0003 USD at the batch price)
    srv = start_server(_config(upstreams, limits=budget))
    upstreams["openai"].reset()
    with pytest.raises(openai.RateLimitError):
        _client(srv).chat.completions.create(model="auto", messages=MSG, extra_body={"faregate": {"deadline": "24h"}})
    assert upstreams["openai"].requests() == []


def test_a_restarted_gateway_still_calls_back(upstreams, start_server, hook, tmp_path):
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    first = start_server(_config(upstreams, database_url=db))
    upstreams["openai"].reset()
    upstreams["openai"].script({"delay_ms": 3000})  # the line is still running when the gateway stops
    url = hook.url
    resp = _deferred(_client(first), extra_body={"faregate": {"deadline": "24h", "callback_url": url}})
    assert resp.status_code == 202
    time.sleep(0.3)
    first.stop()
    assert hook.received == []
    second = start_server(_config(upstreams, database_url=db))
    assert _wait(_client(second), resp.json()["id"]).status == "completed"
    end = time.monotonic() + 10
    while not hook.received and time.monotonic() < end:
        time.sleep(0.05)
    [got] = hook.received
    assert got["batch_id"] == resp.json()["id"] and got["response"]["status_code"] == 200


def test_a_route_in_a_gradual_rollout_stays_synchronous(upstreams, start_server):
    route = {"name": "rolling", "rollout": 0.5, "control_model": "fake-openai", "deadline": "2d"}
    srv = start_server(_config(upstreams, routes=[route]))
    client = _client(srv)
    for _ in range(4):
        raw = client.chat.completions.with_raw_response.create(model="rolling", messages=MSG)
        assert raw.http_response.status_code == 200
    plan = _post(srv.base_url + "/route", {"model": "rolling", "messages": MSG})[1]
    assert plan["tier"] == "sync" and "gradual rollout" in plan["batch_tier"]


@pytest.mark.parametrize(
    "extra",
    [{"routes": [{"name": "r", "deadline": "soon"}]}, {"batch_tier": {"turnaround": "0h"}}],
)
def test_a_bad_duration_in_the_config_is_refused(extra):
    from pydantic import ValidationError

    from faregate.config import GatewayConfig

    with pytest.raises(ValidationError, match="24h"):
        GatewayConfig.model_validate({"database_url": "", **extra})


def test_the_turnaround_decides_what_deadline_is_long_enough(upstreams, start_server):
    srv = start_server(_config(upstreams, batch_tier={"turnaround": "1h"}))
    body = {"model": "auto", "messages": MSG}
    assert _post(srv.base_url + "/route", {**body, "faregate": {"deadline": "2h"}})[1]["tier"] == "batch"
    assert _post(srv.base_url + "/route", {**body, "faregate": {"deadline": "30m"}})[1]["tier"] == "sync"
    off = start_server(_config(upstreams, batch_tier={"enabled": False}))
    plan = _post(off.base_url + "/route", {**body, "faregate": {"deadline": "7d"}})[1]
    assert plan["tier"] == "sync" and "off" in plan["batch_tier"]


def test_through_the_providers_batch_api_the_deferred_request_pays_the_discount(upstreams, start_server, tmp_path):
    import sqlite3

    fake = upstreams["openai"]
    srv = start_server(_config(upstreams, batch="provider", database_url=f"sqlite:///{tmp_path / 'log.db'}"))
    client = _client(srv)
    fake.reset()
    resp = _deferred(client, extra_body={"faregate": {"deadline": "24h"}})
    assert resp.status_code == 202
    done = _wait(client, resp.json()["id"])
    assert done.status == "completed"
    [line] = [orjson.loads(x) for x in client.files.content(done.output_file_id).text.splitlines()]
    body = line["response"]["body"]
    assert body["choices"][0]["message"]["content"]
    assert [r["path"] for r in fake.requests() if r["method"] == "POST" and r["path"] == "/v1/batches"]
    usage = body["usage"]
    list_price = cost_of("openai", usage["prompt_tokens"], usage["completion_tokens"])
    assert usage["cost_usd"] == pytest.approx(list_price * 0.5, rel=1e-6)  # billed at the batch price
    con = sqlite3.connect(tmp_path / "log.db")
    end = time.monotonic() + 5
    rows: list = []
    while not rows and time.monotonic() < end:
        rows = con.execute(
            "SELECT cost_usd, requested_model FROM request_log WHERE batch_id = ?", (done.id,)
        ).fetchall()
        time.sleep(0.1)
    con.close()
    assert rows == [(pytest.approx(list_price * 0.5, rel=1e-6), "fake-openai")]
