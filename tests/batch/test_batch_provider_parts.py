"""The parts of the provider batch path: the poll backoff, which jobs go to a provider's batch
API (``batch: auto | provider | self``), the catalogue's batch discount, and the fakes' batch
APIs read by the providers' own SDKs (so the wire shapes are the real ones)."""

from __future__ import annotations

import io
import time
import urllib.error

import anthropic
import openai
import orjson
import pytest

from faregate.batch.provider_api import backoff_s
from faregate.batch.provider_run import plan
from faregate.batch.runner import CODECS
from faregate.catalogue.resolve import apply_catalogue
from faregate.config import GatewayConfig
from faregate.pipeline.context import Principal
from faregate.pipeline.gateway import Gateway
from helpers import UPSTREAM_KEYS, http_json


def test_polls_start_within_two_seconds_and_back_off_to_thirty():
    schedule = [backoff_s(n) for n in range(10)]
    assert schedule[0] <= 2
    assert schedule[:6] == [1, 2, 4, 8, 16, 30]
    assert all(b >= a for a, b in zip(schedule, schedule[1:])) and max(schedule) == 30
    assert backoff_s(10_000) == 30  # no overflow after days of polling


def _gateway(batch: str = "auto", model_batch: str | None = None) -> Gateway:
    models = [
        {"name": "gpt", "provider": "openai", "model": "gpt-4o-mini", "batch": model_batch},
        {"name": "local", "provider": "openai", "base_url": "http://127.0.0.1:9/v1"},
        {
            "name": "claude",
            "provider": "anthropic",
            "model": "claude-sonnet-4-5",
            "batch": "provider",
            "base_url": "http://127.0.0.1:9",
        },
        {"name": "gem", "provider": "gemini", "model": "gemini-2.5-flash"},
        {"name": "gem-embed", "provider": "gemini", "model": "gemini-embedding-001", "mode": "embedding"},
    ]
    cfg = {"models": models, "batch": batch, "database_url": "", "learning": {"enabled": False}, "cascades": False}
    return Gateway(GatewayConfig.model_validate(cfg))


def _lines(*models: str) -> list[dict]:
    body = {"messages": [{"role": "user", "content": "hi"}]}
    return [
        {"custom_id": f"c{i}", "url": "/v1/chat/completions", "body": {**body, "model": m}}
        for i, m in enumerate(models)
    ]


def test_auto_uses_the_batch_api_only_on_the_providers_public_endpoint():
    gw = _gateway()
    state = plan(gw, None, _lines("gpt", "gpt", "claude"), CODECS)
    assert state is not None
    assert {g["deployment"]: g["lines"] for g in state["batches"]} == {"gpt#0": [0, 1], "claude#0": [2]}
    assert plan(gw, None, _lines("gpt", "local"), CODECS) is None  # a local server: faregate runs it
    assert plan(gw, None, _lines("gem"), CODECS) is not None  # Gemini batch mode, on its public endpoint
    embed = [{"custom_id": "e", "url": "/v1/embeddings", "body": {"model": "gem-embed", "input": "x"}}]
    assert plan(gw, None, embed, CODECS) is None  # embeddings go by batch to OpenAI only
    assert plan(gw, None, _lines("gpt", "no-such-model"), CODECS) is None  # the pipeline answers the 404


def test_self_and_provider_settings():
    assert plan(_gateway(batch="self"), None, _lines("gpt"), CODECS) is None
    assert plan(_gateway(batch="provider"), None, _lines("local"), CODECS) is not None  # any OpenAI-wire server
    assert plan(_gateway(batch="provider", model_batch="self"), None, _lines("gpt"), CODECS) is None  # the model wins
    assert plan(_gateway(batch="self", model_batch="auto"), None, _lines("gpt"), CODECS) is not None


def test_a_line_the_key_may_not_use_is_answered_at_once_not_batched():
    key = Principal(key_id="k", models=("gpt",))
    state = plan(_gateway(), key, _lines("gpt", "claude"), CODECS)
    assert state is not None and state["local"] == [1] and state["batches"][0]["lines"] == [0]


def test_the_catalogue_gives_the_batch_discount_and_the_config_wins():
    cfg = GatewayConfig.model_validate(
        {
            "models": [
                {"name": "a", "model": "gpt-4o-mini"},
                {"name": "b", "model": "gpt-4o-mini", "batch_discount": 0.2},
            ]
        }
    )
    a, b = apply_catalogue(cfg).models
    assert a.batch_discount == 0.5 and b.batch_discount == 0.2


