"""The response cache: what a hit adds, what the lookup costs on a miss, semantic lookup time,
memory per entry.

    python bench/bench_cache.py            # about 3 minutes; exits 1 when a target is missed
    python bench/bench_cache.py --quick    # a smoke test

Processes: the raw asyncio fake upstream of ``bench_proxy.py`` (answers at once), two
``faregate serve`` with the same config (request log in SQLite) except the cache: ``cache-on``
with the layers of ``examples/cache.yaml`` (memory, then the request-log database) and
``cache-off``; a raw keep-alive load generator in its own process.

1. Hit latency, concurrency 1: the same request over and over (after one miss fills it) to
   ``cache-on``, and straight to the fake. Printed: the direct p50/p99, the hit's, and the
   latency a hit adds over a direct call (which any proxy adds; a hit skips the upstream).
2. Miss cost: every request a new prompt (all misses, each goes upstream and is stored), 16
   connections, ``cache-on`` and ``cache-off`` in many short ABBA rounds; the req/s ratio is the
   median of the per-round ratios. Target: cache-on keeps >= 95% of cache-off's req/s. Also
   printed: each server's CPU per request (from /proc, all its threads), whose ratio is the
   throughput the CPU allows and moves far less with other load on the machine.
3. Semantic lookup (in process): one scope holding 10k, then 100k prompts; p50/p99 of
   ``SemanticIndex.nearest``. Target: p99 < 5 ms at 100k.
4. Memory per entry (in process): the memory layer's bytes per typical answer, and the
   semantic index's per prompt (tracemalloc).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from bench_proxy import _read_response, free_port, pct, run_fake, wait_port  # noqa: E402

KEY = "fg-bench-key"
CONFIG = """\
server: {{host: 127.0.0.1, port: {port}}}
keys: [{{key: {key}}}]
learning: {{enabled: false}}
cascades: false
database_url: sqlite:///{db}
models:
  - name: bench
    provider: openai
    model: gpt-4o-mini
    base_url: http://127.0.0.1:{fake}/v1
    api_key: fake-upstream-key
    prices: {{input: 0.15, output: 0.60}}
cache:
  enabled: {enabled}
  layers: {layers}
