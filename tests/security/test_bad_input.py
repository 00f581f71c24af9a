"""Bad input against a real ``faregate serve`` process: each gets its 4xx in OpenAI's error
envelope with a message that says what to fix, memory stays bounded, and the server keeps serving."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson
import pytest

from helpers import GATEWAY_KEY, ServeProcess, clean_env, free_port

AUTH = {"authorization": f"Bearer {GATEWAY_KEY}", "content-type": "application/json"}
MODELS = ("alpha", "beta")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """faregate with two models whose upstream is a closed port (bad input never gets that far)."""
    tmp = tmp_path_factory.mktemp("bad-input")
    dead = free_port()
    models = "\n".join(
        f"""  - name: {m}
    provider: openai
    base_url: http://127.0.0.1:{dead}/v1
    api_key: sk-never-shown-123456
    max_attempts: 1
    timeouts: {{connect: 1, ttfb: 2, idle: 2, total: 3}}"""
        for m in MODELS
    )
    cfg = tmp / "faregate.yaml"
    cfg.write_text(f"keys: [{{key: {GATEWAY_KEY}}}]\nlearning: {{enabled: false}}\nmodels:\n{models}\n")
    srv = ServeProcess(["serve", "--config", str(cfg)], env=clean_env(), cwd=tmp).start()
    yield srv
    srv.stop()


async def post(url: str, data, headers=AUTH) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as s:
        async with s.post(url + "/v1/chat/completions", data=data, headers=headers) as r:
            return r.status, orjson.loads(await r.read())


def envelope(body: dict) -> dict:
    """The OpenAI error envelope, checked for shape."""
    assert set(body) == {"error"}, body
    err = body["error"]
    assert set(err) == {"message", "type", "param", "code"}, err
    assert isinstance(err["message"], str) and len(err["message"]) > 10
    return err


async def still_serving(srv: ServeProcess) -> None:
    """The process is alive, lists its models, and takes a well-formed request all the way to
    the upstream call (which fails with 502 here: the upstream port is closed)."""
    assert srv.proc.poll() is None
    async with aiohttp.ClientSession() as s:
        async with s.get(srv.url + "/v1/models", headers=AUTH) as r:
            assert r.status == 200
            assert [m["id"] for m in (await r.json())["data"]][:2] == list(MODELS)
    status, body = await post(
        srv.url, orjson.dumps({"model": "alpha", "messages": [{"role": "user", "content": "hi"}]})
    )
    assert status == 502 and envelope(body)["code"] in ("upstream_error", "upstream_unavailable")
    assert "sk-never-shown" not in orjson.dumps(body).decode()


GOOD = {"model": "alpha", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    "raw,param,words",
    [
        (b'{"model": "alpha", "messages": [', None, "not valid JSON"),
        (b'{"model": "alpha", "messages": [{"role": "user", "content": "\xff\xfe"}]}', None, "UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, None, "nested too deeply"),
        (b"", None, "empty"),
        (b"[1, 2]", None, "JSON object"),
        (orjson.dumps({**GOOD, "messages": "hi"}), "messages", "expected an array"),
        (orjson.dumps({**GOOD, "messages": []}), "messages", "at least one message"),
        (orjson.dumps({**GOOD, "temperature": "hot"}), "temperature", "expected a number"),
        (orjson.dumps({**GOOD, "max_tokens": 1.5}), "max_tokens", "integer"),
        (orjson.dumps({**GOOD, "stream": "yes"}), "stream", "true or false"),
        (orjson.dumps({**GOOD, "messages": [{"role": "user", "content": 5}]}), "messages[0].content", "string"),
        (orjson.dumps({**GOOD, "messages": [{"role": "robot", "content": "x"}]}), "messages[0].role", "robot"),
        (
            orjson.dumps({**GOOD, "tools": [{"type": "function", "function": {"name": ""}}]}),
            "tools[0].function.name",
            "name",
        ),
        (orjson.dumps({"messages": GOOD["messages"]}), "model", "model"),
    ],
    ids=[
        "truncated-json",
        "invalid-utf8",
        "deeply-nested",
        "empty-body",
        "not-an-object",
        "messages-a-string",
        "messages-empty",
        "temperature-a-string",
        "max_tokens-a-float",
        "stream-a-string",
        "content-a-number",
        "unknown-role",
        "tool-without-name",
        "no-model",
    ],
)
async def test_each_bad_body_gets_a_400_that_names_the_fault(server, raw, param, words):
    status, body = await post(server.url, raw)
    assert status == 400, body
    err = envelope(body)
    assert err["type"] == "invalid_request_error"
    assert err["param"] == param
    assert words.lower() in err["message"].lower(), err["message"]


async def test_a_body_that_is_not_json_under_another_content_type_says_what_to_send(server):
    form = {**AUTH, "content-type": "application/x-www-form-urlencoded"}
    for headers in (form, {**AUTH, "content-type": "text/plain"}):
        status, body = await post(server.url, b"model=alpha&messages=hi", headers=headers)
        assert status == 400, body
        err = envelope(body)
        assert "not valid JSON" in err["message"] and "Content-Type: application/json" in err["message"]
    # curl -d sends a JSON body form-encoded: it is read as JSON (and reaches the closed upstream)
    status, body = await post(server.url, orjson.dumps(GOOD), headers=form)
    assert status == 502, body
    status, body = await post(server.url, b"{oops", headers={**AUTH, "content-type": "application/json; charset=utf-8"})
    assert status == 400 and "Content-Type" not in envelope(body)["message"]


async def test_unknown_model_is_a_404_listing_the_valid_ones(server):
    status, body = await post(server.url, orjson.dumps({**GOOD, "model": "gpt-9"}))
    assert status == 404
    err = envelope(body)
    assert err["code"] == "model_not_found" and err["param"] == "model"
    assert "gpt-9" in err["message"] and all(m in err["message"] for m in MODELS)


async def test_missing_or_unknown_key_is_401_and_the_key_is_never_echoed(server):
    status, body = await post(server.url, orjson.dumps(GOOD), headers={"content-type": "application/json"})
    assert status == 401 and envelope(body)["code"] == "invalid_api_key"
    assert "Authorization" in body["error"]["message"]
    wrong = "sk-wrong-key-0123456789abcdef"
    for headers in ({"authorization": f"Bearer {wrong}"}, {"x-api-key": wrong}):
        status, body = await post(
            server.url, orjson.dumps(GOOD), headers={**headers, "content-type": "application/json"}
        )
        assert status == 401 and envelope(body)["code"] == "invalid_api_key"
        assert wrong not in orjson.dumps(body).decode() and "0123456789" not in orjson.dumps(body).decode()


async def test_oversized_body_is_413_whether_or_not_its_length_is_announced(server):
    big = b'{"model": "alpha", "messages": [{"role": "user", "content": "' + b"x" * (9 * 1024 * 1024) + b'"}]}'
    status, body = await post(server.url, big)
    assert status == 413
    err = envelope(body)
    assert err["code"] == "request_too_large" and "max_body_bytes" in err["message"]

    async def chunks():  # no Content-Length: the limit must hold while reading too
        for _ in range(10):
            yield b"x" * (1024 * 1024)

    status, body = await post(server.url, chunks())
    assert status == 413 and envelope(body)["code"] == "request_too_large"
    await still_serving(server)


async def test_hundred_thousand_messages_are_refused_and_memory_stays_bounded(server):
    await still_serving(server)
    before = server.rss_kib()
    huge = orjson.dumps({**GOOD, "messages": [{"role": "user", "content": "x"}] * 100_000})
    nested = b"[" * 200_000 + b"]" * 200_000
    for _ in range(3):
        status, body = await post(server.url, huge)
        assert status == 400
        err = envelope(body)
        assert err["param"] == "messages" and "too many" in err["message"]
        status, _ = await post(server.url, nested)
        assert status == 400
    await asyncio.sleep(0.2)
    grew_mib = (server.rss_kib() - before) / 1024
    assert grew_mib < 48, f"RSS grew by {grew_mib:.1f} MiB"
    await still_serving(server)


async def test_the_body_limit_is_configurable(start_server):
    srv = start_server(
        {
            "server": {"max_body_bytes": 2048},
            "learning": {"enabled": False},
            "models": [{"name": "alpha", "base_url": "http://127.0.0.1:9/v1"}],
        }
    )
    status, body = await post(srv.url, orjson.dumps({**GOOD, "messages": [{"role": "user", "content": "y" * 4096}]}))
    assert status == 413 and "2048" in envelope(body)["message"]
    status, body = await post(srv.url, orjson.dumps({**GOOD, "model": "nope"}))
    assert status == 404  # a small body still goes through


async def test_without_config_or_credentials_serve_starts_empty_and_says_how_to_add_a_model(tmp_path):
    srv = ServeProcess(["serve"], env=clean_env(), cwd=tmp_path).start()
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(srv.url + "/v1/models") as r:
                assert r.status == 200
                assert (await r.json()) == {"object": "list", "data": []}
        status, body = await post(
            srv.url, orjson.dumps({**GOOD, "model": "gpt-4o"}), headers={"content-type": "application/json"}
        )
        assert status == 404
        err = envelope(body)
        assert err["code"] == "model_not_found" and "models:" in err["message"] and "--config" in err["message"]
    finally:
        srv.stop()
