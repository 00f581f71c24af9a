"""Upstream client and worker count side by side: aiohttp vs pyreqwest, 1 vs 2 workers.

    python bench/bench_transport.py [--rounds 3] [--seconds 4] [--stream] [--only fg-aiohttp-1w,...]

Starts a fake OpenAI upstream that answers at once (a raw asyncio server, canned bytes) and,
each in its own process group, the targets:

- ``floor-aiohttp``: ``bench/passthrough.py`` (aiohttp server, aiohttp client), the Python floor;
- ``floor-granian``: ``bench/granian_floor.py`` (granian server, pyreqwest client), the Rust ceiling;
- ``fg-aiohttp-1w`` / ``fg-pyreqwest-1w``: ``faregate serve`` with ``http_pool.client`` each way;
- ``fg-aiohttp-2w`` / ``fg-pyreqwest-2w``: the same with ``--workers 2``.

One-process targets are pinned to core 0, two-worker ones get cores 0 and 1; the fake and
``wrk -t1 -c50`` run on core 1 (on this 2-core machine the second worker shares that core with
them, which is the scaling figure you get here). faregate runs its default pipeline (auth,
limits on Redis, the SQLite request log); every faregate target uses Redis limits, so 1 and 2
workers differ only in the worker count. Rounds are interleaved (the order rotates each round)
so drift on a shared machine hits every target alike. Printed per round and as medians: req/s
at concurrency 50, CPU per request of the target's whole process tree (user + system, from
/proc), and at the end p50 latency at concurrency 1. Load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
KEY = "fg-bench-key"
TICK = os.sysconf("SC_CLK_TCK")
TARGETS = ["floor-aiohttp", "floor-granian", "fg-aiohttp-1w", "fg-pyreqwest-1w", "fg-aiohttp-2w", "fg-pyreqwest-2w"]

CONFIG = """\
keys: [{{key: {key}}}]
learning: {{enabled: false}}
cascades: false
redis_url: {redis}
database_url: sqlite:///{db}
models:
  - name: bench
    provider: openai
    model: gpt-4o-mini
    base_url: http://127.0.0.1:{fake}/v1
    api_key: fake-upstream-key
    prices: {{input: 0.15, output: 0.60}}