def _until(fn, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = fn()
        if got is not None:
            return got
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_the_anthropic_fake_speaks_message_batches_to_the_anthropic_sdk(upstreams):
    fake = upstreams["anthropic"]
    http_json("POST", f"{fake.root}/_fake/batch", {"delay_s": 0.2})
    client = anthropic.Anthropic(base_url=fake.root, api_key=UPSTREAM_KEYS["anthropic"], max_retries=0)
    params = {"model": "claude-sonnet-4-5", "max_tokens": 20}
    batch = client.messages.batches.create(
        requests=[
            {"custom_id": "ok", "params": {**params, "messages": [{"role": "user", "content": "hello"}]}},
            {"custom_id": "bad", "params": {**params, "messages": [{"role": "user", "content": "FAIL_LINE"}]}},
        ]
    )
    assert batch.type == "message_batch" and batch.processing_status == "in_progress"
    assert batch.request_counts.processing == 2
    ended = _until(lambda: (b := client.messages.batches.retrieve(batch.id)).processing_status == "ended" and b or None)
    assert ended.request_counts.succeeded == 1 and ended.request_counts.errored == 1 and ended.results_url
    results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    assert results["ok"].type == "succeeded" and "hello" in results["ok"].message.content[0].text
    assert results["bad"].type == "errored" and results["bad"].error.error.type == "invalid_request_error"
    http_json("POST", f"{fake.root}/_fake/batch", {"delay_s": 30})
    slow = client.messages.batches.create(
        requests=[{"custom_id": "x", "params": {**params, "messages": [{"role": "user", "content": "x"}]}}]
    )
    assert client.messages.batches.cancel(slow.id).processing_status in ("canceling", "ended")
    gone = _until(lambda: (b := client.messages.batches.retrieve(slow.id)).processing_status == "ended" and b or None)
    assert gone.request_counts.canceled == 1
    assert [r.result.type for r in client.messages.batches.results(slow.id)] == ["canceled"]


def test_the_openai_fake_speaks_the_batch_api_to_the_openai_sdk(upstreams):
    fake = upstreams["openai"]
    http_json("POST", f"{fake.root}/_fake/batch", {"delay_s": 0.2, "expire_marker": "TOO_LATE"})
    client = openai.OpenAI(base_url=fake.root + "/v1", api_key=UPSTREAM_KEYS["openai"], max_retries=0)
    rows = [
        {
            "custom_id": c,
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": t}]},
        }
        for c, t in (("ok", "hello"), ("bad", "FAIL_LINE"), ("late", "TOO_LATE"))
    ]
    f = client.files.create(
        file=("in.jsonl", io.BytesIO(b"".join(orjson.dumps(r) + b"\n" for r in rows))), purpose="batch"
    )
    batch = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert batch.status == "in_progress" and batch.request_counts.total == 3
    done = _until(lambda: (b := client.batches.retrieve(batch.id)).status == "completed" and b or None)
    assert done.request_counts.completed == 1 and done.request_counts.failed == 2
    out = [orjson.loads(x) for x in client.files.content(done.output_file_id).text.splitlines()]
    assert out[0]["custom_id"] == "ok" and out[0]["response"]["body"]["object"] == "chat.completion"
    errs = {e["custom_id"]: e for e in map(orjson.loads, client.files.content(done.error_file_id).text.splitlines())}
    assert errs["bad"]["response"]["status_code"] == 400 and errs["late"]["error"]["code"] == "batch_expired"


def test_the_anthropic_fakes_batch_api_wants_the_upstream_credential(upstreams):
    # As its Messages API does (the OpenAI fake checks no credential on any route).
    with pytest.raises(urllib.error.HTTPError) as exc:
        http_json("POST", upstreams["anthropic"].root + "/v1/messages/batches", {"requests": []})
    assert exc.value.code == 401


def test_the_gemini_fake_speaks_batch_mode_to_the_google_genai_sdk(upstreams):
    from google import genai

    fake = upstreams["gemini"]
    http_json("POST", f"{fake.root}/_fake/batch", {"delay_s": 0.2})
    client = genai.Client(api_key=UPSTREAM_KEYS["gemini"], http_options={"base_url": fake.root})
    src = [
        {"contents": [{"role": "user", "parts": [{"text": "hello"}]}], "metadata": {"key": "ok"}},
        {"contents": [{"role": "user", "parts": [{"text": "FAIL_LINE"}]}], "metadata": {"key": "bad"}},
    ]
    job = client.batches.create(model="gemini-2.5-flash", src=src)
    assert job.name.startswith("batches/") and job.state.name == "JOB_STATE_RUNNING"
    done = _until(lambda: (j := client.batches.get(name=job.name)).state.name == "JOB_STATE_SUCCEEDED" and j or None)
    by_key = {r.metadata["key"]: r for r in done.dest.inlined_responses}
    assert "hello" in by_key["ok"].response.text
    assert by_key["bad"].error is not None and by_key["bad"].error.code == 3  # INVALID_ARGUMENT
    http_json("POST", f"{fake.root}/_fake/batch", {"delay_s": 30})
    slow = client.batches.create(model="gemini-2.5-flash", src=src[:1])
    client.batches.cancel(name=slow.name)
    gone = _until(lambda: (j := client.batches.get(name=slow.name)).state.name == "JOB_STATE_CANCELLED" and j or None)
    assert not (gone.dest and gone.dest.inlined_responses)
