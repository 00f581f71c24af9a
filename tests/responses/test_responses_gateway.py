"""``/v1/responses`` inside the gateway: stored responses scoped to their key, built-in tools
refused where the upstream lacks them, routing (``auto``, routes), the cache, failover, in-band
stream errors, ``/v1/responses/input_tokens`` (provider or estimate) and bad input."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import openai
import pytest
from responses_support import OTHER_KEY, client, responses_config

from helpers import GATEWAY_KEY

SEARCH = [{"type": "web_search"}]


def raw_post(srv, path: str, body: object, key: str = GATEWAY_KEY) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(
        srv.url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"content-type": "application/json", "authorization": f"Bearer {key}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_stored_responses_are_scoped_to_their_key(srv, upstreams):
    mine, theirs = client(srv), client(srv, OTHER_KEY)
    r = mine.responses.create(model="fake-openai", input="a secret of mine")
    for attempt in (
        lambda: theirs.responses.retrieve(r.id),
        lambda: theirs.responses.delete(r.id),
        lambda: theirs.responses.create(model="fake-openai", previous_response_id=r.id, input="tell me"),
    ):
        with pytest.raises(openai.NotFoundError):
            attempt()
    assert "a secret of mine" not in json.dumps(upstreams["openai"].requests()[1:])  # never sent for them
    assert mine.responses.retrieve(r.id).id == r.id  # the other key's delete removed nothing


@pytest.mark.parametrize("model", ["fake-openai", "fake-anthropic", "fake-gemini", "auto"])
def test_built_in_tools_are_refused_where_the_upstream_lacks_them(srv, upstreams, model):
    with pytest.raises(openai.BadRequestError) as exc:
        client(srv).responses.create(model=model, input="news today?", tools=SEARCH)
    assert exc.value.status_code == 400 and exc.value.body["param"] == "tools"
    assert "web_search" in exc.value.message and "responses_api" in exc.value.message
    assert all(not f.requests() for f in upstreams.values())


def test_built_in_tools_pass_through_where_the_upstream_has_them(srv, upstreams):
    upstreams["openai"].script({"text": "Here is the news."})
    r = client(srv).responses.create(model="fake-openai-responses", input="news today?", tools=SEARCH)
    assert r.output_text == "Here is the news."
    assert upstreams["openai"].last_request()["body"]["tools"] == SEARCH


def test_an_in_band_upstream_error_ends_the_stream_with_error_then_failed(srv, upstreams):
    upstreams["openai"].script(
        {"text": "partial answer here", "chunks": 4, "error_event_after_200": 3, "chunk_gap_ms": 60}
    )
    status, _, raw = raw_post(srv, "/v1/responses", {"model": "fake-openai", "input": "hi", "stream": True})
    assert status == 200
    events = [json.loads(line[6:]) for line in raw.decode().splitlines() if line.startswith("data: ")]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "response.created" and "response.output_text.delta" in kinds
    assert kinds[-2:] == ["error", "response.failed"] and "response.completed" not in kinds
    assert events[-1]["response"]["status"] == "failed" and events[-1]["response"]["error"]["message"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "fake-openai"}, "input"),
        ({"input": "hi"}, "model"),
        ({"model": "fake-openai", "input": 5}, "input"),
        ({"model": "fake-openai", "input": [{"type": "function_call_output", "output": "x"}]}, "input[0].call_id"),
        ({"model": "fake-openai", "input": [{"type": "item_reference", "id": "x"}]}, "input[0].type"),
        ({"model": "fake-openai", "input": "hi", "text": {"format": {"type": "json_schema"}}}, "text.format.name"),
        ({"model": "fake-openai", "input": "hi", "max_output_tokens": 0}, "max_output_tokens"),
        ({"model": "fake-openai", "input": "hi", "tool_choice": {"type": "function"}}, "tool_choice"),
        ({"model": "fake-openai", "input": "hi", "stream": "yes"}, "stream"),
        ({"model": "fake-openai", "input": "hi", "bogus": 1}, "bogus"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(srv, upstreams, body, param):
    status, _, raw = raw_post(srv, "/v1/responses", body)
    err = json.loads(raw)["error"]
    assert status == 400 and err["param"] == param and err["message"], err
    assert not upstreams["openai"].requests()


def test_a_route_and_auto_choose_among_models(srv, upstreams):
    for model in ("auto", "cheap"):
        raw = client(srv).responses.with_raw_response.create(model=model, input="What is 2+2?")
        chosen = raw.headers["x-faregate-model"]
        assert chosen in ({"fake-openai", "fake-gemini"} if model == "cheap" else set(_models(srv)))
        assert raw.parse().model == chosen


def _models(srv) -> list[str]:
    return [m.id for m in client(srv).models.list().data]


def test_input_tokens_from_the_provider_or_the_estimate(srv, upstreams):
    c = client(srv)
    body = {"input": "How many tokens is this?", "instructions": "Count.", "tools": [{"type": "function", "name": "f"}]}
    raw = c.responses.input_tokens.with_raw_response.count(model="fake-openai-responses", **body)
    assert raw.headers["x-faregate-token-count-source"] == "provider"
    req = upstreams["openai"].last_request()
    assert req["path"] == "/v1/responses/input_tokens" and req["body"]["model"] == "gpt-4o-mini"
    counted = {k: req["body"].get(k) for k in ("input", "instructions", "tools")}
    assert raw.parse().input_tokens == len(json.dumps(counted, separators=(",", ":"))) // 4 + 1  # the fake's count
    for model, upstream in (("fake-anthropic", "anthropic"), ("fake-gemini", "gemini")):
        before = len(upstreams[upstream].requests())
        counted_raw = c.responses.input_tokens.with_raw_response.count(model=model, **body)
        assert counted_raw.headers["x-faregate-token-count-source"] == "provider"
        assert "count" in upstreams[upstream].requests()[before]["path"].lower()  # its counting endpoint
        assert counted_raw.parse().input_tokens > 0
    for model in ("fake-openai", "auto"):
        est = c.responses.input_tokens.with_raw_response.count(model=model, **body)
        assert est.headers["x-faregate-token-count-source"] == "estimate"
        assert 5 < est.parse().input_tokens < 60
    longer = c.responses.input_tokens.count(model="fake-openai", input="word " * 400)
    assert longer.input_tokens >= 400  # the estimate grows with the input
    with pytest.raises(openai.NotFoundError):
        c.responses.input_tokens.count(model="no-such-model", input="x")


@pytest.fixture
def cached(start_server, upstreams):
    cfg = responses_config(upstreams, cache={"enabled": True, "layers": ["memory://"]})
    return start_server(cfg)


def test_the_cache_answers_a_repeated_request(cached, upstreams):
    upstreams["anthropic"].script({"text": "cached answer"})
    c = client(cached)
    first = c.responses.with_raw_response.create(model="fake-anthropic", input="same question")
    second = c.responses.with_raw_response.create(model="fake-anthropic", input="same question")
    assert first.headers["x-faregate-cache"] == "miss" and second.headers["x-faregate-cache"] == "hit"
    assert second.parse().output_text == "cached answer" and len(upstreams["anthropic"].requests()) == 1
    assert second.parse().id != first.parse().id  # a new response, storable and continuable on its own
    with c.responses.stream(model="fake-anthropic", input="same question") as s:
        assert s.get_final_response().output_text == "cached answer"
    assert len(upstreams["anthropic"].requests()) == 1


@pytest.fixture
def failing_over(start_server, upstreams):
    cfg = responses_config(upstreams)
    for m in cfg["models"]:
        if m["name"] == "fake-openai-responses":
            m["fallbacks"] = ["fake-anthropic"]
    return start_server(cfg)


@pytest.mark.parametrize("stream", [False, True])
def test_failover_from_a_passed_through_model_to_a_translated_one(failing_over, upstreams, stream):
    upstreams["openai"].script({"status": 500})
    upstreams["anthropic"].script({"text": "answered by the fallback"})
    c = client(failing_over)
    if stream:
        with c.responses.with_streaming_response.create(model="fake-openai-responses", input="hi", stream=True) as raw:
            assert raw.headers["x-faregate-fallback"] == "fake-anthropic"
            text = "".join(
                json.loads(line[6:]).get("delta", "")
                for line in raw.iter_lines()
                if line.startswith("data: ") and '"response.output_text.delta"' in line
            )
    else:
        raw = c.responses.with_raw_response.create(model="fake-openai-responses", input="hi")
        assert raw.headers["x-faregate-fallback"] == "fake-anthropic"
        text = raw.parse().output_text
    assert text == "answered by the fallback"
    assert upstreams["openai"].last_request()["path"] == "/v1/responses"
    assert "hi" in json.dumps(upstreams["anthropic"].last_request()["body"]["messages"])


def test_an_unreachable_store_is_a_503_and_still_answers_what_needs_no_history(start_server, upstreams):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    srv = start_server(responses_config(upstreams, database_url=f"postgresql://postgres@127.0.0.1:{port}/none"))
    c = client(srv)
    with pytest.raises(openai.InternalServerError) as exc:
        c.responses.create(model="fake-openai", previous_response_id="resp_x", input="more")
    assert exc.value.status_code == 503 and exc.value.body["code"] == "store_unavailable"
    upstreams["openai"].script({"text": "still answered"})
    assert c.responses.create(model="fake-openai", input="hi").output_text == "still answered"  # storing it failed
    with pytest.raises(openai.InternalServerError):
        c.responses.retrieve("resp_x")


def test_stored_responses_outlive_the_gateway(start_server, upstreams, tmp_path):
    cfg = responses_config(upstreams, database_url=f"sqlite:///{tmp_path / 'kept.db'}")
    first = start_server(cfg)
    upstreams["gemini"].script({"text": "remembered"})
    rid = client(first).responses.create(model="fake-gemini", input="Remember me").id
    first.stop()
    second = start_server(cfg)  # a new process-alike on the same database
    assert client(second).responses.retrieve(rid).output_text == "remembered"
    upstreams["gemini"].script({"text": "continued"})
    assert (
        client(second).responses.create(model="fake-gemini", previous_response_id=rid, input="go on").output_text
        == "continued"
    )
    assert "Remember me" in json.dumps(upstreams["gemini"].last_request()["body"])
