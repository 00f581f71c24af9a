"""``faregate serve`` loads numpy with one BLAS thread (the operator's own setting wins): BLAS
worker threads only contend with the event loop over the router's one small product per request."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from helpers import clean_env

PROBE = """
import os, sys
from faregate.cli import main
main.get_command(None, sys.argv[1])  # loads the command's modules as the CLI does
import numpy
numpy.zeros(1)  # loads numpy (and its BLAS pool) even if a module registered it to load lazily
print(os.environ.get("OPENBLAS_NUM_THREADS"), len(os.listdir("/proc/self/task")))
"""


def _probe(command: str, **env: str) -> tuple[str, int]:
    base = {k: v for k, v in clean_env().items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, command], env={**base, **env}, capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(not os.path.isdir("/proc/self/task") or (os.cpu_count() or 1) < 2, reason="Linux, 2+ cores")
def test_serve_runs_numpy_on_one_blas_thread() -> None:
    var, threads = _probe("serve")
    assert var == "1"
    # Any other command keeps numpy's default pool (one worker per further core): more threads.
    assert _probe("eval")[1] > threads


def test_the_operators_blas_setting_wins() -> None:
    assert _probe("serve", OPENBLAS_NUM_THREADS="2")[0] == "2"
