"""Fixtures: ``dash``, a faregate with the dashboard on; ``client``, a factory of logged-out
``DashClient`` (one cookie jar each), closed after the test (see ``dash_harness``)."""

from __future__ import annotations

import pytest
from dash_harness import DashClient, dashboard_config

from helpers import InProcessServer


@pytest.fixture
def dash(start_server, upstreams, tmp_path) -> InProcessServer:
    return start_server(dashboard_config(upstreams, tmp_path))


@pytest.fixture
async def client(dash):
    made: list[DashClient] = []

    def _make() -> DashClient:
        c = DashClient(dash.url)
        made.append(c)
        return c

    yield _make
    for c in made:
        await c.close()