"""


def body(i: int | None) -> bytes:
    text = "Say hello in five words." if i is None else f"Question number {i}: say hello in five words."
    return json.dumps(
        {"model": "bench", "temperature": 0, "messages": [{"role": "user", "content": text}], "max_tokens": 20}
    ).encode()


async def _load(port: int, path: str, n: int, concurrency: int, unique: bool, seed: int) -> dict:
    lat: list[float] = []
    errors = 0
    counter = iter(range(seed, seed + n))
    left = n

    def request() -> bytes:
        b = body(next(counter) if unique else None)
        return (
            f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nauthorization: Bearer {KEY}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(b)}\r\n\r\n"
        ).encode() + b

    async def worker() -> None:
        nonlocal left, errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while left > 0:
                left -= 1
                req = request()
                t0 = time.perf_counter()
                writer.write(req)
                status, _ = await _read_response(reader, t0)
                lat.append(time.perf_counter() - t0)
                errors += status != 200
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {"lat": lat, "elapsed": time.perf_counter() - t0, "errors": errors}


def load(port: int, path: str, n: int, concurrency: int, *, unique: bool, seed: int = 0) -> dict:
    cmd = [sys.executable, __file__, "--load", str(port), path, str(n), str(concurrency), str(int(unique)), str(seed)]
    out = subprocess.run(cmd, capture_output=True, check=True, timeout=600).stdout
    return json.loads(out)


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used: a per-request cost that
    other load on the machine does not inflate the way wall-clock throughput is."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def serve(cfg: Path, port: int, cwd: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAREGATE_")}
    return subprocess.Popen(
        [sys.executable, "-m", "faregate", "serve", "--config", str(cfg), "--port", str(port)],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def http_figures(a: argparse.Namespace) -> dict:
    tmp = tempfile.mkdtemp(prefix="faregate-bench-cache-")
    fake, on, off = free_port(), free_port(), free_port()
    procs = {"fake": subprocess.Popen([sys.executable, __file__, "--fake", str(fake)])}
    try:
        for name, port, enabled in (("cache-on", on, "true"), ("cache-off", off, "false")):
            cfg = Path(tmp) / f"{name}.yaml"
            db, layers = f"{tmp}/{name}.db", json.dumps(a.layers)
            cfg.write_text(CONFIG.format(port=port, key=KEY, fake=fake, db=db, enabled=enabled, layers=layers))
            procs[name] = serve(cfg, port, tmp)
        for name, port in (("fake", fake), ("cache-on", on), ("cache-off", off)):
            wait_port(port, procs[name])
        time.sleep(1.0)
        for port in (on, off):  # warm up: pools, lazy imports, the first entry
            load(port, "/v1/chat/completions", 200, 4, unique=True, seed=10_000_000 + port)
            load(port, "/v1/chat/completions", 200, 1, unique=False)
        out: dict = {}
        direct = load(fake, "/v1/chat/completions", a.latency, 1, unique=False)["lat"]
        hits = load(on, "/v1/chat/completions", a.latency, 1, unique=False)["lat"]
        out["direct_p50_ms"], out["direct_p99_ms"] = pct(direct, 0.5) * 1e3, pct(direct, 0.99) * 1e3
        out["hit_p50_ms"], out["hit_p99_ms"] = pct(hits, 0.5) * 1e3, pct(hits, 0.99) * 1e3
        out |= miss_rounds(a, {"cache-on": procs["cache-on"], "cache-off": procs["cache-off"]}, on, off)
        return out
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            p.wait(10)


def miss_rounds(a: argparse.Namespace, procs: dict, on: int, off: int) -> dict:
    """All misses, ``cache-on`` and ``cache-off`` in ABBA rounds: req/s and the server's CPU
    per request, each as the median of the per-round on/off ratios."""
    ratios, cpu_ratios, rps = [], [], {"cache-on": [], "cache-off": []}
    cpu: dict[str, list[float]] = {"cache-on": [], "cache-off": []}
    seed = 0
    for r in range(a.rounds):
        order = [("cache-on", on), ("cache-off", off)]
        if r % 2:
            order.reverse()
        got, used = {}, {}
        for name, port in order:
            c0 = cpu_s(procs[name].pid)
            res = load(port, "/v1/chat/completions", a.requests, 16, unique=True, seed=seed)
            used[name] = (cpu_s(procs[name].pid) - c0) / a.requests * 1e6
            seed += a.requests
            if res["errors"]:
                raise SystemExit(f"{name}: {res['errors']} failed requests")
            got[name] = a.requests / res["elapsed"]
            rps[name].append(got[name])
            cpu[name].append(used[name])
        ratios.append(got["cache-on"] / got["cache-off"])
        cpu_ratios.append(used["cache-off"] / used["cache-on"])
        print(
            f"  round {r + 1:2d}: cache-on {got['cache-on']:5.0f} req/s {used['cache-on']:4.0f} us CPU/req,"
            f" cache-off {got['cache-off']:5.0f} req/s {used['cache-off']:4.0f} us CPU/req"
        )
    return {
        "miss_rps_on": statistics.median(rps["cache-on"]),
        "miss_rps_off": statistics.median(rps["cache-off"]),
        "miss_ratio": statistics.median(ratios),
        "miss_cpu_on": statistics.median(cpu["cache-on"]),
        "miss_cpu_off": statistics.median(cpu["cache-off"]),
        "miss_cpu_ratio": statistics.median(cpu_ratios),
    }


WORDS = (
    "refund order invoice password reset account shipping delivery weather summary translate "
    "email meeting schedule report budget travel hotel flight recipe dinner code bug deploy "
    "server database query cache latency routing model price token stream answer question"
).split()


def prompt(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14))) + "?"


def semantic_figures(sizes: list[int], lookups: int) -> dict:
    from faregate.cache.semantic import SemanticIndex
    from faregate.routing.embed import HashEmbedder

    rng = random.Random(7)
    out: dict = {}
    idx = SemanticIndex(HashEmbedder(), max_entries=max(sizes))
    have = 0
    for size in sizes:
        batch = [(f"k{i}", prompt(rng)) for i in range(have, size)]
        for i in range(0, len(batch), 2000):
            idx.add_many("scope", batch[i : i + 2000], 3600)
        have = size
        times = []
        for _ in range(lookups):
            q = prompt(rng)
            t0 = time.perf_counter()
            idx.nearest("scope", q, 0.9)
            times.append(time.perf_counter() - t0)
        out[size] = (pct(times, 0.5) * 1e3, pct(times, 0.99) * 1e3)
    return out


def memory_figures(n: int = 20_000) -> dict:
    from faregate.cache.entry import CachedAnswer
    from faregate.cache.layer import Meta
    from faregate.cache.memory import MemoryLayer
    from faregate.cache.semantic import SemanticIndex
    from faregate.core.types import ChatResponse
    from faregate.core.usage import Usage
    from faregate.routing.embed import HashEmbedder

    answer = "A typical short answer of a couple of sentences, about two hundred characters long. " * 2
    la = MemoryLayer(1 << 31)
    resp = ChatResponse(id="x", model="bench", content=answer, usage=Usage(120, 40))
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    for i in range(n):
        raw = CachedAnswer.of(resp, model="bench", cost_usd=4.2e-5, request_id=f"req_{i:024x}", prompt="").to_bytes()
        la.set_now(f"{'a' * 12}.{'b' * 12}.{i:040d}", raw, 3600, Meta("a" * 12, "bench", f"req_{i:024x}"))
    mem = tracemalloc.get_traced_memory()[0] - start
    tracemalloc.stop()
    rng = random.Random(3)
    idx = SemanticIndex(HashEmbedder(), max_entries=n)
    items = [(f"{'a' * 12}.{'b' * 12}.{i:040d}", prompt(rng)) for i in range(n)]
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    for i in range(0, n, 2000):
        idx.add_many("scope", items[i : i + 2000], 3600)
    sem = tracemalloc.get_traced_memory()[0] - start  # the index's own part (the texts are shared)
    tracemalloc.stop()
    return {"entry_bytes": len(raw), "memory_per_entry": mem / n, "semantic_per_entry": sem / n}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=16, help="ABBA rounds of the miss-cost run")
    ap.add_argument("--requests", type=int, default=1000, help="requests per miss-cost run")
    ap.add_argument("--latency", type=int, default=1000, help="requests per concurrency-1 run")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument(
        "--layers", nargs="+", default=["memory://", "database"], help="cache layers (default: examples/cache.yaml's)"
    )
    a = ap.parse_args()
    sizes = [10_000, 100_000]
    if a.quick:
        a.rounds, a.requests, a.latency, sizes = 4, 500, 300, [10_000]
    h = http_figures(a)
    print("\nhit latency, concurrency 1 (ms)      p50      p99")
    print(f"  direct to the fake            {h['direct_p50_ms']:8.3f} {h['direct_p99_ms']:8.3f}")
    print(f"  cache hit through faregate    {h['hit_p50_ms']:8.3f} {h['hit_p99_ms']:8.3f}")
    add50, add99 = h["hit_p50_ms"] - h["direct_p50_ms"], h["hit_p99_ms"] - h["direct_p99_ms"]
    print(f"  added by a hit                {add50:8.3f} {add99:8.3f}")
    print("\nmiss cost, all misses, 16 connections (median req/s)")
    print(f"  cache-off {h['miss_rps_off']:.0f}   cache-on {h['miss_rps_on']:.0f}   on/off {h['miss_ratio']:.3f}")
    print(
        f"  server CPU per request: cache-off {h['miss_cpu_off']:.0f} us, cache-on {h['miss_cpu_on']:.0f} us;"
        f" throughput the CPU allows, on/off {h['miss_cpu_ratio']:.3f}"
    )
    sem = semantic_figures(sizes, 300 if a.quick else 1000)
    print("\nsemantic lookup, one scope (ms)   p50      p99")
    for size, (p50, p99) in sem.items():
        print(f"  {size:>7,} prompts             {p50:7.3f}  {p99:7.3f}")
    m = memory_figures(5_000 if a.quick else 20_000)
    print("\nmemory per entry")
    print(f"  stored answer {m['entry_bytes']} B; memory layer {m['memory_per_entry']:.0f} B/entry;", end=" ")
    print(f"semantic index {m['semantic_per_entry']:.0f} B/prompt")
    ok = h["miss_ratio"] >= 0.95 and (100_000 not in sem or sem[100_000][1] < 5.0)
    print(f"\n{'PASS' if ok else 'MISS'}: miss cost on/off >= 0.95, semantic p99 < 5 ms at 100k")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--fake":
        run_fake(int(sys.argv[2]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--load":
        port, path, n, conc, unique, seed = sys.argv[2:8]
        sys.stdout.write(json.dumps(asyncio.run(_load(int(port), path, int(n), int(conc), unique == "1", int(seed)))))
    else:
        sys.exit(main())
