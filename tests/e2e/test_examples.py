"""Every ``examples/*.py`` runs against real fake providers and a real ``faregate serve``, as the
README tells a user to run them, and prints what it promises."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from faregate.testing.webhook_receiver import RECEIVED, WebhookReceiver
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
    "workflow_rollout.py": ["dry run: 30 past requests", "dry run savings: ", "rollout: ", "calibrated models: fake-"],
    "workflow_feedback.py": [
        "answered by: fake-",
        "explicit feedback: accepted=True score=0.2",
        "retried, answered by: fake-",
        "feedback in the log: {",
    ],
    "workflow_alerts_runtime.py": [
        "runtime model answered: Answer from gpt-4o-mini",
        "alerts sent: ['any-spend']",
        "cleaned up",
    ],
}


@pytest.fixture(scope="module")
def alert_hook(server_loop):
    hook = server_loop.run(WebhookReceiver(path="/alerts").start())
    yield hook
    server_loop.run(hook.stop())


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
        if protocol == "openai":
            openai_url = f"http://127.0.0.1:{port}/v1"
    config = tmp / "fake-providers.yaml"
    config.write_text(text)
    gw = ServeProcess(
        ["serve", "--config", str(config)], env={**env, "FAREGATE_DATABASE_URL": f"sqlite:///{tmp / 'log.db'}"}, cwd=tmp
    ).start()
    gw.config_path = config  # library mode (no server) reads the same config
    gw.log_url = f"sqlite:///{tmp / 'log.db'}"  # the calibration of workflow_rollout.py reads it
    gw.openai_url = openai_url  # where workflow_alerts_runtime.py's runtime provider points
    yield gw
    gw.stop()
    for f in fakes:
        f.stop()


def test_every_example_is_covered():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs_and_prints_what_it_promises(gateway, alert_hook, name, tmp_path):
    env = {**clean_env(), "FAREGATE_BASE_URL": gateway.url + "/v1", "FAREGATE_KEY": "fg-demo-key"}
    env["FAREGATE_CONFIG"] = str(gateway.config_path)
    env["FAREGATE_DATABASE_URL"] = f"sqlite:///{gateway.config_path.parent / 'library-log.db'}"  # library mode's log
    if name == "workflow_rollout.py":
        env["FAREGATE_DATABASE_URL"] = gateway.log_url
    env["FAREGATE_MASTER_KEY"] = "fg-demo-master"
    env["FAREGATE_ALERT_WEBHOOK"] = alert_hook.url
    env["FAREGATE_FAKE_OPENAI_URL"] = gateway.openai_url
    run = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr[-2000:]
    for words in EXPECTED[name]:
        assert words in run.stdout, f"{name} did not print {words!r}:\n{run.stdout}"
    if name == "langchain_chat.py":
        assert "answered by:" in run.stdout or "pip install langchain-openai" in run.stdout, run.stdout
    assert os.listdir(tmp_path) == [], f"{name} wrote into its working directory"
    if name == "workflow_alerts_runtime.py":  # the alert reached the webhook
        assert any(b"any-spend" in b for b in alert_hook.app[RECEIVED])


def test_library_mode_is_five_lines_of_real_code():
    """Issue 22: library mode in at most five lines (the docstring, imports and blanks aside)."""
    import ast

    tree = ast.parse((EXAMPLES / "library_mode.py").read_text())
    body = [n for n in tree.body if not isinstance(n, ast.Import | ast.ImportFrom | ast.Expr) or n is tree.body[-1]]
    lines = {ln for n in body for sub in ast.walk(n) if hasattr(sub, "lineno") for ln in [sub.lineno]}
    assert len(lines) <= 5, sorted(lines)
