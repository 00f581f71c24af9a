"""``faregate serve``: run the HTTP server on one port."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import os
import signal
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

import click
from aiohttp import web

from ..config import ConfigError, GatewayConfig, ServerConfig, load_config
from ..core.command_error import CommandError
from .capacity import CapacityGuard
from .probe_routes import DRAIN
from .workers import run_workers, worker_config, workers_problem

if TYPE_CHECKING:
    from .rsgi import GranianServing

SERVERS = ("aiohttp", "granian")


def tune_gc() -> None:
    """Garbage collection for a long-running server, called once everything is loaded.

    Freezing moves every object alive at start (modules, config, pydantic models) out of the
    collector's sight, so full collections stop re-walking them; a larger first-generation
    threshold means far fewer collections, each of which used to promote the objects of the
    requests in flight. Measured with ``bench/bench_proxy.py``: GC time per proxied request fell
    from about a fifth of faregate's CPU to about a fiftieth. Reference cycles are still
    collected, only less often.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def bind_socket(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything is printed; ``CommandError`` when it cannot be."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CommandError(f"cannot listen on {host}:{port}: unknown host ({exc.strerror}); check --host.") from None
    family, _, _, _, addr = infos[0]
    try:
        sock = socket.create_server(addr, family=family, backlog=1024)
    except OSError as exc:
        what = os.strerror(exc.errno) if exc.errno else type(exc).__name__
        hint = (
            "another process is using that port: stop it, or pick another with --port"
            if exc.errno == errno.EADDRINUSE
            else "pick another address or port with --host / --port"
        )
        raise CommandError(f"cannot listen on {host}:{port}: {what}; {hint}.") from None
    sock.setblocking(False)
    return sock


def startup_problem(exc: BaseException) -> str:
    """One line for a gateway that cannot be built from a valid config (a file it names)."""
    if isinstance(exc, FileNotFoundError):
        return (
            f"cannot start: the file {exc.filename!r} does not exist (a route's `router_model`, "
            "`router_model` or `calibration_file` in the config); fix the path, or make one with `faregate train`."
        )
    if isinstance(exc, OSError):
        return f"cannot start: cannot read {exc.filename!r}: {exc.strerror or exc}."
    return (
        f"cannot start: a file the config names is not what it should be ({type(exc).__name__}: "
        f"{str(exc)[:200]}); check `router_model` and `calibration_file`."
    )


class Serving:
    """A gateway app served on a bound socket with the capacity caps (``server/capacity.py``).

    ``start`` runs the app's start-up and begins accepting; ``stop`` stops accepting, lets
    requests in flight finish (up to ``shutdown_timeout``) and runs the app's clean-up."""

    def __init__(
        self, app: web.Application, sock: socket.socket, cfg: ServerConfig, shutdown_timeout: float | None = None
    ):
        self.app = app
        self.guard = CapacityGuard(cfg)
        app.middlewares.append(self.guard.middleware())
        self.runner = web.AppRunner(
            app,
            handler_cancellation=True,
            access_log=None,
            shutdown_timeout=cfg.drain_timeout_s if shutdown_timeout is None else shutdown_timeout,
        )
        self.sock = sock
        self._server: asyncio.AbstractServer | None = None

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    async def start(self) -> Serving:
        await self.runner.setup()
        assert self.runner.server is not None
        factory = self.guard.protocol_factory(self.runner.server)
        self._server = await asyncio.get_running_loop().create_server(factory, sock=self.sock, backlog=1024)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        await self.runner.cleanup()

    async def drain(self) -> None:
        """A graceful exit: readiness fails at once, the listening socket closes (a balancer's new
        connections are refused and go to another replica), requests and streams in flight get
        ``server.drain_timeout_s`` to finish, then the app's clean-up flushes the request log."""
        drain = self.app.get(DRAIN)
        if drain is not None:
            drain.draining = True
        await self.stop()

    async def hurry(self, drain: asyncio.Task[None]) -> None:
        """The second signal: stop waiting, cancel what is in flight, run the app's clean-up (it
        flushes the request log, with the rows of the cancelled requests too)."""
        server = self.runner.server
        drain.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await drain
        if server is not None:
            await server.shutdown(0.01)  # aiohttp reads 0 as no limit at all
        await self.app.cleanup()


async def _serve_until_signalled(
    serving: Serving | GranianServing,
    banner: str | None,
    ready: Callable[[], None] | None = None,
    signals_handled: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM),
) -> None:
    """Serve until SIGTERM or SIGINT, then drain (``Serving.drain``); a second signal hurries it.

    A worker of ``--workers`` prints no banner, says it is serving through ``ready`` and
    handles SIGTERM only (its parent passes a terminal's SIGINT on)."""
    await serving.start()
    if banner:
        click.echo(banner, err=True)
    signals = asyncio.Queue[int]()
    loop = asyncio.get_running_loop()
    for sig in signals_handled:
        loop.add_signal_handler(sig, signals.put_nowait, sig)
    if ready is not None:
        ready()
    await signals.get()
    drain = asyncio.create_task(serving.drain())
    hurry = asyncio.create_task(signals.get())
    await asyncio.wait((drain, hurry), return_when=asyncio.FIRST_COMPLETED)
    if not drain.done():
        click.echo("faregate: second signal, cancelling what is in flight (the request log is still flushed)", err=True)
        await serving.hurry(drain)
    hurry.cancel()


