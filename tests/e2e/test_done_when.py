"""The gateway core end to end: ``faregate fake-provider --protocol anthropic`` and ``faregate serve
--config examples/fake-providers.yaml`` as real processes, and the official openai SDK streams a
tool call from ``fake-anthropic`` through faregate, with usage and cost right."""

from __future__ import annotations

import json
import socket

import openai
import pytest
import yaml

from helpers import REPO, ServeProcess, clean_env, free_port, http_json

EXAMPLE = REPO / "examples" / "fake-providers.yaml"


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def test_openai_sdk_streams_a_tool_call_from_fake_anthropic(tmp_path):
    example = yaml.safe_load(EXAMPLE.read_text())
    anthropic_model = next(m for m in example["models"] if m["name"] == "fake-anthropic")
    config = EXAMPLE
    fake_port = 9102
    if not port_free(fake_port):  # the default port is taken on this machine: same file, another port
        fake_port = free_port()
        config = tmp_path / "fake-providers.yaml"
        config.write_text(EXAMPLE.read_text().replace("127.0.0.1:9102", f"127.0.0.1:{fake_port}"))
    env = clean_env()
    fake = ServeProcess(
        ["fake-provider", "--protocol", "anthropic"],
        port=fake_port,
        env=env,
        ready_path="/_fake/requests",
        cwd=tmp_path,
    ).start()
    gw = ServeProcess(["serve", "--config", str(config)], env=env, cwd=tmp_path).start()
    try:
        http_json(
            "POST",
            f"{fake.url}/_fake/script",
            [
                {
                    "tool_call": {"name": "get_weather", "arguments": '{"city": "Lisbon"}'},
                    "usage": {"input_tokens": 321, "output_tokens": 45},
                }
            ],
        )
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key="fg-demo-key", max_retries=0, timeout=10)
        tools = [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                },
            }
        ]
        stream = client.chat.completions.create(
            model="fake-anthropic",
            stream=True,
            stream_options={"include_usage": True},
            tools=tools,
            messages=[{"role": "system", "content": "Use tools."}, {"role": "user", "content": "Weather in Lisbon?"}],
        )
        chunks = list(stream)
        calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
        assert calls[0].function.name == "get_weather" and calls[0].id
        assert json.loads("".join(tc.function.arguments or "" for tc in calls)) == {"city": "Lisbon"}
        assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
            "tool_calls"
        ]
        usage = chunks[-1].usage
        assert (usage.prompt_tokens, usage.completion_tokens) == (321, 45)
        p = anthropic_model["prices"]
        assert usage.model_extra["cost_usd"] == pytest.approx((321 * p["input"] + 45 * p["output"]) / 1e6, rel=1e-6)

        (rec,) = http_json("GET", f"{fake.url}/_fake/requests")["requests"]
        assert rec["path"] == "/v1/messages" and rec["body"]["model"] == anthropic_model["model"]
        assert rec["body"]["system"] and rec["body"]["stream"] is True
        assert rec["headers"]["x-api-key"] == "fake-anthropic-key"  # from the config's ${...:-default}
        assert "fg-demo-key" not in json.dumps(rec["headers"])
    finally:
        gw.stop()
        fake.stop()
