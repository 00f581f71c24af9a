"""``faregate cluster`` without a running cluster, and with bad input: clear errors, nothing left behind."""

from __future__ import annotations

import os
import subprocess
import sys


def _cluster(*args: str, tmp_path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "faregate", "cluster", *args, "--state-dir", str(tmp_path / "state")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "FAREGATE_CONFIG": ""},
    )


def test_down_and_status_without_a_cluster(tmp_path):
    down = _cluster("down", tmp_path=tmp_path)
    assert down.returncode == 0 and "no cluster running" in down.stdout
    status = _cluster("status", tmp_path=tmp_path)
    assert status.returncode != 0 and "no cluster running" in status.stderr


def test_up_with_a_bad_config_starts_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [{name: x, provider: nope}]\n")
    up = _cluster("up", "--replicas", "2", "--config", str(bad), tmp_path=tmp_path)
    assert up.returncode != 0 and "models.0.provider" in up.stderr
    assert not (tmp_path / "state" / "cluster.json").exists()
    assert not list((tmp_path / "state").glob("replica-*.log"))
