"""faregate against the Python floor (a minimal aiohttp pass-through), the five performance
targets from one run, each with PASS or FAIL.

    python bench/bench_proxy.py [--rounds 5] [--seconds 5] [--quick] [--soak-requests N]

Processes: the fake OpenAI upstream of ``harness.py`` (answers at once), the floor
(``passthrough.py``), and ``faregate serve`` as

- ``fg-default``: ``examples/fake-providers.yaml`` as shipped (its OpenAI models pointed at the
  fake), the client key ``fg-demo-key``: the defaults (request log on SQLite, metrics, access log);
- ``fg-cache-db``: the same with the response cache on (memory, then the database; every request
  a new prompt, so every one a miss) and a key created in the database (``faregate keys create``);
- ``fg-auto``: four models and a router trained on the shared RouterBench rows;
- ``--variants``: fg-default with metrics and the access log off (``fg-bare``), metrics alone
  (``fg-metrics``), the JSON access log alone (``fg-json``), no request log (``fg-nolog``);
- ``fg-before`` (``--compare-src DIR``): ``fg-default`` run from another source tree (for A/B of
  a change: CPU per request, interleaved in the same rounds).

Every proxy is pinned alone to the first core (one after the other), the fake and the load
generators to the others. Load: ``wrk -t1 -c50`` for throughput (5-second rounds), ``wrk -c1``
for latency, and a raw asyncio client for time to first byte and each streamed chunk's arrival.
Rounds are interleaved (the order reversed every other round) and every ratio is the median of
per-round ratios. CPU per request of each proxy (``/proc``, every thread) is printed too: on a
shared machine it is far steadier than req/s.

Targets:
1. non-streaming, fg-default and fg-cache-db: >= 80% of the floor's req/s at c=50; added p50 at
   c=1 at most 0.25 ms above the floor's;
2. streaming (50 chunks): added TTFB p50 < 1 ms over direct; chunks forwarded as they arrive (a
   paced stream's chunks reach the client within 1 ms of when they reach it directly, p50); stream
   req/s >= 80% of the floor's;
3. ``model: "auto"`` adds <= 1.5 ms at p50 over a named model;
4. memory: ``soak.py``'s last result (RSS < 150 MiB after its run, < 5% growth over the second
   half); ``--soak-requests N`` runs it first;
5. the request log keeps up at the top rate: queue depth (``/metrics``, sampled during the c=50
   runs) bounded and drained after, ``dropped`` and ``spilled`` 0.
Exits 1 if any target fails.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from harness import (  # noqa: E402
    cpu_s,
    free_port,
    have_wrk,
    load_average,
    pct,
    pin,
    read_response,
    rss_mib,
    run_fake,
    scrape,
    sequential,
    wait_port,
    wrk,
)

_read_response = read_response  # the name bench_cache.py imports
__all__ = ["free_port", "pct", "run_fake", "wait_port", "_read_response"]

KEY = "fg-demo-key"
MSGS = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Say hello in five words. @N@"},
]
PLAIN = {"model": "fake-openai", "messages": MSGS}
STREAM = {"model": "fake-openai", "messages": MSGS, "stream": True}
PACED = {"model": "fake-openai", "stream": True, "messages": [{"role": "user", "content": "paced-stream"}]}
LOG_NAMES = (
    "faregate_request_log_queue_depth",
    "faregate_request_log_dropped",
    "faregate_request_log_spilled",
    "faregate_request_log_written",
)
SOAK_RESULT = Path(tempfile.gettempdir()) / "faregate-soak-last.json"


def default_config(fake: int, port: int) -> dict:
    """``examples/fake-providers.yaml`` as shipped, its OpenAI-wire models sent to the fake."""
    cfg = yaml.safe_load((HERE.parent / "examples/fake-providers.yaml").read_text())
    for m in cfg["models"]:
        if m["provider"] == "openai":
            m["base_url"] = f"http://127.0.0.1:{fake}/v1"
    cfg["server"]["port"] = port
    return cfg


def auto_config(fake: int, port: int, router: Path) -> dict:
    from bench_auto import model_configs

    models = model_configs(fake)
    return {"models": models, "keys": [{"key": KEY}], "router_model": str(router), "learning": {"enabled": False}}


# fg-default with one thing changed (config keys replaced, extra `faregate serve` arguments): what
# each part of the defaults costs, in CPU per request against fg-bare or fg-default.
VARIANTS: dict[str, tuple[dict, tuple[str, ...]]] = {
    "fg-bare": ({"metrics": {"enabled": False}, "access_log": {"enabled": False}}, ()),
    "fg-metrics": ({"access_log": {"enabled": False}}, ()),
    "fg-json": ({"metrics": {"enabled": False}}, ("--log-format", "json")),
    "fg-nolog": ({}, ()),  # started without a database (serve's db None)
    "fg-granian": ({}, ("--server", "granian")),  # the fast extra's server (docs/fast-http.md)
    "fg-granian-rq": ({"http_pool": {"client": "pyreqwest"}}, ("--server", "granian")),  # and pyreqwest
}


class Bench:
    """The processes of one run and what they measured."""

    def __init__(self, a: argparse.Namespace) -> None:
        self.a = a
        self.tmp = Path(tempfile.mkdtemp(prefix="faregate-bench-"))
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        pinned = len(cpus) >= 2 and not a.no_pin
        self.proxy_cpus, self.other_cpus = (cpus[:1], cpus[1:]) if pinned else (None, None)
        self.procs: dict[str, subprocess.Popen] = {}
        self.ports: dict[str, int] = {}
        self.keys: dict[str, str] = {}
        self.sink = open(self.tmp / "access.log", "wb")
        self.env = {k: v for k, v in os.environ.items() if k not in ("FAREGATE_DATABASE_URL", "FAREGATE_ROUTER_MODEL")}
        # per target: req/s per round, CPU seconds and requests, latency samples
        self.rps: dict[str, list[float]] = {}
        self.cpu: dict[str, list[float]] = {}
        self.p50: dict[str, list[float]] = {}
        self.log_depth: dict[str, list[float]] = {}
        self.paced: dict[str, list[list[tuple[float, int]]]] = {}

    # -- processes ---------------------------------------------------------------------------

    def spawn(self, name: str, argv: list[str], port: int, env: dict[str, str], cpus: list[int] | None) -> None:
        self.procs[name] = subprocess.Popen(argv, env=env, cwd=self.tmp, stdout=self.sink)
        self.ports[name] = port
        pin(self.procs[name].pid, cpus)

    def serve(self, name: str, cfg: dict, db: str | None, src: str | None = None, extra: tuple = ()) -> None:
        port = free_port()
        cfg = {**cfg, "server": {**cfg.get("server", {}), "host": "127.0.0.1", "port": port}}
        if not db:
            cfg["database_url"] = ""  # no request log
        path = self.tmp / f"{name}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        env = dict(self.env)
        if db:
            env["FAREGATE_DATABASE_URL"] = f"sqlite:///{self.tmp}/{db}"
        if src:
            env["PYTHONPATH"] = src
        argv = [sys.executable, "-m", "faregate", "serve", "--config", str(path), "--port", str(port), *extra]
        self.spawn(name, argv, port, env, self.proxy_cpus)
        self.keys[name] = KEY

    def db_key(self, db: str) -> str:
        """A key created in the database (the path a real deployment's keys take)."""
        url = f"sqlite:///{self.tmp}/{db}"
        argv = [sys.executable, "-m", "faregate", "keys", "create", "--name", "bench", "--database-url", url]
        out = subprocess.run(argv, env=self.env, cwd=self.tmp, capture_output=True, text=True, check=True)
        return out.stdout.strip().splitlines()[-1].strip()

    def start(self) -> None:
        a = self.a
        fake = free_port()
        self.spawn(
            "direct", [sys.executable, str(HERE / "harness.py"), "--fake", str(fake)], fake, self.env, self.other_cpus
        )
        floor = free_port()
        argv = [
            sys.executable,
            str(HERE / "passthrough.py"),
            "--port",
            str(floor),
            "--upstream",
            f"http://127.0.0.1:{fake}/v1",
        ]
        self.spawn("floor", argv, floor, self.env, self.proxy_cpus)
        self.keys["direct"] = self.keys["floor"] = KEY
        self.serve("fg-default", default_config(fake, 0), "default.db")
        cache = default_config(fake, 0)
        cache["cache"] = {"enabled": True, "layers": ["memory://", "database"]}
        db_key = self.db_key("cache.db")  # before the gateway opens the database
        self.serve("fg-cache-db", cache, "cache.db")
        self.keys["fg-cache-db"] = db_key
        for name in a.variants.split(",") if a.variants else ():
            tweak, extra = VARIANTS[name]
            self.serve(
                name, {**default_config(fake, 0), **tweak}, None if name == "fg-nolog" else f"{name}.db", extra=extra
            )
        if a.compare_src:
            self.serve("fg-before", default_config(fake, 0), "before.db", src=a.compare_src)
        router = a.router_model
        if router is None and a.data.exists():
            from bench_auto import train

            router = self.tmp / "router.model"
            train(router, a.data)
        if router is not None:
            self.serve("fg-auto", auto_config(fake, 0, router), None)
        for name, p in self.procs.items():
            wait_port(self.ports[name], p)
        for name in self.procs:  # warm up: pools, caches, lazy imports
            for body in self.bodies(name, PLAIN), self.bodies(name, STREAM):
                r = wrk(self.ports[name], self.keys[name], body, conns=10, seconds=1, cpus=self.other_cpus)
                if r["non2xx"] or r["socket_errors"]:
                    raise SystemExit(f"{name}: errors while warming up: {r}")

    def bodies(self, name: str, body: dict) -> list[dict]:
        if name == "fg-auto":
            return [{**body, "model": "mixtral"}]
        return [body]

    def stop(self) -> None:
        for p in self.procs.values():
            p.terminate()
        for p in self.procs.values():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        self.sink.close()

    # -- measurements ------------------------------------------------------------------------

    def throughput(self, label: str, name: str, body: dict, sample_log: bool = False) -> None:
        """One c=50 run: req/s for the round, CPU per request, the log queue sampled meanwhile."""
        pid = self.procs[name].pid
        stop = threading.Event()
        depths: list[float] = []

        def sampler() -> None:
            while not stop.wait(0.5):
                depths.append(scrape(self.ports[name], LOG_NAMES[:1]).get(LOG_NAMES[0], 0.0))

        th = threading.Thread(target=sampler, daemon=True) if sample_log else None
        c0 = cpu_s(pid)
        if th:
            th.start()
        r = wrk(
            self.ports[name],
            self.keys[name],
            self.bodies(name, body),
            conns=50,
            seconds=self.a.seconds,
            cpus=self.other_cpus,
        )
        stop.set()
        if th:
            th.join()
        used = cpu_s(pid) - c0
        if r["non2xx"] or r["socket_errors"]:
            raise SystemExit(f"{label}: errors {r}")
        self.rps.setdefault(label, []).append(r["rps"])
        acc = self.cpu.setdefault(label, [0.0, 0.0])
        acc[0] += used
        acc[1] += r["requests"]
        if sample_log:
            self.log_depth.setdefault(name, []).extend(depths)

    def latency(self, label: str, name: str, body: dict) -> None:
        r = wrk(
            self.ports[name],
            self.keys[name],
            self.bodies(name, body),
            conns=1,
            seconds=self.a.c1_seconds,
            cpus=self.other_cpus,
        )
        if r["non2xx"] or r["socket_errors"]:
            raise SystemExit(f"{label}: errors {r}")
        self.p50.setdefault(label, []).append(r["p50"])

    def stream_first(self, name: str) -> None:
        """TTFB of instant 50-chunk streams, and each paced chunk's arrival, at c=1."""
        key, port = self.keys[name], self.ports[name]
        first = sequential(HERE, port, key, {**STREAM, "messages": MSGS[:1]}, self.a.ttfb_requests, self.other_cpus)
        self.p50.setdefault(f"{name}/ttfb", []).extend(arr[0][0] for arr in first)
        paced = sequential(HERE, port, key, PACED, self.a.paced_requests, self.other_cpus)
        self.paced.setdefault(name, []).extend(words for _, words in paced)

    def round(self, rnd: int) -> None:
        flip = (lambda xs: xs) if rnd % 2 == 0 else (lambda xs: xs[::-1])
        plain = [n for n in ("floor", "fg-default", "fg-cache-db", "fg-before", *VARIANTS) if n in self.procs]
        for n in flip(plain):
            self.throughput(n, n, PLAIN, sample_log=n.startswith("fg-"))
        for n in flip([n for n in ("floor", "fg-default", "fg-before", "fg-granian") if n in self.procs]):
            self.throughput(f"{n}/stream", n, STREAM)
        for n in flip(
            [n for n in ("direct", "floor", "fg-default", "fg-cache-db", "fg-before", "fg-granian") if n in self.procs]
        ):
            self.latency(n, n, PLAIN)
        for n in flip([n for n in ("direct", "floor", "fg-default", "fg-before", "fg-granian") if n in self.procs]):
            self.stream_first(n)
        if "fg-auto" in self.procs:
            for kind in flip(["named", "auto"]):
                body = {**PLAIN, "model": "mixtral" if kind == "named" else "auto"}
                r = wrk(self.ports["fg-auto"], KEY, [body], conns=1, seconds=self.a.c1_seconds, cpus=self.other_cpus)
                self.p50.setdefault(f"auto/{kind}", []).append(r["p50"])
        line = ", ".join(f"{k} {v[-1]:,.0f}" for k, v in self.rps.items())
        print(f"round {rnd + 1}: req/s {line}; load {load_average()}", flush=True)

    def profile(self, name: str, seconds: float, keep: Path | None = None) -> None:
        """py-spy on ``name`` during one more c=50 run; the stage summary of ``profile_stages.py``.

        ``keep``: where to copy py-spy's raw profile (one line per stack) for reading by function.
        """
        import shutil

        from profile_stages import main as stages

        if shutil.which("py-spy") is None:
            print("py-spy is not installed (pip install py-spy): no profile")
            return
        out = self.tmp / f"{name}.pyspy.txt"
        argv = ["py-spy", "record", "-p", str(self.procs[name].pid), "-d", str(round(seconds)), "-r", "500"]
        spy = subprocess.Popen(
            [*argv, "-f", "raw", "-o", str(out), "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        pin(spy.pid, self.other_cpus)
        label = f"{name}/profiled"
        self.throughput(label, name, PLAIN)
        spy.wait(30)
        if keep is not None:
            shutil.copyfile(out, keep)
        c, n = self.cpu.pop(label)
        self.rps.pop(label)
        print(f"\nprofile of {name} (py-spy, 500 Hz, {n:,.0f} requests, {1e6 * c / n:.0f} us CPU/request):")
        sys.argv = ["profile_stages", str(out), "--cpu-us", f"{1e6 * c / n:.1f}"]
        stages()

    def log_state(self) -> dict[str, dict[str, float]]:
        time.sleep(2.0)  # a flush interval or a few: what is left queued after the load stopped
        return {n: scrape(self.ports[n], LOG_NAMES) for n in ("fg-default", "fg-cache-db")}


def _ratios(b: Bench, num: str, den: str) -> list[float]:
    return [x / y for x, y in zip(b.rps[num], b.rps[den])]


def _paced_added(b: Bench, name: str, first_only: bool = False) -> tuple[float, float]:
    """Each paced chunk's arrival through ``name`` minus the same chunk's direct (matched by the
    fake's content word), p50 and p90 in ms; ``first_only``: the first content chunk alone."""
    at: dict[int, list[float]] = {}
    for words in b.paced["direct"]:
        for t, i in words:
            at.setdefault(i, []).append(t)
    direct = {i: statistics.median(ts) for i, ts in at.items()}
    added = [t - direct[i] for words in b.paced[name] for t, i in words if i in direct and (i == 0 or not first_only)]
    return pct(added, 0.5) * 1000, pct(added, 0.9) * 1000


def report(b: Bench, log: dict[str, dict[str, float]], soak: dict | None) -> bool:
    ms = 1000.0
    us = {k: 1e6 * c / n for k, (c, n) in b.cpu.items() if n}
    print("\nper-round req/s ratios (c=50):")
    for num, den in (
        ("fg-default", "floor"),
        ("fg-cache-db", "floor"),
        ("fg-before", "floor"),
        ("fg-default/stream", "floor/stream"),
        ("fg-before/stream", "floor/stream"),
        ("fg-default", "fg-before"),
        ("fg-default/stream", "fg-before/stream"),
    ):
        if num in b.rps and den in b.rps:
            rs = _ratios(b, num, den)
            print(f"  {num:<18} / {den:<13} {', '.join(f'{r:.0%}' for r in rs)}  median {statistics.median(rs):.0%}")
    print("\nCPU per request of the proxy process (us), and what one core could serve:")
    for k, v in us.items():
        print(
            f"  {k:<18} {v:7.0f} us  ({1e6 / v:,.0f} req/s per core); median req/s {statistics.median(b.rps[k]):,.0f}"
        )
    p50 = {
        k: statistics.median(v)
        for k, v in b.p50.items()
        if k in ("direct", "floor", "fg-default", "fg-cache-db", "fg-before")
    }
    print("\np50 at c=1 (ms, median of rounds): " + ", ".join(f"{k} {v * ms:.3f}" for k, v in p50.items()))
    if "fg-before" in b.p50:
        diffs = [(x - y) * ms for x, y in zip(b.p50["fg-default"], b.p50["fg-before"])]
        print(
            "  fg-default - fg-before per round (ms): "
            + ", ".join(f"{d:+.3f}" for d in diffs)
            + f"  median {statistics.median(diffs):+.3f}"
        )
    firsts = {
        n: pct(b.p50[f"{n}/ttfb"], 0.5) for n in ("direct", "floor", "fg-default", "fg-before") if f"{n}/ttfb" in b.p50
    }
    print("TTFB p50 of one-segment streams (ms): " + ", ".join(f"{k} {v * ms:.3f}" for k, v in firsts.items()))
    verdicts: list[tuple[str, bool, str]] = []
    floor_added = p50["floor"] - p50["direct"]
    for name in ("fg-default", "fg-cache-db"):
        ratio = statistics.median(_ratios(b, name, "floor"))
        extra = (p50[name] - p50["direct"] - floor_added) * ms
        verdicts.append(
            (
                f"1 non-streaming {name}",
                ratio >= 0.80 and extra <= 0.25,
                f"{ratio:.0%} of floor req/s (>= 80%); added p50 c=1 {(p50[name] - p50['direct']) * ms:.3f} ms, "
                f"{extra:+.3f} ms over the floor's {floor_added * ms:.3f} (<= +0.25)",
            )
        )
    ttfb = {n: pct(b.p50[f"{n}/ttfb"], 0.5) for n in ("direct", "floor", "fg-default")}
    t_added = (ttfb["fg-default"] - ttfb["direct"]) * ms
    c50, c90 = _paced_added(b, "fg-default")
    p_added, _ = _paced_added(b, "fg-default", first_only=True)
    f50, _ = _paced_added(b, "floor")
    s_ratio = statistics.median(_ratios(b, "fg-default/stream", "floor/stream"))
    verdicts.append(
        (
            "2 streaming",
            t_added < 1.0 and c50 < 1.0 and s_ratio >= 0.80,
            f"added TTFB p50 {t_added:.3f} ms for a whole stream in one segment, {p_added:.3f} ms for a paced stream's "
            f"first chunk (< 1 both; floor {(ttfb['floor'] - ttfb['direct']) * ms:.3f}); paced chunks "
            f"arrive {c50:.3f} ms p50 / {c90:.3f} p90 after direct (< 1; floor {f50:.3f}); stream req/s {s_ratio:.0%} of floor (>= 80%)",
        )
    )
    if "auto/auto" in b.p50:
        d = (statistics.median(b.p50["auto/auto"]) - statistics.median(b.p50["auto/named"])) * ms
        verdicts.append(("3 auto routing", d <= 1.5, f"auto adds {d:.3f} ms at p50 over a named model (<= 1.5)"))
    else:
        verdicts.append(("3 auto routing", False, "not measured: no routing data (--data) or --router-model"))
    if soak:
        verdicts.append(
            (
                "4 memory",
                bool(soak["pass"]),
                f"soak of {soak['requests']:,} requests ({soak['when']}): RSS {soak['rss_end_mib']:.1f} MiB (< 150), "
                f"second half {soak['growth_second_half']:+.1%} (< 5%)"
                + ("" if soak["requests"] >= 1_000_000 else "; SHORT run, the target is 1M"),
            )
        )
    else:
        verdicts.append(("4 memory", False, f"no soak result ({SOAK_RESULT}): run bench/soak.py or --soak-requests"))
    ok_log, parts = True, []
    for n, s in log.items():
        depth = max(b.log_depth.get(n, [0.0]))
        good = (
            s.get(LOG_NAMES[1], 1) == 0
            and s.get(LOG_NAMES[2], 1) == 0
            and depth < 5000
            and s.get(LOG_NAMES[0], 1e9) <= 256
        )
        ok_log &= good
        parts.append(
            f"{n}: max depth {depth:.0f} (< 5,000 of 50,000), {s.get(LOG_NAMES[0], -1):.0f} left after 2 s, "
            f"dropped {s.get(LOG_NAMES[1], -1):.0f}, spilled {s.get(LOG_NAMES[2], -1):.0f}, written {s.get(LOG_NAMES[3], -1):,.0f}"
        )
    verdicts.append(("5 request log", ok_log, "; ".join(parts)))
    print(f"\ntargets (load average now {load_average()}):")
    for name, good, text in verdicts:
        print(f"  {'PASS' if good else 'FAIL'}  {name}: {text}")
    return all(good for _, good, _ in verdicts)


def run_soak(a: argparse.Namespace) -> None:
    argv = [
        sys.executable,
        str(HERE / "soak.py"),
        "--requests",
        str(a.soak_requests),
        "--max-seconds",
        str(a.soak_seconds),
    ]
    subprocess.run(argv, check=False)


def main() -> int:
    ap = argparse.ArgumentParser(description="faregate vs a minimal aiohttp pass-through: the five targets")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    ap.add_argument("--seconds", type=float, default=5.0, help="seconds per c=50 run")
    ap.add_argument("--c1-seconds", type=float, default=2.0, help="seconds per c=1 run")
    ap.add_argument("--ttfb-requests", type=int, default=100, help="instant streams per round for TTFB")
    ap.add_argument("--paced-requests", type=int, default=5, help="paced streams (50 chunks, 2 ms apart) per round")
    ap.add_argument("--quick", action="store_true", help="a smoke test: one round of 2 s runs")
    ap.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    ap.add_argument("--variants", default="", help=f"also measure these fg-default variants: {', '.join(VARIANTS)}")
    ap.add_argument("--compare-src", help="also run fg-default from this source tree (its src/ folder)")
    ap.add_argument("--router-model", type=Path, help="a trained router to use (default: train one on --data)")
    ap.add_argument(
        "--data", type=Path, default=HERE.parent.parent / "shared/data/routing/routerbench-0shot-train.jsonl"
    )
    ap.add_argument(
        "--soak-requests",
        type=int,
        default=0,
        help="run soak.py with this many requests first (0: read its last result)",
    )
    ap.add_argument("--profile", type=float, default=0.0, help="seconds of py-spy on fg-default after the rounds")
    ap.add_argument("--profile-out", type=Path, help="keep py-spy's raw profile of --profile at this path")
    ap.add_argument("--profile-target", default="fg-default", help="what --profile samples (fg-default or a variant)")
    ap.add_argument("--soak-seconds", type=float, default=900.0, help="time bound of that soak")
    a = ap.parse_args()
    if a.quick:
        a.rounds, a.seconds, a.c1_seconds, a.ttfb_requests, a.paced_requests = 1, 2.0, 1.0, 50, 3
    if not have_wrk():
        raise SystemExit("wrk is needed (apt-get install wrk)")
    if a.soak_requests:
        run_soak(a)
    soak = json.loads(SOAK_RESULT.read_text()) if SOAK_RESULT.exists() else None
    b = Bench(a)
    print(f"load average at start {load_average()}; proxies pinned to {b.proxy_cpus}", flush=True)
    try:
        b.start()
        t0 = time.perf_counter()
        for rnd in range(a.rounds):
            b.round(rnd)
        log = b.log_state()
        if a.profile:
            b.profile(a.profile_target, a.profile, a.profile_out)
        rss = {n: rss_mib(p.pid) for n, p in b.procs.items()}
    finally:
        b.stop()
    print(
        f"{a.rounds} rounds in {time.perf_counter() - t0:.0f} s; RSS MiB: "
        + ", ".join(f"{k} {v:.0f}" for k, v in rss.items())
    )
    return 0 if report(b, log, soak) else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--fake":
        run_fake(int(sys.argv[2]))
    else:
        sys.exit(main())
