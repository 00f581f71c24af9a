"""Shared fixtures: fake providers and a faregate server on loopback (see ``tests/helpers.py``).

- ``server_loop``: one background event loop for the whole session; servers live on it.
- ``upstreams``: ``{"openai": Fake, "anthropic": Fake, "gemini": Fake}``, one fake provider per
  protocol for the session, reset (script and request log cleared) before each test.
- ``faregate_server``: faregate serving ``fake-openai``, ``fake-anthropic`` and ``fake-gemini``
  from those fakes (``helpers.fake_config``), keys ``[helpers.GATEWAY_KEY]``; ``.base_url`` is
  what an OpenAI SDK takes.
- ``start_server``: start another in-process faregate from a config dict (stopped after the test).

Request logs go to temporary SQLite files, never into the working tree.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile

import pytest
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir

from helpers import PROTOCOLS, Fake, InProcessServer, LoopThread, fake_config, start_fake

# Hypothesis keeps its files (.hypothesis/) in a temporary folder, not the working tree, and no
# example database: a saved example from an earlier run would make a property test depend on it.
_HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="faregate-hypothesis-")
atexit.register(shutil.rmtree, _HYPOTHESIS_HOME, True)
set_hypothesis_home_dir(_HYPOTHESIS_HOME)
settings.register_profile("faregate", database=None)
settings.load_profile("faregate")


@pytest.fixture(scope="session")
def server_loop():
    lt = LoopThread()
    yield lt
    lt.stop()


@pytest.fixture(scope="session")
def _session_upstreams(server_loop):
    try:
        import faregate.testing as testing

        testing.FakeProvider  # noqa: B018
    except (ImportError, AttributeError):
        pytest.skip("faregate.testing.FakeProvider is not available")
    started: list = []
    fakes: dict[str, Fake] = {}
    for p in PROTOCOLS:
        provider, fake = server_loop.run(start_fake(p))
        started.append(provider)
        fakes[p] = fake
    yield fakes
    for provider in reversed(started):
        server_loop.run(provider.__aexit__(None, None, None))


@pytest.fixture
def upstreams(_session_upstreams) -> dict[str, Fake]:
    for f in _session_upstreams.values():
        f.reset()
    return _session_upstreams


@pytest.fixture(scope="session")
def _session_server(server_loop, _session_upstreams, tmp_path_factory):
    log_db = tmp_path_factory.mktemp("faregate-log") / "log.db"
    srv = InProcessServer(server_loop, fake_config(_session_upstreams, database_url=f"sqlite:///{log_db}")).start()
    yield srv
    srv.stop()


@pytest.fixture
def faregate_server(_session_server, upstreams) -> InProcessServer:
    return _session_server


@pytest.fixture
def start_server(server_loop, tmp_path):
    servers: list[InProcessServer] = []

    def _start(config) -> InProcessServer:
        if isinstance(config, dict) and "database_url" not in config:  # the request log goes to tmp_path
            config = {**config, "database_url": f"sqlite:///{tmp_path / f'log{len(servers)}.db'}"}
        srv = InProcessServer(server_loop, config).start()
        servers.append(srv)
        return srv

    yield _start
    for s in servers:
        s.stop()
