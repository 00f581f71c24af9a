"""An embeddings request's trace says what it was (GenAI ``embeddings`` operation), and never
carries the vectors even with content capture on."""

from __future__ import annotations

import openai
import pytest

from faregate.testing import OtlpReceiver
from helpers import GATEWAY_KEY

from .fronts_config import fronts_config


@pytest.fixture
def receiver(server_loop):
    rx = server_loop.run(OtlpReceiver().start())
    yield rx
    server_loop.run(rx.stop())


def test_embeddings_trace(start_server, upstreams, receiver, server_loop):
    tracing = {"enabled": True, "otlp_endpoint": receiver.endpoint, "capture_content": True}
    srv = start_server(fronts_config(upstreams, tracing=tracing))
    client = openai.OpenAI(base_url=srv.base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=10)
    client.embeddings.create(model="fake-embed", input="trace this text", encoding_format="float")
    assert srv.gateway.services.tracing.flush()
    spans = server_loop.run(receiver.wait_for(2))
    root = next(s for s in spans if s["kind"] == "server")
    assert root["name"] == "embeddings fake-embed"
    a = root["attributes"]
    assert a["gen_ai.operation.name"] == "embeddings" and a["gen_ai.usage.output_tokens"] == 0
    assert a["gen_ai.input.messages"] == "trace this text" and "gen_ai.output.messages" not in a
    attempt = next(s for s in spans if s["kind"] == "client")
    assert attempt["name"] == "embeddings fake-embed"
    assert attempt["attributes"]["gen_ai.operation.name"] == "embeddings"
