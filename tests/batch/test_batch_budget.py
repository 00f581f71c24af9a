"""A batch's budget is reserved up front: a batch whose estimated cost exceeds what is left of
the key's budget is refused before any line runs; a batch that fits hands its hold back as its
lines run, so batches one after the other do not leak budget."""

from __future__ import annotations

import io

import openai
import pytest
from batch_calls import batch_client as _client
from batch_calls import wait_batch as _wait
from test_batch_sdk import _jsonl

from helpers import fake_config

# One line's estimate: 1,024 output tokens (the default max_tokens) at 0.60 USD/M, ~0.0006 USD.
BUDGET = {"keys": {"budget_usd_day": 0.01}}


def test_a_batch_over_the_remaining_budget_is_refused_before_any_line_runs(upstreams, start_server, tmp_path):
    srv = start_server(fake_config(upstreams, database_url=f"sqlite:///{tmp_path / 'log.db'}", limits=BUDGET))
    client = _client(srv)
    upstreams["openai"].reset()
    f = client.files.create(file=("in.jsonl", io.BytesIO(_jsonl("fake-openai", 50))), purpose="batch")
    with pytest.raises(openai.RateLimitError) as exc:
        client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert "no line was run" in str(exc.value) and "budget" in str(exc.value)
    assert upstreams["openai"].requests() == []  # nothing went upstream
    assert client.batches.list().data == []  # and no job was made


def test_batches_that_fit_hand_their_hold_back(upstreams, start_server, tmp_path):
    srv = start_server(fake_config(upstreams, database_url=f"sqlite:///{tmp_path / 'log.db'}", limits=BUDGET))
    client = _client(srv)
    upstreams["openai"].reset()
    # Each holds ~0.0025 USD while it runs; six in a row would exceed 0.01 if a hold leaked.
    for _ in range(6):
        f = client.files.create(file=("in.jsonl", io.BytesIO(_jsonl("fake-openai", 4))), purpose="batch")
        b = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
        done = _wait(client, b.id)
        assert done.status == "completed" and done.request_counts.completed == 4
    assert len(upstreams["openai"].requests()) == 24
