"""Fixtures of the Responses API tests: one faregate per module serving ``fake-openai-responses``
(the fake OpenAI with ``responses_api: true``: passed through), ``fake-openai`` (the same fake,
chat only: translated), ``fake-anthropic`` and ``fake-gemini`` (translated), two gateway keys,
and its request log (and stored responses) in a temporary SQLite file."""

from __future__ import annotations

import copy

import openai
import pytest

from helpers import GATEWAY_KEY, InProcessServer, fake_config

OTHER_KEY = "fg-test-other-key"
# (model name, the fake that serves it, the path the fake must see)
MODELS = [
    ("fake-openai-responses", "openai", "/v1/responses"),
    ("fake-openai", "openai", "/v1/chat/completions"),
    ("fake-anthropic", "anthropic", "/v1/messages"),
    ("fake-gemini", "gemini", None),
]


def responses_config(upstreams, **extra) -> dict:
    cfg = fake_config(upstreams, keys=[GATEWAY_KEY, OTHER_KEY], **extra)
    passthrough = copy.deepcopy(next(m for m in cfg["models"] if m["name"] == "fake-openai"))
    passthrough.update(name="fake-openai-responses", responses_api=True)
    cfg["models"].append(passthrough)
    cfg.setdefault("routes", [{"name": "cheap", "candidates": ["fake-openai", "fake-gemini"]}])
    return cfg


@pytest.fixture(scope="module")
def resp_server(server_loop, _session_upstreams, tmp_path_factory):
    db = tmp_path_factory.mktemp("responses") / "log.db"
    srv = InProcessServer(server_loop, responses_config(_session_upstreams, database_url=f"sqlite:///{db}")).start()
    yield srv
    srv.stop()


@pytest.fixture
def srv(resp_server, upstreams) -> InProcessServer:
    return resp_server


def client(srv, key: str = GATEWAY_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.base_url, api_key=key, max_retries=0, timeout=15)
