"""``faregate cluster up | down | restart | status``: a local fleet to try and test scale-out.

``up`` starts N replicas (each reads ``FAREGATE_DATABASE_URL`` and ``FAREGATE_REDIS_URL`` like
``faregate serve``), waits until each answers, starts nginx in front and prints the balancer's
base URL as the last line of standard output. ``down`` drains and stops them all; ``restart``
rolls the replicas one at a time (each drains, restarts on its port and is ready before the next).
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from ..config import ConfigError, load_config
from ..core.command_error import CommandError
from . import nginx
from .fleet import ClusterState, Replica, alive, default_state_dir, free_port, start_replica, stop_replica, wait_ready

START_TIMEOUT_S = 100.0  # `up` returns within two minutes, or says which replica did not start

state_option = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where pids, logs and nginx.conf go (default $XDG_RUNTIME_DIR/faregate/cluster or ~/.cache/faregate/cluster).",
)


def _state_dir(value: Path | None) -> Path:
    state = (value or default_state_dir()).resolve()
    state.mkdir(parents=True, exist_ok=True)
    return state


@click.group("cluster")
def cluster_group() -> None:
    """A local fleet: faregate replicas behind an nginx load balancer."""


@cluster_group.command("up")
@click.option("--replicas", default=3, show_default=True, type=click.IntRange(1, 32), help="How many replicas.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, exists=True), envvar="FAREGATE_CONFIG")
@click.option("--port", default=0, type=click.IntRange(0, 65535), help="The balancer's port (0: a free one).")
@state_option
def up_cmd(replicas: int, config_path: str | None, port: int, state_dir: Path | None) -> None:
    """Start N replicas and nginx in front; the last line printed is the balancer's URL."""
    state = _state_dir(state_dir)
    running = ClusterState.load(state)
    if running is not None and any(alive(r.pid) for r in running.replicas):
        raise CommandError(f"a cluster is already running from {state} ({running.url}): `faregate cluster down` first.")
    try:
        max_body = load_config(config_path).server.max_body_bytes  # a bad config fails here, before any start
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    config = str(Path(config_path).resolve()) if config_path else None
    cluster = ClusterState(
        [Replica(f"replica-{i + 1}", free_port()) for i in range(replicas)], port or free_port(), config
    )
    conf = nginx.write_config(state, cluster.balancer_port, [r.port for r in cluster.replicas], max_body)
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        for r in cluster.replicas:
            start_replica(state, r, config)
        cluster.save(state)
        for r in cluster.replicas:
            wait_ready(r, deadline)
        nginx.start(conf)
    except BaseException:
        for r in cluster.replicas:
            stop_replica(r, timeout=5)
        (state / "cluster.json").unlink(missing_ok=True)
        raise
    for r in cluster.replicas:
        click.echo(f"{r.id}: http://127.0.0.1:{r.port} (pid {r.pid}, log {r.log})")
    click.echo(f"nginx: {conf} (stop with `faregate cluster down`)")
    click.echo(cluster.url)


@cluster_group.command("down")
@state_option
def down_cmd(state_dir: Path | None) -> None:
    """Stop the balancer and drain every replica (SIGTERM)."""
    state = _state_dir(state_dir)
    cluster = ClusterState.load(state)
    if cluster is None:
        click.echo(f"no cluster running from {state}")
        return
    nginx.stop(state / "nginx.conf")
    for r in cluster.replicas:
        stop_replica(r)
    (state / "cluster.json").unlink(missing_ok=True)
    click.echo(f"stopped {len(cluster.replicas)} replica(s) and nginx")


@cluster_group.command("restart")
@click.option(
    "--pause",
    default=3.0,
    show_default=True,
    type=click.FloatRange(0, 600),
    help="Seconds between replicas: longer than nginx's fail_timeout (2 s), so the balancer uses the "
    "restarted replica again before the next one goes.",
)
@state_option
def restart_cmd(pause: float, state_dir: Path | None) -> None:
    """A rolling restart: one replica at a time drains, restarts on its port and is ready again."""
    state = _state_dir(state_dir)
    cluster = ClusterState.load(state)
    if cluster is None:
        raise CommandError(f"no cluster running from {state}: `faregate cluster up` first.")
    for r in cluster.replicas:
        stop_replica(r)
        start_replica(state, r, cluster.config)
        cluster.save(state)
        wait_ready(r, time.monotonic() + START_TIMEOUT_S)
        click.echo(f"{r.id} restarted (pid {r.pid})")
        time.sleep(pause)


@cluster_group.command("status")
@state_option
def status_cmd(state_dir: Path | None) -> None:
    """Each replica's port, pid and whether it runs; the balancer's URL last."""
    state = _state_dir(state_dir)
    cluster = ClusterState.load(state)
    if cluster is None:
        raise CommandError(f"no cluster running from {state}.")
    for r in cluster.replicas:
        click.echo(f"{r.id}: port {r.port} pid {r.pid} {'running' if alive(r.pid) else 'stopped'}")
    click.echo(cluster.url)
