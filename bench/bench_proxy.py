"""faregate against the Python floor (a minimal aiohttp pass-through proxy), side by side.

    python bench/bench_proxy.py [--quick] [--requests 4000] [--latency-requests 1500]

Starts, each in its own process:
- a fake OpenAI provider that answers at once (a raw asyncio server sending canned bytes, so it
  is never the bottleneck),
- ``faregate serve`` (one worker) in front of it,
- ``bench/passthrough.py`` in front of it (the floor),
and drives load from yet another process (a raw keep-alive HTTP/1.1 client on asyncio streams,
much cheaper per request than any client library). Both proxies are pinned to the same core
(measured one after the other); the fake and the load generator share the other cores.

Each target (direct to the fake, the floor, faregate) is measured in ten short rounds in ABBA
order, so drift on a shared machine hits all alike; the throughput ratio is the median of the
per-round ratios (floor and faregate measured back to back). Printed: req/s at concurrency 50, added p50/p99
latency at concurrency 1 and 50 (through the proxy minus direct to the fake), added time to the
first streamed body byte at concurrency 1, and RSS after the load. Targets: faregate reaches at
least 60% of the floor's req/s and adds at most 1 ms at p50 at concurrency 1. Exits 1 if missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
KEY = "fg-bench-key"
PROMPT = {
    "model": "bench",
    "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Say hello in five words."},
    ],
}

# -- the fake provider (own process) --------------------------------------------------------

_ANSWER = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello there, nice to meet."},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 21, "completion_tokens": 7, "total_tokens": 28},
    }
).encode()


def _sse() -> bytes:
    head = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000, "model": "gpt-4o-mini"}
    events = [{**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
    for word in ("Hello", " there,", " nice", " to", " meet."):
        events.append({**head, "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]})
    events.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events.append({**head, "choices": [], "usage": {"prompt_tokens": 21, "completion_tokens": 7, "total_tokens": 28}})
    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"


_PLAIN_RESP = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
    + str(len(_ANSWER)).encode()
    + b"\r\n\r\n"
    + _ANSWER
)
_body = _sse()
_STREAM_RESP = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    + f"{len(_body):x}".encode()
    + b"\r\n"
    + _body
    + b"\r\n0\r\n\r\n"
)


class _FakeProtocol(asyncio.Protocol):
    """HTTP/1.1 keep-alive: parse each request's head and content-length body, answer at once."""

    def connection_made(self, transport) -> None:
        self.t = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].lower()
            i = head.find(b"content-length:")
            n = int(head[i + 15 : head.find(b"\r\n", i) if head.find(b"\r\n", i) > 0 else None]) if i >= 0 else 0
            if len(self.buf) < end + 4 + n:
                return
            body = self.buf[end + 4 : end + 4 + n]
            self.buf = self.buf[end + 4 + n :]
            if head.startswith(b"get"):
                self.t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            elif b'"stream":true' in body.replace(b" ", b""):
                self.t.write(_STREAM_RESP)
            else:
                self.t.write(_PLAIN_RESP)


def run_fake(port: int) -> None:
    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_FakeProtocol, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# -- the load generator (own process) --------------------------------------------------------


async def _read_response(reader: asyncio.StreamReader, t0: float) -> tuple[int, float]:
    """Read one response; return (status, seconds to the first body byte after t0)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    low = head.lower()
    first = 0.0
    if b"transfer-encoding: chunked" in low:
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if not first:
                first = time.perf_counter() - t0
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        i = low.find(b"content-length:")
        n = int(low[i + 15 : low.find(b"\r\n", i)]) if i >= 0 else 0
        await reader.readexactly(n)
        first = time.perf_counter() - t0
    return status, first


async def _load(host: str, port: int, path: str, n: int, concurrency: int, stream: bool) -> dict:
    body = json.dumps({**PROMPT, "stream": stream}).encode()
    req = (
        f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\nauthorization: Bearer {KEY}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode() + body
    lat: list[float] = []
    ttfb: list[float] = []
    errors = 0
    left = n

    async def worker() -> None:
        nonlocal left, errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while left > 0:
                left -= 1
                t0 = time.perf_counter()
                writer.write(req)
                status, first = await _read_response(reader, t0)
                lat.append(time.perf_counter() - t0)
                ttfb.append(first)
                if status != 200:
                    errors += 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    return {"lat": lat, "ttfb": ttfb, "elapsed": elapsed, "errors": errors}


def run_load(argv: list[str]) -> None:
    host, port, path, n, conc, stream = argv[0], int(argv[1]), argv[2], int(argv[3]), int(argv[4]), argv[5] == "1"
    out = asyncio.run(_load(host, port, path, n, conc, stream))
    sys.stdout.write(json.dumps(out))


# -- orchestration ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if proc.poll() is not None:
            raise SystemExit(f"a benchmark process exited early: {proc.args}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"port {port} did not open")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system, every thread) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(port: int, path: str, n: int, concurrency: int, stream: bool, cpus: list[int] | None) -> dict:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--load",
        "127.0.0.1",
        str(port),
        path,
        str(n),
        str(concurrency),
        "1" if stream else "0",
    ]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    if cpus:
        try:
            os.sched_setaffinity(p.pid, cpus)
        except OSError:
            pass
    out, _ = p.communicate(timeout=300)
    if p.returncode:
        raise SystemExit("the load generator failed")
    return json.loads(out)


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


CONFIG = """\
server: {{host: 127.0.0.1, port: {port}}}
keys: [{{key: {key}}}]
learning: {{enabled: false}}
cascades: false
models:
  - name: bench
    provider: openai
    model: gpt-4o-mini
    base_url: http://127.0.0.1:{fake}/v1
    api_key: fake-upstream-key
    prices: {{input: 0.15, output: 0.60}}
