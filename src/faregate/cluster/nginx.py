"""The load balancer of ``faregate cluster``: Debian's nginx with a generated config.

The config comes from ``nginx.conf.j2`` (SSE-safe proxying, passive health checks, retries of
connect failures); ``nginx -t`` checks it before it is started. nginx runs as the current user
with its pid, logs and temp files in the cluster's state dir.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import jinja2

from ..core.command_error import CommandError

# Debian installs nginx in /usr/sbin, which is not on every user's PATH.
_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")


def nginx_binary() -> str:
    """The nginx executable, or a ``CommandError`` that says how to install it."""
    found = shutil.which("nginx") or next((c for c in _CANDIDATES if os.access(c, os.X_OK)), None)
    if found is None:
        raise CommandError("nginx is not installed: `apt-get install nginx` (Debian/Ubuntu), then run this again.")
    return found


def render_config(state: Path, listen: int, ports: list[int], max_body_bytes: int = 8 * 1024 * 1024) -> str:
    template = resources.files(__package__).joinpath("nginx.conf.j2").read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=False, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    return env.from_string(template).render(
        state=str(state),
        listen=listen,
        ports=ports,
        max_body_mb=max(1, -(-max_body_bytes // (1024 * 1024))),
        as_root=os.geteuid() == 0,  # as root nginx would switch its workers to `nobody`
    )


def write_config(state: Path, listen: int, ports: list[int], max_body_bytes: int = 8 * 1024 * 1024) -> Path:
    """Write ``nginx.conf`` into ``state`` and check it with ``nginx -t``."""
    (state / "nginx-tmp").mkdir(parents=True, exist_ok=True)
    path = state / "nginx.conf"
    path.write_text(render_config(state, listen, ports, max_body_bytes), encoding="utf-8")
    check(path)
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([nginx_binary(), *args], capture_output=True, text=True, timeout=30, check=False)


def check(conf: Path) -> None:
    """``nginx -t`` on the file: a ``CommandError`` with nginx's own words when it is refused."""
    done = _run("-t", "-q", "-p", str(conf.parent), "-c", str(conf))
    if done.returncode != 0:
        raise CommandError(f"nginx refused the generated config {conf}: {done.stderr.strip()[-800:]}")


def start(conf: Path) -> None:
    done = _run("-p", str(conf.parent), "-c", str(conf))
    if done.returncode != 0:
        raise CommandError(f"nginx did not start: {done.stderr.strip()[-800:]} (see {conf.parent}/nginx-error.log)")


def stop(conf: Path) -> None:
    """A graceful quit (workers finish their connections), if it is running."""
    if (conf.parent / "nginx.pid").exists():
        _run("-p", str(conf.parent), "-c", str(conf), "-s", "quit")
