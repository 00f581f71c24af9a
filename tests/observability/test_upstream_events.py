"""Upstream failures and breaker transitions are logged (and counted) at the instant they
happen, before the request that caused them returns: no poll stands between them."""

from __future__ import annotations

import asyncio
import logging

import pytest
from tests.helpers import UPSTREAM_KEYS, fake_config

from faregate.config import GatewayConfig
from faregate.core.errors import GatewayError
from faregate.pipeline.gateway import Gateway

MSG = {"model": "fake-openai", "messages": [{"role": "user", "content": "hi"}]}


def _upstream_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "faregate.upstream"]


async def test_failure_and_breaker_open_logged_before_the_request_returns(upstreams, caplog):
    cfg = fake_config({"openai": upstreams["openai"]}, keys=[], database_url="", metrics={"enabled": True})
    cfg["models"][0]["breaker"] = {"failure_threshold": 1, "cooldown_s": 0.2, "success_threshold": 1}
    async with Gateway(GatewayConfig.model_validate(cfg)) as gw:
        with caplog.at_level(logging.INFO, logger="faregate.upstream"):
            upstreams["openai"].script({"status": 500, "error_message": "boom " + UPSTREAM_KEYS["openai"]})
            with pytest.raises(GatewayError):
                await gw.chat(MSG)
            # Read at once, with no await in between: the lines were written while the request ran.
            lines = _upstream_lines(caplog)
            assert len(lines) == 2, lines
            assert lines[0].startswith("upstream failure: deployment fake-openai#0 (transient")
            assert "boom" in lines[0] and UPSTREAM_KEYS["openai"] not in lines[0]
            assert lines[1] == "breaker closed -> open: deployment fake-openai#0 (model fake-openai)"
            m = gw.services.metrics
            assert m is not None
            assert m.upstream_failures.data == {("fake-openai#0", "openai", "transient"): 1.0}
            assert m.breaker_transitions.data == {("fake-openai#0", "closed", "open"): 1.0}

            caplog.clear()
            await asyncio.sleep(0.25)  # the cooldown passes; the next request probes and closes it
            await gw.chat(MSG)
            assert _upstream_lines(caplog) == [
                "breaker open -> half_open: deployment fake-openai#0 (model fake-openai)",
                "breaker half_open -> closed: deployment fake-openai#0 (model fake-openai)",
            ]
            assert m.breaker_transitions.data[("fake-openai#0", "half_open", "closed")] == 1.0
            open_level = next(r for r in caplog.records if "half_open -> closed" in r.getMessage()).levelno
            assert open_level == logging.INFO


async def test_a_kept_deployment_reports_to_the_new_snapshot(upstreams, caplog):
    """A config swap keeps the deployment (and its breaker): its events still arrive, once each."""
    cfg = fake_config({"openai": upstreams["openai"]}, keys=[], database_url="")
    cfg["models"][0]["breaker"] = {"failure_threshold": 1, "cooldown_s": 30}
    async with Gateway(GatewayConfig.model_validate(cfg)) as gw:
        await gw.swap(GatewayConfig.model_validate({**cfg, "routes": [{"name": "r", "candidates": ["fake-openai"]}]}))
        with caplog.at_level(logging.INFO, logger="faregate.upstream"):
            upstreams["openai"].script({"status": 503})
            with pytest.raises(GatewayError):
                await gw.chat(MSG)
            lines = _upstream_lines(caplog)
        assert [line.split(":")[0] for line in lines] == ["upstream failure", "breaker closed -> open"]
