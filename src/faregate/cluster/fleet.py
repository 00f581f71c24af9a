"""Replica processes of ``faregate cluster``: start, wait until ready, stop with a drain.

Each replica is ``python -m faregate serve`` on a free loopback port with
``FAREGATE_REPLICA_ID=replica-<n>``, its own session (so it outlives the ``cluster up`` that
started it) and its output in ``<state>/replica-<n>.log``. What is running is recorded in
``<state>/cluster.json``, which ``cluster down`` and ``cluster restart`` read.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..core.command_error import CommandError

STATE_FILE = "cluster.json"


def default_state_dir() -> Path:
    """``$XDG_RUNTIME_DIR/faregate/cluster``, else ``~/.cache/faregate/cluster``."""
    run = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(run) / "faregate" if run else Path.home() / ".cache" / "faregate"
    return base / "cluster"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Replica:
    id: str
    port: int
    pid: int = 0
    log: str = ""


@dataclass
class ClusterState:
    replicas: list[Replica] = field(default_factory=list)
    balancer_port: int = 0
    config: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.balancer_port}"

    def save(self, state: Path) -> None:
        (state / STATE_FILE).write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")

    @classmethod
    def load(cls, state: Path) -> ClusterState | None:
        path = state / STATE_FILE
        if not path.exists():
            return None
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls([Replica(**r) for r in raw["replicas"]], raw["balancer_port"], raw.get("config"))


def alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own child not yet reaped) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def start_replica(state: Path, replica: Replica, config: str | None) -> None:
    """Start one replica in its own session, output appended to its log file."""
    replica.log = str(state / f"{replica.id}.log")
    env = {**os.environ, "FAREGATE_REPLICA_ID": replica.id}
    args = [sys.executable, "-m", "faregate", "serve", "--host", "127.0.0.1", "--port", str(replica.port)]
    if config:
        args += ["--config", config]
    with open(replica.log, "ab") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True)
    replica.pid = proc.pid


def wait_ready(replica: Replica, deadline: float) -> None:
    """Poll ``/health/live`` until it answers; a ``CommandError`` with the log's tail if it died."""
    url = f"http://127.0.0.1:{replica.port}/health/live"
    while True:
        if not alive(replica.pid):
            tail = Path(replica.log).read_text(errors="replace")[-1500:] if replica.log else ""
            raise CommandError(f"{replica.id} exited while starting; its log ({replica.log}) ends:\n{tail}")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            if time.monotonic() > deadline:
                raise CommandError(
                    f"{replica.id} did not answer on port {replica.port} in time; see {replica.log}."
                ) from None
            time.sleep(0.1)


def stop_replica(replica: Replica, timeout: float = 60.0) -> None:
    """SIGTERM (a graceful drain), then SIGKILL if it is still there after ``timeout``."""
    if not alive(replica.pid):
        return
    os.kill(replica.pid, signal.SIGTERM)
    end = time.monotonic() + timeout
    while alive(replica.pid):
        if time.monotonic() > end:
            os.kill(replica.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    _reap(replica.pid)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child: init reaps it
