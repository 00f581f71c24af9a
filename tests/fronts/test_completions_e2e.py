"""``POST /v1/completions`` (legacy text completions) end to end with the official ``openai``
SDK: passed through to OpenAI-compatible upstreams (plain and Azure layout), streamed or not,
with usage, cost and the request log; a clear 400 for providers without the endpoint."""

from __future__ import annotations

import sqlite3

import openai
import pytest

from helpers import GATEWAY_KEY, cost_of

from .fronts_config import AZURE_KEY, AZURE_VERSION, fronts_config, post


@pytest.fixture
def srv(start_server, upstreams, tmp_path):
    return start_server(fronts_config(upstreams, database_url=f"sqlite:///{tmp_path / 'c.db'}"))


def client(srv) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=10)


def test_completion_passed_through_with_usage_and_cost(srv, upstreams, tmp_path):
    upstreams["openai"].script({"text": "a poem", "usage": {"input_tokens": 12, "output_tokens": 7}})
    raw = client(srv).completions.with_raw_response.create(
        model="fake-openai",
        prompt="Write a poem",
        max_tokens=20,
        temperature=0.2,
        suffix="END",
        echo=False,
        stop=["\n\n"],
    )
    res = raw.parse()
    assert res.object == "text_completion" and res.choices[0].text == "a poem"
    assert res.choices[0].finish_reason == "stop" and res.model == "fake-openai"
    assert (res.usage.prompt_tokens, res.usage.completion_tokens, res.usage.total_tokens) == (12, 7, 19)
    assert float(raw.headers["x-faregate-cost-usd"]) == pytest.approx(cost_of("openai", 12, 7))
    rec = upstreams["openai"].last_request()
    assert rec["path"] == "/v1/completions"
    assert rec["body"] == {
        "model": "gpt-4o-mini",
        "prompt": "Write a poem",
        "max_tokens": 20,
        "temperature": 0.2,
        "stop": ["\n\n"],
        "suffix": "END",
        "echo": False,
    }
    srv.stop()
    row = (
        sqlite3.connect(tmp_path / "c.db")
        .execute(
            "SELECT model, input_tokens, output_tokens, extra FROM request_log WHERE id = ?",
            (raw.headers["x-request-id"],),
        )
        .fetchone()
    )
    assert row[:3] == ("fake-openai", 12, 7) and '"completion"' in row[3]


def test_completion_stream_with_usage(srv, upstreams):
    upstreams["openai"].script(
        {"text": "one two three four", "chunks": 4, "usage": {"input_tokens": 5, "output_tokens": 4}}
    )
    stream = client(srv).completions.create(
        model="fake-openai", prompt="Count", stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == "one two three four"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.prompt_tokens == 5 and chunks[-1].usage.completion_tokens == 4
    body = upstreams["openai"].last_request()["body"]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_token_array_prompt(srv, upstreams):
    client(srv).completions.create(model="fake-openai", prompt=[1, 2, 3])
    assert upstreams["openai"].last_request()["body"]["prompt"] == [1, 2, 3]


def test_azure_layout_completion(srv, upstreams):
    res = client(srv).completions.create(model="fake-azure", prompt="Hi Azure")
    assert res.choices[0].text.startswith("Completion from my-gpt4o-deployment")
    rec = upstreams["openai"].last_request()
    assert rec["path"] == "/openai/deployments/my-gpt4o-deployment/completions"
    assert rec["query"] == {"api-version": AZURE_VERSION} and rec["headers"]["api-key"] == AZURE_KEY


@pytest.mark.parametrize("model", ["fake-anthropic", "fake-gemini"])
def test_providers_without_completions_get_a_clear_400(srv, upstreams, model):
    with pytest.raises(openai.BadRequestError) as exc:
        client(srv).completions.create(model=model, prompt="x")
    assert "has no legacy text completions endpoint" in str(exc.value)
    assert all(f.requests() == [] for f in upstreams.values())


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "fake-openai"}, "prompt"),
        ({"model": "fake-openai", "prompt": ["a", "b"]}, "prompt"),
        ({"model": "fake-openai", "prompt": "x", "n": 2}, "n"),
        ({"model": "fake-openai", "prompt": "x", "best_of": 3}, "best_of"),
        ({"model": "fake-openai", "prompt": "x", "logprobs": 2}, "logprobs"),
        ({"model": "fake-openai", "prompt": "x", "temperature": 5}, "temperature"),
        ({"model": "fake-openai", "prompt": "x", "bogus": 1}, "bogus"),
    ],
)
def test_bad_completion_bodies_name_the_field(srv, upstreams, body, param):
    status, out, _ = post(srv, "/completions", body)
    assert status == 400 and out["error"]["param"] == param, out
    assert upstreams["openai"].requests() == []


def test_completions_take_a_model_name_not_a_route(srv, upstreams):
    status, out, _ = post(srv, "/completions", {"model": "auto", "prompt": "x"})
    assert status == 400 and "routes chat requests" in out["error"]["message"]
    assert all(f.requests() == [] for f in upstreams.values())


def test_a_fallback_without_completions_is_skipped(start_server, upstreams):
    cfg = fronts_config(upstreams)
    cfg["models"][0]["fallbacks"] = ["fake-anthropic", "fake-azure"]  # fake-openai
    srv = start_server(cfg)
    upstreams["openai"].script({"status": 503})
    raw = client(srv).completions.with_raw_response.create(model="fake-openai", prompt="x")
    assert raw.headers["x-faregate-fallback"] == "fake-azure"
    assert upstreams["anthropic"].requests() == []
