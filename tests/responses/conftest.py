"""Fixtures of the Responses API tests: one faregate per module serving ``fake-openai-responses``
(the fake OpenAI with ``responses_api: true``: passed through), ``fake-openai`` (the same fake,
chat only: translated), ``fake-anthropic`` and ``fake-gemini`` (translated), two gateway keys,
and its request log (and stored responses) in a temporary SQLite file (``responses_support``)."""

from __future__ import annotations

import pytest
from responses_support import responses_config

from helpers import InProcessServer


@pytest.fixture(scope="module")
def resp_server(server_loop, _session_upstreams, tmp_path_factory):
    db = tmp_path_factory.mktemp("responses") / "log.db"
    srv = InProcessServer(server_loop, responses_config(_session_upstreams, database_url=f"sqlite:///{db}")).start()
    yield srv
    srv.stop()


@pytest.fixture
def srv(resp_server, upstreams) -> InProcessServer:
    return resp_server
