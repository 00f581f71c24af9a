"""`faregate demo --keep`: after the summary the demo's gateway stays up with its dashboard, a
printed URL and master key log in, and Ctrl-C (SIGINT) stops everything."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import aiohttp

from faregate.dashboard.session import COOKIE


def _read_until(proc: subprocess.Popen, pattern: str, timeout: float) -> tuple[re.Match, str]:
    seen = ""
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break  # the process exited
        seen += line
        m = re.search(pattern, seen)
        if m:
            return m, seen
    raise AssertionError(f"no {pattern!r} in the demo's output:\n{seen}")


async def test_demo_keep_serves_the_dashboard_until_ctrl_c(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAREGATE_")}
    env.update(COLUMNS="200", TERM="dumb")
    args = ["-m", "faregate", "demo", "--keep", "--requests", "20", "--time-scale", "0.05"]
    args += ["--db", str(tmp_path / "demo.db")]
    proc = subprocess.Popen(
        [sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        m, out = _read_until(proc, r"dashboard: (http://127\.0\.0\.1:\d+)/dashboard[\s\S]*master key: (\S+)", 240)
        url, key = m.group(1), m.group(2)
        assert "savings:" in out  # the summary came first
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
            async with s.post(url + "/dashboard/login", data={"key": key}, allow_redirects=False) as r:
                assert r.status == 303 and COOKIE in r.cookies
            async with s.get(url + "/dashboard/requests", allow_redirects=False) as r:
                assert r.status == 200
                assert "req_" in await r.text()  # the demo's requests are in its log
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        async with aiohttp.ClientSession() as s:
            try:
                async with s.get(url + "/health") as r:
                    raise AssertionError(f"the demo's gateway still answers after Ctrl-C ({r.status})")
            except aiohttp.ClientConnectionError:
                pass
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
