"""Batches run by the providers' own batch APIs (OpenAI Batch, Anthropic Message Batches,
Gemini batch mode) on the fakes, driven by the official openai SDK: every line is sent to the provider once, inside one
provider batch, answered with its own custom_id, billed at the batch discount and logged as its
own request; per-line errors land in the error file; a cancel reaches the provider; a gateway
restarted mid-batch polls on and completes the job without submitting it again."""

from __future__ import annotations

import io
import sqlite3
import time

import openai
import orjson
import pytest
from batch_calls import batch_client as _client
from batch_calls import run_batch
from batch_calls import wait_batch as _wait
from test_batch_sdk import _jsonl

from helpers import GATEWAY_KEY, UPSTREAM_KEYS, UPSTREAM_MODELS, cost_of, fake_config, http_json

SUBMIT = {
    "openai": "/v1/batches",
    "anthropic": "/v1/messages/batches",
    "gemini": f"/v1beta/models/{UPSTREAM_MODELS['gemini']}:batchGenerateContent",
}
ANSWERING = ("/chat/completions", "/messages", ":generateContent")  # each protocol's live endpoint


def _config(upstreams, db: str, **extra):
    return fake_config(upstreams, database_url=db, batch="provider", **extra)


def _script(fake, **options) -> None:
    http_json("POST", f"{fake.root}/_fake/batch", options)


def _batch_lines(fake) -> list[dict]:
    """The lines the fake's batch API ran (each is a loopback call marked with its batch)."""
    return [r for r in fake.requests() if r["headers"].get("x-fake-batch")]


def _submits(fake, protocol: str) -> list[dict]:
    return [r for r in fake.requests() if r["method"] == "POST" and r["path"] == SUBMIT[protocol]]


def _prompt(r: dict) -> str:
    """The user text of a request the fake answered, in any protocol."""
    body = r["body"]
    if "contents" in body:
        return body["contents"][0]["parts"][0]["text"]
    return body["messages"][0]["content"]


def _rows(path, batch_id: str) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        sql = "SELECT status, cost_usd, input_tokens, output_tokens, deployment FROM request_log WHERE batch_id = ?"
        return con.execute(sql, (batch_id,)).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("protocol", ["openai", "anthropic", "gemini"])
def test_sdk_full_flow_through_the_providers_batch_api(protocol, upstreams, start_server, tmp_path):
    fake = upstreams[protocol]
    _script(fake, delay_s=0.5)
    srv = start_server(_config(upstreams, f"sqlite:///{tmp_path / 'log.db'}"))
    client = _client(srv)
    f = client.files.create(file=("in.jsonl", io.BytesIO(_jsonl(f"fake-{protocol}", 50))), purpose="batch")
    batch = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    done = _wait(client, batch.id)
    assert done.status == "completed", done
    assert done.request_counts.completed == 50 and done.request_counts.failed == 0
    out = [orjson.loads(x) for x in client.files.content(done.output_file_id).text.splitlines()]
    assert sorted(o["custom_id"] for o in out) == sorted(f"req-{i}" for i in range(50))
    for o in out:  # each answer is the one to its own line
        n = o["custom_id"].split("-")[1]
        assert o["response"]["status_code"] == 200 and o["error"] is None
        body = o["response"]["body"]
        assert body["object"] == "chat.completion" and body["model"] == f"fake-{protocol}"
        assert body["choices"][0]["message"]["content"] == f"Answer from {UPSTREAM_MODELS[protocol]}: line {n}"
    # One provider batch held every line; each line ran once upstream, none as a live call.
    assert len(_submits(fake, protocol)) == 1
    ran = _batch_lines(fake)
    assert sorted(_prompt(r) for r in ran) == sorted(f"line {i}" for i in range(50))
    assert all(UPSTREAM_MODELS[protocol] in (r["path"] + str(r["body"].get("model"))) for r in ran)  # translated
    live = [r for r in fake.requests() if r["path"].endswith(ANSWERING)]
    assert len(live) == len(ran)  # every call to the answering endpoint came from the batch
    sent = _submits(fake, protocol)[0]["headers"]
    assert UPSTREAM_KEYS[protocol] in "".join(sent.get(h, "") for h in ("authorization", "x-api-key", "x-goog-api-key"))
    # Each line is its own request-log row naming the batch, billed at the catalogue's 50% batch discount.
    srv.stop()
    rows = _rows(tmp_path / "log.db", batch.id)
    assert len(rows) == 50 and {r[0] for r in rows} == {200}
    for _status, cost, tin, tout, dep in rows:
        assert tin > 0 and tout > 0 and dep == f"fake-{protocol}#0"
        assert cost == pytest.approx(cost_of(protocol, tin, tout) * 0.5, rel=1e-6)