def _load(config_path: str | None, dashboard: bool) -> GatewayConfig:
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    if dashboard:  # --dashboard: as if the config said dashboard.enabled: true
        config = config.model_copy(update={"dashboard": config.dashboard.model_copy(update={"enabled": True})})
        if not config.master_key:
            raise CommandError("--dashboard needs a master key to log in with: set FAREGATE_MASTER_KEY or master_key.")
    return config


def _serve_one(
    config: GatewayConfig,
    sock: socket.socket,
    banner: str | None,
    ready: Callable[[], None] | None = None,
    server: str = "aiohttp",
) -> None:
    """Build the gateway and serve ``sock`` until signalled (one process, or one worker)."""
    from ..pipeline.gateway import Gateway
    from .app import create_app

    try:
        gateway = Gateway(config)  # compiling checks catalogue prices: a wrong unit is a config error too
    except ConfigError as exc:
        sock.close()
        raise CommandError(str(exc)) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        sock.close()
        raise CommandError(startup_problem(exc)) from None
    app = create_app(gateway)
    tune_gc()
    serving: Serving | GranianServing
    if server == "granian":
        from .rsgi import GranianServing

        serving = GranianServing(app, sock, config.server)
    else:
        serving = Serving(app, sock, config.server)
    handled = (signal.SIGINT, signal.SIGTERM) if ready is None else (signal.SIGTERM,)
    asyncio.run(_serve_until_signalled(serving, banner, ready, handled))


def run_server(
    config_path: str | None,
    host: str | None,
    port: int | None,
    dashboard: bool = False,
    workers: int = 1,
    server: str = "aiohttp",
) -> None:
    config = _load(config_path, dashboard)
    problem = server_problem(server, workers) or workers_problem(config, workers)
    if problem:
        raise CommandError(problem)
    host = host or config.server.host
    port = config.server.port if port is None else port
    sock = bind_socket(host, port)  # nothing is printed before this: a taken port is the one error
    try:
        import uvloop  # optional: faster event loop when installed

        uvloop.install()
    except ImportError:
        pass
    shown = f"[{host}]" if ":" in host else host
    banner = f"faregate serving {len(config.models)} model(s) on http://{shown}:{sock.getsockname()[1]}/v1"
    if config.dashboard.enabled:
        banner += f"; dashboard on http://{shown}:{sock.getsockname()[1]}/dashboard"
    if workers == 1:
        _serve_one(config, sock, banner, server=server)
        return

    def worker(index: int, own: socket.socket, ready: Callable[[], None]) -> None:
        _serve_one(worker_config(config, index), own, None, ready)

    status = run_workers(workers, sock, worker, banner)
    if status:
        raise SystemExit(status)


def server_problem(server: str, workers: int) -> str | None:
    """Why ``--server`` cannot be used as asked, or None."""
    if server == "aiohttp":
        return None
    if workers > 1:
        return "--server granian serves one process; drop --workers or use --server aiohttp."
    try:
        import granian.server.embed  # noqa: F401
    except ImportError:
        return "--server granian needs the fast extra: pip install 'faregate[fast]'."
    return None


def port_option(ctx: click.Context, param: click.Parameter, value: str | int | None) -> int | None:
    """``--port``: an integer in 0..65535, or a one-line error (exit status 2)."""
    if value is None:
        return None
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise CommandError(f"--port must be a number from 0 to 65535, not {str(value)[:40]!r}.") from None
    if not 0 <= port <= 65535:
        raise CommandError(f"--port must be from 0 to 65535, not {port}; 0 picks a free port.")
    return port


@click.command("serve")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="FAREGATE_CONFIG",
    help="YAML config file (env FAREGATE_CONFIG). Without one, no models are configured.",
)
@click.option("--host", envvar="FAREGATE_HOST", default=None, help="Bind address (default 127.0.0.1).")
@click.option(
    "--port", envvar="FAREGATE_PORT", default=None, callback=port_option, help="Port, 0 to 65535 (default 8080)."
)
@click.option(
    "--log-level",
    envvar="FAREGATE_LOG_LEVEL",
    default="info",
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="Messages at this level and above (stderr); the access log is at info (stdout).",
)
@click.option(
    "--log-format",
    envvar="FAREGATE_LOG_FORMAT",
    default="text",
    type=click.Choice(["text", "json"]),
    help="The access log's format: key=value text, or one JSON object per line.",
)
@click.option("--dashboard", is_flag=True, help="Serve the web dashboard at /dashboard (dashboard.enabled: true).")
@click.option(
    "--workers",
    envvar="FAREGATE_WORKERS",
    default=1,
    type=click.IntRange(1, 64),
    help="Processes serving the one port (pre-forked; more than 1 needs redis_url). Default 1.",
)
@click.option(
    "--server",
    envvar="FAREGATE_SERVER",
    default="aiohttp",
    type=click.Choice(SERVERS),
    help="The HTTP server: aiohttp's, or granian's (Rust; the fast extra, one process). Default aiohttp.",
)
def serve_cmd(
    config_path: str | None,
    host: str | None,
    port: int | None,
    log_level: str,
    log_format: str,
    dashboard: bool,
    workers: int,
    server: str,
) -> None:
    """Run the gateway's HTTP server."""
    from ..observability.access_log import configure_logging

    configure_logging(log_level, log_format)
    run_server(config_path, host, port, dashboard, workers, server)
