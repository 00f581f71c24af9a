"""Every ``examples/*.py`` runs against real fake providers and a real ``faregate serve``, as the
README tells a user to run them, and prints what it promises."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from helpers import REPO, ServeProcess, clean_env, free_port

EXAMPLES = REPO / "examples"
DEFAULT_PORTS = {"openai": 9101, "anthropic": 9102, "gemini": 9103}

# What each example must print (a missing example fails the test: every script is covered).
EXPECTED = {
    "hello.py": ["| answered by fake-"],
    "constraints.py": ["answer:", "x-faregate-route:", "auto", "x-faregate-model:", "x-faregate-cost-usd:"],
    "feedback.py": ["answer:", "feedback: 200"],
    "embeddings.py": ["fake-embed: 2 vectors of 4", "fake-gemini-embed: 2 vectors of 4", "completion: Completion from"],
    "library_mode.py": ["library mode:", "| answered by "],
    "langchain_chat.py": [],  # checked below: an answer, or the install hint when LangChain is absent
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("examples")
    env = clean_env()
    fakes = []
    text = (EXAMPLES / "fake-providers.yaml").read_text()
    for protocol, default in DEFAULT_PORTS.items():
        port = free_port()
        fakes.append(
            ServeProcess(
                ["fake-provider", "--protocol", protocol], port=port, env=env, ready_path="/_fake/requests", cwd=tmp
            ).start()
        )
        text = text.replace(f"127.0.0.1:{default}", f"127.0.0.1:{port}")
    config = tmp / "fake-providers.yaml"
    config.write_text(text)
    gw = ServeProcess(
        ["serve", "--config", str(config)], env={**env, "FAREGATE_DATABASE_URL": f"sqlite:///{tmp / 'log.db'}"}, cwd=tmp
    ).start()
    gw.config_path = config  # library mode (no server) reads the same config
    yield gw
    gw.stop()
    for f in fakes:
        f.stop()


def test_every_example_is_covered():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs_and_prints_what_it_promises(gateway, name, tmp_path):
    env = {**clean_env(), "FAREGATE_BASE_URL": gateway.url + "/v1", "FAREGATE_KEY": "fg-demo-key"}
    env["FAREGATE_CONFIG"] = str(gateway.config_path)
    env["FAREGATE_DATABASE_URL"] = f"sqlite:///{gateway.config_path.parent / 'library-log.db'}"  # library mode's log
    run = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr[-2000:]
    for words in EXPECTED[name]:
        assert words in run.stdout, f"{name} did not print {words!r}:\n{run.stdout}"
    if name == "langchain_chat.py":
        assert "answered by:" in run.stdout or "pip install langchain-openai" in run.stdout, run.stdout
    assert os.listdir(tmp_path) == [], f"{name} wrote into its working directory"