@pytest.mark.parametrize("protocol", ["openai", "anthropic", "gemini"])
def test_per_line_errors_map_to_the_error_file(protocol, upstreams, start_server, tmp_path):
    fake = upstreams[protocol]
    _script(fake, delay_s=0.2, fail_marker="FAIL_LINE")
    srv = start_server(_config(upstreams, f"sqlite:///{tmp_path / 'log.db'}"))
    client = _client(srv)
    lines = (
        _jsonl(f"fake-{protocol}", 6).replace(b'"line 2"', b'"line 2 FAIL_LINE"').replace(b'"line 4"', b'"FAIL_LINE"')
    )
    f = client.files.create(file=("in.jsonl", io.BytesIO(lines)), purpose="batch")
    done = _wait(
        client, client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h").id
    )
    assert done.status == "completed"
    assert done.request_counts.completed == 4 and done.request_counts.failed == 2
    errs = [orjson.loads(x) for x in client.files.content(done.error_file_id).text.splitlines()]
    assert sorted(e["custom_id"] for e in errs) == ["req-2", "req-4"]
    for e in errs:  # the provider's 400 and its words, in OpenAI's envelope
        assert e["response"]["status_code"] == 400
        assert "failure marker" in e["response"]["body"]["error"]["message"]
    ok = [orjson.loads(x) for x in client.files.content(done.output_file_id).text.splitlines()]
    assert sorted(o["custom_id"] for o in ok) == ["req-0", "req-1", "req-3", "req-5"]


@pytest.mark.parametrize("protocol", ["openai", "anthropic", "gemini"])
def test_cancel_reaches_the_provider(protocol, upstreams, start_server, tmp_path):
    fake = upstreams[protocol]
    _script(fake, delay_s=30)  # the provider holds the batch until it is cancelled
    srv = start_server(_config(upstreams, f"sqlite:///{tmp_path / 'log.db'}"))
    client = _client(srv)
    f = client.files.create(file=("in.jsonl", io.BytesIO(_jsonl(f"fake-{protocol}", 10))), purpose="batch")
    batch = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    deadline = time.monotonic() + 10
    while not _submits(fake, protocol) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.batches.cancel(batch.id).status == "cancelling"
    done = _wait(client, batch.id, timeout=30)
    assert done.status == "cancelled"
    assert done.request_counts.completed == 0 and done.request_counts.failed == 0
    cancels = [r for r in fake.requests() if r["method"] == "POST" and r["path"].endswith("cancel")]
    assert len(cancels) == 1 and _batch_lines(fake) == []


def test_a_restarted_gateway_polls_on_and_completes_without_resubmitting(upstreams, start_server, tmp_path):
    fake = upstreams["openai"]
    _script(fake, delay_s=4)
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    first = start_server(_config(upstreams, db))
    client = _client(first)
    f = client.files.create(file=("in.jsonl", io.BytesIO(_jsonl("fake-openai", 50))), purpose="batch")
    batch = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    deadline = time.monotonic() + 10
    while not _submits(fake, "openai") and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    first.stop()  # the provider batch is still in progress
    con = sqlite3.connect(tmp_path / "shared.db")
    state, lease = con.execute("SELECT provider_state, lease_until FROM batch_job WHERE id = ?", (batch.id,)).fetchone()
    con.close()
    saved = orjson.loads(state)
    assert saved["batches"][0]["id"] and not saved["batches"][0]["done"] and lease == 0
    second = start_server(_config(upstreams, db))
    done = _wait(_client(second), batch.id)
    assert done.status == "completed" and done.request_counts.completed == 50
    out = [orjson.loads(x) for x in _client(second).files.content(done.output_file_id).text.splitlines()]
    assert sorted(o["custom_id"] for o in out) == sorted(f"req-{i}" for i in range(50))
    assert len(_submits(fake, "openai")) == 1  # polled on, never submitted again
    prompts = [r["body"]["messages"][0]["content"] for r in _batch_lines(fake)]
    assert sorted(prompts) == sorted(f"line {i}" for i in range(50))  # every line answered once
    second.stop()
    assert len(_rows(tmp_path / "shared.db", batch.id)) == 50


