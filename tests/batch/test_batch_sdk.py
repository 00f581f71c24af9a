"""The OpenAI Batch API in front, driven by the official openai SDK: upload a JSONL file, create
a batch, poll it, download the output, and check every answer against its custom_id; bad input
files are a clear 400 that runs nothing."""

from __future__ import annotations

import io
import time

import openai
import orjson
import pytest
from batch_calls import batch_client as _client
from batch_calls import wait_batch as _wait

from helpers import GATEWAY_KEY, fake_config


def _jsonl(model: str, n: int) -> bytes:
    lines = [
        {
            "custom_id": f"req-{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": model, "messages": [{"role": "user", "content": f"line {i}"}]},
        }
        for i in range(n)
    ]
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


@pytest.mark.parametrize("protocol", ["openai", "anthropic", "gemini"])
def test_sdk_full_batch_flow_self_run(protocol, upstreams, start_server):
    srv = start_server(fake_config(upstreams))
    client = _client(srv)
    upstreams[protocol].reset()
    f = client.files.create(file=("in.jsonl", io.BytesIO(_jsonl(f"fake-{protocol}", 50))), purpose="batch")
    assert f.purpose == "batch" and f.bytes > 0
    batch = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert batch.status == "validating" and batch.request_counts.total == 50
    done = _wait(client, batch.id)
    assert done.status == "completed"
    assert done.request_counts.completed == 50 and done.request_counts.failed == 0
    assert done.output_file_id and done.error_file_id is None
    out = [orjson.loads(x) for x in client.files.content(done.output_file_id).text.splitlines()]
    assert sorted(o["custom_id"] for o in out) == sorted(f"req-{i}" for i in range(50))  # each line once
    for o in out:
        assert o["response"]["status_code"] == 200 and o["error"] is None
        assert o["response"]["body"]["choices"][0]["message"]["content"]
    assert len(upstreams[protocol].requests()) == 50  # every line ran through the pipeline, once
    page = client.batches.list(limit=1)
    assert page.data[0].id == batch.id


def test_unknown_model_line_goes_to_the_error_file(upstreams, start_server):
    srv = start_server(fake_config(upstreams))
    client = _client(srv)
    f = client.files.create(file=("in.jsonl", io.BytesIO(_jsonl("no-such-model", 2))), purpose="batch")
    done = _wait(
        client, client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h").id
    )
    assert done.request_counts.failed == 2 and done.output_file_id is None
    errs = [orjson.loads(x) for x in client.files.content(done.error_file_id).text.splitlines()]
    assert {e["response"]["status_code"] for e in errs} == {404}


@pytest.mark.parametrize(
    ("content", "purpose", "needle"),
    [
        (b"{not json\n", "batch", "not valid JSON"),
        (b'{"custom_id":"a","method":"POST","url":"/v1/x","body":{}}\n', "batch", "url must be"),
        (b'{"custom_id":"a","url":"/v1/embeddings","body":{}}\n' * 2, "batch", "repeats custom_id"),
        (b'{"custom_id":"a","url":"/v1/embeddings","body":{}}\n', "fine-tune", "purpose"),
    ],
)
def test_bad_input_file_is_a_clear_400(content, purpose, needle, upstreams, start_server):
    client = _client(start_server(fake_config(upstreams)))
    with pytest.raises(openai.BadRequestError) as exc:
        client.files.create(file=("in.jsonl", io.BytesIO(content)), purpose=purpose)
    assert needle in str(exc.value)


def test_another_key_cannot_see_a_batch(upstreams, start_server):
    srv = start_server(fake_config(upstreams, keys=[GATEWAY_KEY, "fg-other"]))
    client = _client(srv)
    f = client.files.create(file=("in.jsonl", io.BytesIO(_jsonl("fake-openai", 1))), purpose="batch")
    other = openai.OpenAI(base_url=srv.base_url, api_key="fg-other", max_retries=0)
    with pytest.raises(openai.NotFoundError):
        other.files.retrieve(f.id)


def test_cancel_skips_the_lines_not_yet_started(upstreams, start_server):
    srv = start_server(fake_config(upstreams))
    client = _client(srv)
    upstreams["openai"].script(*[{"delay_ms": 300}] * 100)
    f = client.files.create(file=("in.jsonl", io.BytesIO(_jsonl("fake-openai", 40))), purpose="batch")
    batch = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    time.sleep(0.4)
    assert client.batches.cancel(batch.id).status == "cancelling"
    done = _wait(client, batch.id)
    assert done.status == "cancelled"
    ran = done.request_counts.completed + done.request_counts.failed
    assert 0 < ran < 40 and len(upstreams["openai"].requests()) == ran
