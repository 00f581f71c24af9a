"""The compiled config snapshot: swapped atomically, never mutated, live deployment state kept."""

from __future__ import annotations

import pytest

from faregate.config import load_config
from faregate.core.errors import ModelNotFound
from faregate.pipeline.gateway import Gateway
from faregate.testing import FakeProvider


def _config(url: str, *names: str):
    return load_config(
        env={},
        overrides={
            "database_url": "",
            "models": [{"name": n, "provider": "openai", "base_url": url, "api_key": "sk-x"} for n in names],
        },
    )


async def test_swap_serves_the_new_models_and_keeps_what_a_running_stream_started_on():
    async with FakeProvider("openai", port=0) as fake:
        gw = Gateway(_config(fake.base_url, "a"))
        async with gw:
            first = gw.runtime
            stream = gw.stream({"model": "a", "messages": [{"role": "user", "content": "hi"}]})
            got = [await stream.__anext__()]  # the stream is open on snapshot 1
            new = await gw.swap(_config(fake.base_url, "a", "b"))
            assert new.version == first.version + 1 and gw.runtime is new
            assert first.model("b") is None  # the old snapshot is unchanged
            async for ev in stream:
                got.append(ev)
            assert got, "the running stream finished on the snapshot it started with"
            reply = await gw.chat({"model": "b", "messages": [{"role": "user", "content": "hi"}]})
            assert reply.content
            await gw.swap(_config(fake.base_url, "b"))
            with pytest.raises(ModelNotFound):
                await gw.chat({"model": "a", "messages": [{"role": "user", "content": "hi"}]})


async def test_unchanged_deployments_keep_their_live_state_across_a_swap():
    gw = Gateway(_config("http://127.0.0.1:9", "a", "b"))
    dep_a = gw.registry.deployments("a")[0]
    dep_a.ttft_ewma_ms = 123.0
    changed = load_config(
        env={},
        overrides={
            "database_url": "",
            "models": [
                {"name": "a", "provider": "openai", "base_url": "http://127.0.0.1:9", "api_key": "sk-x"},
                {"name": "b", "provider": "openai", "base_url": "http://127.0.0.1:10", "api_key": "sk-x"},
            ],
        },
    )
    old_b = gw.registry.deployments("b")[0]
    await gw.swap(changed)
    assert gw.registry.deployments("a")[0] is dep_a and dep_a.ttft_ewma_ms == 123.0
    assert gw.registry.deployments("b")[0] is not old_b  # its endpoint changed: fresh state


async def test_the_request_log_is_a_service_a_swap_does_not_close(tmp_path):
    async with FakeProvider("openai", port=0) as fake:
        cfg = _config(fake.base_url, "a").model_copy(update={"database_url": f"sqlite:///{tmp_path / 'log.db'}"})
        gw = Gateway(cfg)
        async with gw:
            await gw.chat({"model": "a", "messages": [{"role": "user", "content": "one"}]})
            await gw.swap(cfg.model_copy(update={"models": [*cfg.models]}))
            await gw.chat({"model": "a", "messages": [{"role": "user", "content": "two"}]})
            writer = gw.services.request_log
            assert writer is not None
            assert not writer._closed, "the old snapshot's log step must not close the shared writer"
            await writer.flush()
            assert writer.dropped == 0
            rows = await writer.db.fetch("SELECT id FROM request_log")
            assert len(rows) == 2, "both requests logged, before and after the swap"