def test_responses_lines_run_by_faregate_itself(upstreams, start_server):
    srv = start_server(fake_config(upstreams))
    client = _client(srv)
    rows = [
        {
            "custom_id": f"r-{i}",
            "method": "POST",
            "url": "/v1/responses",
            "body": {"model": "fake-openai", "input": f"q {i}"},
        }
        for i in range(3)
    ]
    done = run_batch(client, rows, "/v1/responses")
    assert done.status == "completed" and done.request_counts.completed == 3, done
    out = {o["custom_id"]: o for o in map(orjson.loads, client.files.content(done.output_file_id).text.splitlines())}
    for i in range(3):
        body = out[f"r-{i}"]["response"]["body"]
        assert body["object"] == "response" and f"q {i}" in body["output"][0]["content"][0]["text"]
    assert not _batch_lines(upstreams["openai"])  # self-run: loopback fakes are not batched under auto


def test_a_batch_over_the_budget_is_refused_before_anything_is_submitted(upstreams, start_server, tmp_path):
    limits = {"keys": {"budget_usd_day": 0.01}}  # 50 lines of ~0.0006 USD each do not fit
    srv = start_server(_config(upstreams, f"sqlite:///{tmp_path / 'log.db'}", limits=limits))
    client = _client(srv)
    f = client.files.create(file=("in.jsonl", io.BytesIO(_jsonl("fake-openai", 50))), purpose="batch")
    with pytest.raises(openai.RateLimitError) as exc:
        client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert "no line was run" in str(exc.value)
    assert _submits(upstreams["openai"], "openai") == [] and upstreams["openai"].requests() == []
    small = client.files.create(file=("in.jsonl", io.BytesIO(_jsonl("fake-openai", 4))), purpose="batch")
    ok = client.batches.create(input_file_id=small.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert _wait(client, ok.id).request_counts.completed == 4  # one that fits runs by the provider
    assert len(_submits(upstreams["openai"], "openai")) == 1


def test_a_batch_the_provider_refuses_fails_every_line_with_the_reason(upstreams, start_server, tmp_path):
    cfg = _config(upstreams, f"sqlite:///{tmp_path / 'log.db'}")
    for m in cfg["models"]:
        if m["provider"] == "anthropic":
            m.pop("api_key")  # the fake's Message Batches answers 401 without x-api-key
    client = _client(start_server(cfg))
    f = client.files.create(file=("in.jsonl", io.BytesIO(_jsonl("fake-anthropic", 3))), purpose="batch")
    done = _wait(
        client, client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h").id
    )
    assert done.status == "completed" and done.request_counts.failed == 3 and done.output_file_id is None
    errs = [orjson.loads(x) for x in client.files.content(done.error_file_id).text.splitlines()]
    assert sorted(e["custom_id"] for e in errs) == ["req-0", "req-1", "req-2"]
    for e in errs:
        assert e["response"]["status_code"] >= 400 and "x-api-key" in e["response"]["body"]["error"]["message"]
    assert _batch_lines(upstreams["anthropic"]) == []


def test_embeddings_lines_through_the_openai_batch_api(upstreams, start_server, tmp_path):
    fake = upstreams["openai"]
    cfg = _config(upstreams, f"sqlite:///{tmp_path / 'log.db'}")
    embedder = {**cfg["models"][0], "name": "fake-embed", "model": "text-embedding-3-small", "mode": "embedding"}
    cfg["models"].append(embedder)
    client = _client(start_server(cfg))
    rows = [
        {"custom_id": f"e-{i}", "method": "POST", "url": "/v1/embeddings", "body": {"model": m, "input": f"text {i}"}}
        for i, m in enumerate(["fake-embed", "fake-embed", "fake-openai"])
    ]
    done = run_batch(client, rows, "/v1/embeddings")
    assert done.status == "completed" and done.request_counts.completed == 2, done
    out = {o["custom_id"]: o for o in map(orjson.loads, client.files.content(done.output_file_id).text.splitlines())}
    live = client.embeddings.create(model="fake-embed", input="text 1")  # the same request sent live
    assert out["e-1"]["response"]["body"]["data"][0]["embedding"] == live.data[0].embedding
    # An embeddings line to a chat model is the pipeline's 400 at once, never submitted.
    (err,) = map(orjson.loads, client.files.content(done.error_file_id).text.splitlines())
    assert err["custom_id"] == "e-2" and err["response"]["body"]["error"]["code"] == "wrong_model_mode"
    assert len(_submits(fake, "openai")) == 1
    assert sorted(r["body"]["input"] for r in _batch_lines(fake)) == [["text 0"], ["text 1"]]  # as the adapter sends it


def test_a_batch_with_guardrails_runs_through_the_pipeline(upstreams, start_server, tmp_path):
    cfg = _config(upstreams, f"sqlite:///{tmp_path / 'log.db'}")
    cfg["guardrails"] = [{"name": "pii-mask", "type": "pii", "action": "mask"}]
    cfg["models"][0]["guardrails"] = ["pii-mask"]  # fake-openai
    client = _client(start_server(cfg))
    f = client.files.create(
        file=("in.jsonl", io.BytesIO(_jsonl("fake-openai", 3).replace(b"line 1", b"mail a@b.example"))), purpose="batch"
    )
    done = _wait(
        client, client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h").id
    )
    assert done.request_counts.completed == 3
    fake = upstreams["openai"]
    assert _submits(fake, "openai") == [] and not _batch_lines(fake)  # self-run: the guardrail applied
    sent = [r["body"]["messages"][0]["content"] for r in fake.requests() if r["path"].endswith("/chat/completions")]
    assert len(sent) == 3 and not any("a@b.example" in t for t in sent)


def test_an_unreachable_batch_api_is_retried_then_fails_the_lines(upstreams, start_server, tmp_path):
    from faregate.server.batch_routes import RUNNER
    from storage.conftest import closed_port

    cfg = _config(upstreams, f"sqlite:///{tmp_path / 'log.db'}")
    cfg["models"][0]["base_url"] = f"http://127.0.0.1:{closed_port()}/v1"  # fake-openai: nobody listens
    srv = start_server(cfg)
    srv.app[RUNNER].provider.first_poll_s = 0.01  # the retries come at the poll backoff
    client = _client(srv)
    f = client.files.create(file=("in.jsonl", io.BytesIO(_jsonl("fake-openai", 3))), purpose="batch")
    done = _wait(
        client, client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h").id
    )
    assert done.status == "completed" and done.request_counts.failed == 3
    errs = [orjson.loads(x) for x in client.files.content(done.error_file_id).text.splitlines()]
    assert all("batch API unreachable" in e["response"]["body"]["error"]["message"] for e in errs)
    con = sqlite3.connect(tmp_path / "log.db")
    (state,) = con.execute("SELECT provider_state FROM batch_job").fetchone()
    con.close()
    assert orjson.loads(state)["batches"][0]["submit_failures"] == 5  # tried five times, then gave up


def test_provider_lines_are_charged_on_the_budget_at_the_discounted_price(
    upstreams, start_server, server_loop, tmp_path
):
    from faregate.limits.base import USD
    from faregate.pipeline.limits_step import LimitsStep
    from faregate.wire.openai_front import parse_chat_request

    srv = start_server(_config(upstreams, f"sqlite:///{tmp_path / 'log.db'}", limits={"keys": {"budget_usd_day": 1.0}}))
    client = _client(srv)
    f = client.files.create(file=("in.jsonl", io.BytesIO(_jsonl("fake-openai", 5))), purpose="batch")
    done = _wait(
        client, client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h").id
    )
    out = [orjson.loads(x) for x in client.files.content(done.output_file_id).text.splitlines()]
    paid = sum(
        cost_of(
            "openai",
            o["response"]["body"]["usage"]["prompt_tokens"],
            o["response"]["body"]["usage"]["completion_tokens"],
        )
        * 0.5
        for o in out
    )
    gw = srv.gateway
    step = next(s for s in gw.steps if isinstance(s, LimitsStep))
    req = parse_chat_request({"model": "fake-openai", "messages": [{"role": "user", "content": "x"}]})
    limits, _ = step.limits_for(gw.context(req, principal=gw.known_principal(GATEWAY_KEY)))
    budget = next(lim for lim in limits if lim.kind == "cost")
    used = server_loop.run(step.store.usage(budget)) / USD
    # What the lines cost at half price, no more (the up-front hold went back), no less.
    assert used == pytest.approx(paid, abs=5 / USD * 2) and used > 0