"""

# -- the fake upstream (own process) ---------------------------------------------------------

_ANSWER = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 21, "completion_tokens": 7, "total_tokens": 28},
    }
).encode()


def _sse(chunks: int = 50) -> bytes:
    head = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000, "model": "gpt-4o-mini"}
    events = [
        {**head, "choices": [{"index": 0, "delta": {"content": f" w{i}"}, "finish_reason": None}]}
        for i in range(chunks)
    ]
    events.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events.append({**head, "choices": [], "usage": {"prompt_tokens": 21, "completion_tokens": 50, "total_tokens": 71}})
    body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    return f"{len(body):x}".encode() + b"\r\n" + body + b"\r\n0\r\n\r\n"


def run_fake(port: int) -> None:
    import asyncio

    plain = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
        len(_ANSWER),
        _ANSWER,
    )
    stream = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n" + _sse()

    class Fake(asyncio.Protocol):
        def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
            self.t, self.buf = transport, b""

        def data_received(self, data: bytes) -> None:
            self.buf += data
            while (end := self.buf.find(b"\r\n\r\n")) >= 0:
                head = self.buf[:end].lower()
                m = re.search(rb"content-length:\s*(\d+)", head)
                n = int(m.group(1)) if m else 0
                if len(self.buf) < end + 4 + n:
                    return
                body, self.buf = self.buf[end + 4 : end + 4 + n], self.buf[end + 4 + n :]
                self.t.write(stream if b'"stream": true' in body or b'"stream":true' in body else plain)

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Fake, "127.0.0.1", port, backlog=1024)
        await server.serve_forever()

    asyncio.run(main())


# -- processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    t_end = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > t_end:
                raise RuntimeError(f"{url} did not come up") from None
            time.sleep(0.1)


def start(args: list[str], cores: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        ["taskset", "-c", cores, *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # Its own process group (stopped as one, workers included) but not its own session: with
        # the kernel's autogroup scheduling each session gets an equal CPU share on a busy
        # machine, so a 2-worker target in a session of its own could never use more than a
        # 1-worker one.
        process_group=0,
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its descendants alive now."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICK
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue
    return total


def launch(name: str, fake: int, tmp: Path, redis: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAREGATE_")}
    upstream = f"http://127.0.0.1:{fake}/v1"
    if name == "floor-aiohttp":
        args = [sys.executable, str(HERE / "passthrough.py"), "--upstream", upstream, "--port", str(port)]
        cores = "0"
    elif name == "floor-granian":
        granian = shutil.which("granian", path=str(Path(sys.executable).parent)) or "granian"
        args = [granian, "--interface", "rsgi", "--port", str(port), "--workers", "1", "--no-ws"]
        args += ["--runtime-threads", "1", "--log-level", "error", "bench.granian_floor:app"]
        env["FLOOR_UPSTREAM"] = upstream
        cores = "0"
    else:
        _, client, workers = name.split("-")
        cfg = tmp / f"{name}.yaml"
        cfg.write_text(CONFIG.format(key=KEY, fake=fake, redis=redis, db=tmp / f"{name}.db"))
        env["FAREGATE_HTTP_CLIENT"] = client
        args = [sys.executable, "-m", "faregate", "serve", "--config", str(cfg), "--port", str(port)]
        args += ["--workers", workers.rstrip("w"), "--log-level", "error"]
        cores = "0" if workers == "1w" else "0,1"
    proc = start(args, cores, env)
    wait_up(f"http://127.0.0.1:{port}/health", proc)
    return proc, port


# -- load -----------------------------------------------------------------------------------


def wrk(port: int, lua: Path, seconds: float, conns: int, latency: bool = False) -> dict[str, float]:
    args = ["taskset", "-c", "1", "wrk", "-t1", f"-c{conns}", f"-d{seconds:g}s", "-s", str(lua)]
    out = subprocess.run(
        [*args, *(["--latency"] if latency else []), f"http://127.0.0.1:{port}/v1/chat/completions"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    n = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res = {"requests": n, "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    res["non2xx"] = int(bad.group(1)) if bad else 0
    if latency:
        m = re.search(r"\s50%\s+([\d.]+)(us|ms|s)", out)
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
        res["p50_ms"] = float(m.group(1)) * scale[m.group(2)] if m else float("nan")
    return res


def lua_script(tmp: Path, stream: bool) -> Path:
    body = json.dumps({"model": "bench", "stream": stream, "messages": [{"role": "user", "content": "Say hello."}]})
    path = tmp / "post.lua"
    path.write_text(
        f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\n'
        f'wrk.headers["Content-Type"] = "application/json"\nwrk.headers["Authorization"] = "Bearer {KEY}"\n'
    )
    return path


def load_avg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run(a: argparse.Namespace) -> None:
    names = a.only.split(",") if a.only else TARGETS
    tmp = Path(tempfile.mkdtemp(prefix="fg-bench-transport-"))
    fake_port = free_port()
    fake = start([sys.executable, __file__, "--fake", str(fake_port)], "1", dict(os.environ))
    procs: dict[str, tuple[subprocess.Popen, int]] = {}
    print(f"load average before: {load_avg()} ({os.cpu_count()} cores)", flush=True)
    try:
        time.sleep(0.5)
        lua = lua_script(tmp, a.stream)
        for name in names:
            procs[name] = launch(name, fake_port, tmp, a.redis)
            wrk(procs[name][1], lua, 1, 10)  # warm-up: connections, first-use paths
        rps: dict[str, list[float]] = {n: [] for n in names}
        cpu: dict[str, list[float]] = {n: [] for n in names}
        for r in range(a.rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            line = []
            for name in order:
                proc, port = procs[name]
                c0 = tree_cpu_s(proc.pid)
                res = wrk(port, lua, a.seconds, 50)
                us = (tree_cpu_s(proc.pid) - c0) / max(1, res["requests"]) * 1e6
                rps[name].append(res["rps"])
                cpu[name].append(us)
                bad = f" NON-2XX {res['non2xx']}" if res["non2xx"] else ""
                line.append(f"{name} {res['rps']:.0f} req/s {us:.0f} us/req{bad}")
            print(f"round {r + 1} (load {load_avg()}): " + "; ".join(line), flush=True)
        floor = statistics.median(rps[names[0]])
        print(
            f"\nmedians over {a.rounds} rounds of {a.seconds:g} s, wrk -t1 -c50, {'stream' if a.stream else 'plain'}:"
        )
        for name in names:
            lat = wrk(procs[name][1], lua, 2, 1, latency=True)
            med = statistics.median(rps[name])
            print(
                f"  {name:17} {med:7.0f} req/s ({med / floor:5.0%} of {names[0]})  "
                f"{statistics.median(cpu[name]):6.0f} us CPU/req  p50 at c=1 {lat['p50_ms']:.2f} ms"
            )
        print(f"load average after: {load_avg()}")
    finally:
        for proc, _ in procs.values():
            stop(proc)
        stop(fake)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fake", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4)
    ap.add_argument("--stream", action="store_true", help="50-chunk streamed answers instead of plain ones")
    ap.add_argument("--only", default="", help="comma-separated targets (the first is the ratio's base)")
    ap.add_argument("--redis", default=os.environ.get("FAREGATE_BENCH_REDIS", "redis://127.0.0.1:6379/0"))
    a = ap.parse_args()
    if a.fake:
        run_fake(a.fake)
        return
    run(a)


if __name__ == "__main__":
    main()