"""


# Observability variants, each against "fg-bare" (metrics, tracing and the access log all off):
# name -> (config lines added, extra `faregate serve` arguments).
BARE = "metrics: {enabled: false}\naccess_log: {enabled: false}\n"
OBS_VARIANTS = {
    "fg-bare": (BARE, []),
    "fg-metrics": ("access_log: {enabled: false}\n", []),
    "fg-trace": (
        "metrics: {enabled: false}\naccess_log: {enabled: false}\n"
        "tracing: {enabled: true, sample_ratio: 1.0, otlp_endpoint: 'http://127.0.0.1:OTLP_PORT/v1/traces'}\n",
        [],
    ),
    "fg-trace10": (
        "metrics: {enabled: false}\naccess_log: {enabled: false}\n"
        "tracing: {enabled: true, sample_ratio: 0.1, otlp_endpoint: 'http://127.0.0.1:OTLP_PORT/v1/traces'}\n",
        [],
    ),
    "fg-json": ("metrics: {enabled: false}\n", ["--log-format", "json"]),
}


def run_otlp(port: int) -> None:
    """The OTLP/HTTP receiver of the tracing variant (decodes every export, as a collector would)."""
    from faregate.testing import OtlpReceiver

    async def main() -> None:
        rx = await OtlpReceiver(port=port).start()
        try:
            await asyncio.Event().wait()
        finally:
            await rx.stop()

    asyncio.run(main())


def main() -> int:
    ap = argparse.ArgumentParser(description="faregate vs a minimal aiohttp pass-through proxy")
    # Many short rounds rather than a few long ones: on a shared machine the speed drifts within
    # a minute, and a ratio of two runs taken seconds apart (floor and faregate are neighbours in
    # both orders) is far steadier than a ratio of two medians.
    ap.add_argument("--requests", type=int, default=3000, help="requests per throughput run (concurrency 50)")
    ap.add_argument("--latency-requests", type=int, default=600, help="requests per concurrency-1 run")
    ap.add_argument("--rounds", type=int, default=10, help="ABBA rounds")
    ap.add_argument("--quick", action="store_true", help="a smaller run (a smoke test, ~20 s)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    ap.add_argument(
        "--no-log-variant",
        action="store_true",
        help="skip 'fg-nolog' (faregate without its request log), measured by default for comparison",
    )
    ap.add_argument(
        "--no-observability-variants",
        action="store_true",
        help="skip fg-bare / fg-metrics / fg-trace / fg-json (metrics, tracing at 100%% to a local OTLP "
        "receiver, the JSON access log: each alone, against all three off)",
    )
    ap.add_argument(
        "--variants",
        default=",".join(OBS_VARIANTS),
        help="which observability variants to start (comma-separated; fg-bare is always one)",
    )
    a = ap.parse_args()
    if a.quick:
        a.requests, a.latency_requests, a.rounds = 2000, 400, 2

    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    pin = len(cpus) >= 2 and not a.no_pin
    proxy_cpus, other_cpus = (cpus[:1], cpus[1:]) if pin else (None, None)
    fake_port, fg_port, pt_port, nl_port = free_port(), free_port(), free_port(), free_port()
    tmp = tempfile.mkdtemp(prefix="faregate-bench-")
    cfg = Path(tmp) / "bench.yaml"
    cfg.write_text(CONFIG.format(port=fg_port, key=KEY, fake=fake_port))
    # The same gateway without the request log (no database): what the log costs per request.
    cfg_nolog = Path(tmp) / "bench-nolog.yaml"
    cfg_nolog.write_text(CONFIG.format(port=nl_port, key=KEY, fake=fake_port) + 'database_url: ""\n')
    env_nolog = {k: v for k, v in os.environ.items() if k != "FAREGATE_DATABASE_URL"}
    env = {**os.environ, "FAREGATE_DATABASE_URL": f"sqlite:///{tmp}/bench.db"}
    me = [sys.executable, str(Path(__file__).resolve())]
    procs: dict[str, subprocess.Popen] = {}
    ports = {"fake": fake_port, "faregate": fg_port, "floor": pt_port, "fg-nolog": nl_port}
    # Access lines go to a file, as they would to a log collector (not to this terminal).
    sink = open(Path(tmp) / "access.log", "wb")

    def serve(name: str, config: Path, port: int, extra: list[str], serve_env: dict[str, str]) -> None:
        argv = [sys.executable, "-m", "faregate", "serve", "--config", str(config), "--port", str(port), *extra]
        procs[name] = subprocess.Popen(argv, env=serve_env, cwd=tmp, stdout=sink)

    try:
        procs["fake"] = subprocess.Popen(me + ["--fake", str(fake_port)], env=env)
        serve("faregate", cfg, fg_port, [], env)
        if not a.no_log_variant:
            serve("fg-nolog", cfg_nolog, nl_port, [], env_nolog)
        if not a.no_observability_variants:
            otlp_port = free_port()
            procs["otlp"] = subprocess.Popen(me + ["--otlp", str(otlp_port)], env=env)
            ports["otlp"] = otlp_port
            wanted = {"fg-bare", *a.variants.split(",")}
            for name, (extra_cfg, extra_args) in OBS_VARIANTS.items():
                if name not in wanted:
                    continue
                ports[name] = free_port()
                path_v = Path(tmp) / f"{name}.yaml"
                path_v.write_text(
                    CONFIG.format(port=ports[name], key=KEY, fake=fake_port)
                    + extra_cfg.replace("OTLP_PORT", str(otlp_port))
                )
                serve(
                    name,
                    path_v,
                    ports[name],
                    extra_args,
                    {**env, "FAREGATE_DATABASE_URL": f"sqlite:///{tmp}/{name}.db"},
                )
        procs["floor"] = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "passthrough.py"),
                "--port",
                str(pt_port),
                "--upstream",
                f"http://127.0.0.1:{fake_port}/v1",
            ],
            env=env,
        )
        if pin:
            os.sched_setaffinity(procs["fake"].pid, other_cpus)
            os.sched_setaffinity(procs["faregate"].pid, proxy_cpus)
            os.sched_setaffinity(procs["floor"].pid, proxy_cpus)
            for name in procs:
                if name.startswith("fg-"):
                    os.sched_setaffinity(procs[name].pid, proxy_cpus)
            if "otlp" in procs:
                os.sched_setaffinity(procs["otlp"].pid, other_cpus)
        for name in procs:
            wait_port(ports[name], procs[name])
        targets = {"direct": fake_port, "floor": pt_port, "faregate": fg_port}
        targets.update({n: ports[n] for n in procs if n.startswith("fg-")})
        path = "/v1/chat/completions"
        # Warm up every path (connection pools, caches, lazy imports).
        for port in targets.values():
            for stream in (False, True):
                r = load(port, path, 300, 10, stream, other_cpus)
                if r["errors"]:
                    raise SystemExit(f"errors while warming up port {port}: {r['errors']}")
        res: dict[str, dict[str, list[float]]] = {t: {"c1": [], "c1s": [], "c50": [], "rps": []} for t in targets}
        # CPU time per request of each proxy process: far steadier than req/s on a shared machine.
        cpu: dict[str, list[float]] = {t: [0.0, 0.0] for t in targets}
        order = list(targets)
        t_start = time.perf_counter()
        for rnd in range(a.rounds):
            for t in order if rnd % 2 == 0 else order[::-1]:
                port = targets[t]
                c0 = cpu_s(procs[t].pid) if t in procs else 0.0
                r1 = load(port, path, a.latency_requests, 1, False, other_cpus)
                rs = load(port, path, a.latency_requests // 2, 1, True, other_cpus)
                r50 = load(port, path, a.requests, 50, False, other_cpus)
                if t in procs:
                    cpu[t][0] += cpu_s(procs[t].pid) - c0
                    cpu[t][1] += len(r1["lat"]) + len(rs["ttfb"]) + len(r50["lat"])
                for r in (r1, rs, r50):
                    if r["errors"]:
                        raise SystemExit(f"{t}: {r['errors']} error responses")
                res[t]["c1"] += r1["lat"]
                res[t]["c1s"] += rs["ttfb"]
                res[t]["c50"] += r50["lat"]
                res[t]["rps"].append(len(r50["lat"]) / r50["elapsed"])
        took = time.perf_counter() - t_start
        rss = {t: rss_mib(procs[t].pid) if t in procs else float("nan") for t in targets}
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        sink.close()

    ms = 1000.0
    d = res["direct"]
    base = {
        "c1_50": pct(d["c1"], 0.5),
        "c1_99": pct(d["c1"], 0.99),
        "c50_50": pct(d["c50"], 0.5),
        "c50_99": pct(d["c50"], 0.99),
        "ttfb": pct(d["c1s"], 0.5),
    }
    rows = []
    for t in targets:
        r = res[t]
        rps = statistics.median(r["rps"])
        if t == "direct":
            rows.append(
                (
                    t,
                    rps,
                    base["c1_50"] * ms,
                    base["c1_99"] * ms,
                    base["c50_50"] * ms,
                    base["c50_99"] * ms,
                    base["ttfb"] * ms,
                    rss[t],
                    True,
                )
            )
            continue
        rows.append(
            (
                t,
                rps,
                (pct(r["c1"], 0.5) - base["c1_50"]) * ms,
                (pct(r["c1"], 0.99) - base["c1_99"]) * ms,
                (pct(r["c50"], 0.5) - base["c50_50"]) * ms,
                (pct(r["c50"], 0.99) - base["c50_99"]) * ms,
                (pct(r["c1s"], 0.5) - base["ttfb"]) * ms,
                rss[t],
                False,
            )
        )
    print(
        f"\n{a.rounds} round(s), {a.latency_requests} requests at c=1, {a.requests} at c=50 per round; "
        f"proxies pinned to cpu {proxy_cpus}"
        if pin
        else "\nunpinned",
        f"({took:.0f} s)",
    )
    print("latencies in ms; 'direct' row: absolute, other rows: added over direct")
    hdr = (
        f"{'target':<10}{'req/s c=50':>12}{'p50 c=1':>10}{'p99 c=1':>10}{'p50 c=50':>10}{'p99 c=50':>10}"
        f"{'TTFB c=1':>10}{'RSS MiB':>9}"
    )
    print(hdr)
    print("-" * len(hdr))
    for name, rps, a50, a99, b50, b99, tt, mem, _ in rows:
        print(f"{name:<10}{rps:>12,.0f}{a50:>10.3f}{a99:>10.3f}{b50:>10.3f}{b99:>10.3f}{tt:>10.3f}{mem:>9.1f}")
    statistics.median(res["floor"]["rps"])
    statistics.median(res["faregate"]["rps"])
    # The median of the per-round ratios: each round measures floor and faregate back to back.
    ratios = [f / b for f, b in zip(res["faregate"]["rps"], res["floor"]["rps"])]
    ratio = statistics.median(ratios)
    print(f"\nper-round faregate / floor req/s: {', '.join(f'{r:.0%}' for r in ratios)}")
    added = (pct(res["faregate"]["c1"], 0.5) - base["c1_50"]) * ms
    ok = ratio >= 0.60 and added <= 1.0
    print(
        f"faregate / floor req/s: {ratio:.0%} (target >= 60%); faregate added p50 at c=1: {added:.3f} ms "
        f"(target <= 1 ms): {'PASS' if ok else 'MISS'}"
    )
    if "fg-nolog" in res:
        nl_ratio = statistics.median(n / b for n, b in zip(res["fg-nolog"]["rps"], res["floor"]["rps"]))
        print(
            f"without the request log: {nl_ratio:.0%} of the floor's req/s "
            f"(the SQLite request log costs {1 - ratio / nl_ratio:.0%} of faregate's throughput)"
        )
    if "fg-bare" in res:
        bare = statistics.median(res["fg-bare"]["rps"])
        us = {t: 1e6 * c / n for t, (c, n) in cpu.items() if n}
        print("\nobservability, each alone against fg-bare (metrics, tracing and the access log off):")
        print(f"  CPU per request: fg-bare {us['fg-bare']:.0f} us (one core serves {1e6 / us['fg-bare']:,.0f} req/s)")
        for name, what in (
            ("fg-metrics", "Prometheus metrics"),
            ("fg-trace", "tracing, 100% sampled, to a local OTLP receiver"),
            ("fg-trace10", "tracing, 10% sampled, to a local OTLP receiver"),
            ("fg-json", "the JSON access log (to a file)"),
            ("faregate", "the defaults (metrics and the text access log)"),
        ):
            if name not in res:
                continue
            r = statistics.median(v / b for v, b in zip(res[name]["rps"], res["fg-bare"]["rps"]))
            rps = statistics.median(res[name]["rps"])
            print(
                f"  {name:<11} {what}: {us[name]:.0f} us CPU/request ({us[name] / us['fg-bare'] - 1:+.1%}, "
                f"{1e6 / us[name]:,.0f} vs {1e6 / us['fg-bare']:,.0f} req/s per core); "
                f"measured throughput {rps:,.0f} vs {bare:,.0f} req/s ({r - 1:+.1%})"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--fake":
        run_fake(int(sys.argv[2]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--otlp":
        run_otlp(int(sys.argv[2]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--load":
        run_load(sys.argv[2:])
    else:
        sys.exit(main())
