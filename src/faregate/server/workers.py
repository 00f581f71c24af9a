"""``faregate serve --workers N``: N pre-forked processes serving one port.

The parent binds the port first as a single process would (a taken port fails there, with the
same one-line error), then swaps that socket for one ``SO_REUSEPORT`` socket per worker on the
same address, so the kernel spreads new connections over the workers. (One shared listening
socket was tried first: an idle worker's event loop accepts a whole burst of connections at
once, so 50 keep-alive connections of a load generator all landed on one worker and the second
never got any.) A second ``serve`` on the port still fails: its first, plain bind conflicts
with the workers' sockets.

The workers are forked one at a time: each builds its own gateway after the fork (no event
loop, thread or connection is shared) and serves its socket, closing the others' copies. The
next worker is forked only once the one before says it is serving, so database migrations
never run in two processes at once, and a worker that cannot start stops the whole start with
its error.

The parent then only supervises: SIGTERM or SIGINT is passed on to every worker as SIGTERM
(each drains as a single process does; a second signal hurries them), and when one worker
exits on its own the others are stopped and the parent exits non-zero, for the supervisor
above (systemd, Kubernetes) to restart the set. Workers ignore SIGINT: a terminal's Ctrl-C
reaches the parent, which passes it on once. A worker whose parent is gone (killed with
SIGKILL) drains and exits on its own within a second.

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
import threading
import time
import traceback
from collections.abc import Callable

import click

from ..config import GatewayConfig
from ..core.command_error import CommandError

# (worker index, its listening socket, a callback saying it is serving) -> returns when it stops.
WorkerMain = Callable[[int, socket.socket, Callable[[], None]], None]


def worker_sockets(probe: socket.socket, workers: int) -> list[socket.socket]:
    """One ``SO_REUSEPORT`` listening socket per worker on ``probe``'s address (``probe`` is closed)."""
    addr, family = probe.getsockname(), probe.family
    probe.close()
    socks: list[socket.socket] = []
    try:
        for _ in range(workers):
            sock = socket.create_server(addr, family=family, backlog=1024, reuse_port=True)
            sock.setblocking(False)
            socks.append(sock)
    except OSError as exc:  # taken between the probe and now
        for sock in socks:
            sock.close()
        raise CommandError(
            f"cannot listen on {addr[0]}:{addr[1]} with {workers} workers: {exc.strerror or exc}."
        ) from None
    return socks


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


def _orphan_watch(parent: int, interval_s: float = 1.0) -> None:
    """SIGTERM this worker (it drains) once its parent is gone (killed with SIGKILL, say): a
    worker never serves on without the parent that would stop it."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval_s)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="faregate-orphan-watch", daemon=True).start()


def _child(index: int, socks: list[socket.socket], ready_fd: int, main: WorkerMain, parent: int) -> None:
    """The forked worker's whole life; never returns (``os._exit``)."""
    code = 0
    _orphan_watch(parent)
    for i, other in enumerate(socks):
        if i != index:  # a draining worker's closed socket must not stay open in another process
            other.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler (it signals the workers)

    def ready() -> None:
        os.write(ready_fd, b"1")
        os.close(ready_fd)

    try:
        main(index, socks[index], ready)
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


def _fork(index: int, socks: list[socket.socket], main: WorkerMain) -> tuple[int, bool]:
    """Fork worker ``index``; its pid and whether it said it is serving (EOF: it died starting)."""
    r, w = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        _child(index, socks, w, main, parent)
    os.close(w)
    try:
        ok = os.read(r, 1) == b"1"
    finally:
        os.close(r)
    return pid, ok


class Supervisor:
    """The parent of the workers: forks them, passes signals on, reaps them."""

    def __init__(self, socks: list[socket.socket], main: WorkerMain) -> None:
        self.socks, self.main = socks, main
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
        for i in range(len(self.socks)):
            pid, ok = _fork(i, self.socks, self.main)
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
    """Serve ``sock``'s address with ``workers`` forked processes until signalled; the exit status."""
    socks = worker_sockets(sock, workers)
    sup = Supervisor(socks, main)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, sup._signal)
    t0 = time.monotonic()
    started = sup.start()
    for s in socks:  # the workers hold them: once they close theirs (draining), new connections are refused
        s.close()
    if started:
        click.echo(f"{banner} ({workers} workers, started in {time.monotonic() - t0:.1f} s)", err=True)
    status = sup.wait()
    return status if started else (status or 1)
