"""``faregate serve --workers N``: N processes pre-forked on one listening socket.

The parent binds the socket (a taken port fails there, with the single-process error), then
forks the workers one at a time: each builds its own gateway after the fork (no event loop,
thread or connection is shared) and serves the inherited socket; the kernel hands each new
connection to whichever worker accepts it first. The next worker is forked only once the one
before says it is serving, so database migrations never run in two processes at once, and a
worker that cannot start stops the whole start with its error.

The parent then only supervises: SIGTERM or SIGINT is passed on to every worker as SIGTERM
(each drains as a single process does; a second signal hurries them), and when one worker
exits on its own the others are stopped and the parent exits non-zero, for the supervisor
above (systemd, Kubernetes) to restart the set. Workers ignore SIGINT: a terminal's Ctrl-C
reaches the parent, which passes it on once.

What each worker keeps in memory is its own: circuit breakers, in-memory caches, the router's
online corrections between syncs. Limits must be shared (``workers_problem``); the request log
is written by every worker into the same database (SQLite in WAL mode takes writers from
several processes in turn).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable

import click

from ..config import GatewayConfig

# (worker index, a callback saying it is serving) -> returns when the worker stops.
WorkerMain = Callable[[int, Callable[[], None]], None]


def workers_problem(config: GatewayConfig, workers: int) -> str | None:
    """Why ``config`` cannot be served by ``workers`` processes, or ``None``."""
    if workers > 1 and not config.redis_url:
        return (
            f"--workers {workers} needs limits shared by the workers: without redis_url (FAREGATE_REDIS_URL) "
            f"limits are counted in each process, so {workers} workers would admit up to {workers} times every "
            "limit and budget; set redis_url, or serve with --workers 1."
        )
    return None


def worker_config(config: GatewayConfig, index: int) -> GatewayConfig:
    """A configured ``server.replica_id`` gets the worker's index (``replica-a-w1``); the default
    (hostname-pid) is distinct per worker already."""
    rid = config.server.replica_id
    if not rid:
        return config
    server = config.server.model_copy(update={"replica_id": f"{rid}-w{index}"})
    return config.model_copy(update={"server": server})


def _child(index: int, ready_fd: int, main: WorkerMain) -> None:
    """The forked worker's whole life; never returns (``os._exit``)."""
    code = 0
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler (it signals the workers)

    def ready() -> None:
        os.write(ready_fd, b"1")
        os.close(ready_fd)

    try:
        main(index, ready)
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - a worker reports anything and exits; the parent decides
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _fork(index: int, main: WorkerMain) -> tuple[int, bool]:
    """Fork worker ``index``; its pid and whether it said it is serving (EOF: it died starting)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        _child(index, w, main)
    os.close(w)
    try:
        ok = os.read(r, 1) == b"1"
    finally:
        os.close(r)
    return pid, ok


class Supervisor:
    """The parent of the workers: forks them, passes signals on, reaps them."""

    def __init__(self, workers: int, main: WorkerMain) -> None:
        self.workers, self.main = workers, main
        self.pids: dict[int, int] = {}  # pid -> worker index
        self.stopping = False

    def _signal(self, signum: int, _frame: object) -> None:
        self.stopping = True
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def start(self) -> bool:
        """Fork every worker in turn; False (the started ones are stopped) when one failed to start."""
        for i in range(self.workers):
            pid, ok = _fork(i, self.main)
            self.pids[pid] = i
            if not ok or self.stopping:
                self._signal(signal.SIGTERM, None)
                return False
        return True

    def wait(self) -> int:
        """Reap the workers; the exit status: 0 when every worker stopped cleanly on a signal."""
        status = 0
        while self.pids:
            try:
                pid, raw = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for clarity
                continue
            index = self.pids.pop(pid, None)
            if index is None:
                continue
            code = os.waitstatus_to_exitcode(raw)
            if code != 0 or not self.stopping:
                status = status or (code if code > 0 else 1)
                if not self.stopping:
                    click.echo(f"faregate: worker {index} (pid {pid}) exited ({code}); stopping the others", err=True)
                    self._signal(signal.SIGTERM, None)
        return status


def run_workers(workers: int, sock: socket.socket, main: WorkerMain, banner: str) -> int:
    """Serve ``sock`` with ``workers`` forked processes until signalled; the exit status."""
    sup = Supervisor(workers, main)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, sup._signal)
    t0 = time.monotonic()
    started = sup.start()
    sock.close()  # the workers hold it: once they close theirs (draining), new connections are refused
    if started:
        click.echo(f"{banner} ({workers} workers, started in {time.monotonic() - t0:.1f} s)", err=True)
    status = sup.wait()
    return status if started else (status or 1)
