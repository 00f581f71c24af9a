"""The fleet through nginx: req/s and p99 for 1, 2 and 3 replicas, and what Redis and the
database cost each request.

    python bench/bench_cluster.py [--quick] [--rounds 4] [--seconds 4] [--concurrency 32]

Needs nginx, PostgreSQL (``FAREGATE_TEST_PG``, default postgres@127.0.0.1:5432/test; a fresh
database ``fg_bench_<random>`` is created and dropped) and Redis (``FAREGATE_TEST_REDIS_URL``).
Starts a fake OpenAI provider (``faregate fake-provider``) and three clusters
(``faregate cluster up --replicas 1|2|3``) at once, each on its own state dir, then measures
them in interleaved rounds (1, 2, 3, 1, 2, 3, ...) so drift on a shared machine hits all alike.
The load comes from this process (aiohttp, ``--concurrency`` requests in flight), non-streaming
chat on a key with an rpm limit (so every request reserves and reconciles in Redis) and the
request log on PostgreSQL.

Per request it also prints the replicas' CPU time (``/proc/<pid>/stat``), the Redis server's
time in the commands it ran (``INFO commandstats``, server-wide: colleagues on a shared Redis
inflate it) and PostgreSQL's active time in the bench's own database
(``pg_stat_database.active_time``), and the share of Redis + database in their sum.
On a 2-core machine the load generator, nginx, the fake provider and every replica share two
cores: more replicas add processes, not cores, so req/s cannot scale past the first core.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import yaml

PG_ADMIN = os.environ.get("FAREGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("FAREGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TICK = os.sysconf("SC_CLK_TCK")


async def pg(sql: str, url: str = PG_ADMIN):
    import asyncpg

    conn = await asyncpg.connect(url, timeout=5)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def cpu_s(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / TICK


async def redis_usec() -> float:
    import redis.asyncio as redis

    r = redis.from_url(REDIS_URL)
    try:
        stats = await r.info("commandstats")
    finally:
        await r.aclose()
    return float(sum(v.get("usec", 0) for v in stats.values() if isinstance(v, dict)))


async def load(url: str, key: str, seconds: float, concurrency: int) -> list[float]:
    body = {"model": "fake", "messages": [{"role": "user", "content": "hello"}]}
    headers = {"Authorization": f"Bearer {key}"}
    lat: list[float] = []
    end = time.monotonic() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:

        async def worker() -> None:
            while time.monotonic() < end:
                t = time.perf_counter()
                async with s.post(url + "/v1/chat/completions", json=body, headers=headers) as r:
                    await r.read()
                    if r.status != 200:
                        raise RuntimeError(f"status {r.status}: {(await r.text())[:200]}")
                lat.append(time.perf_counter() - t)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return lat


def cluster_up(n: int, cfg: Path, state: Path, env: dict[str, str]) -> tuple[str, list[int]]:
    out = subprocess.run(
        [sys.executable, "-m", "faregate", "cluster", "up", "--replicas", str(n), "--config", str(cfg)]
        + ["--state-dir", str(state)],
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
        check=True,
    ).stdout
    pids = [int(line.split("(pid ")[1].split(",")[0]) for line in out.splitlines() if "(pid " in line]
    return out.strip().splitlines()[-1], pids


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--concurrency", type=int, default=32)
    a = ap.parse_args()
    if a.quick:
        a.rounds, a.seconds = 2, 2.0
    if not (shutil.which("nginx") or os.access("/usr/sbin/nginx", os.X_OK)):
        sys.exit("nginx is not installed (apt-get install nginx)")
    name = "fg_bench_" + uuid.uuid4().hex[:10]
    await pg(f"CREATE DATABASE {name}")
    db_url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    tmp = Path(tempfile.mkdtemp(prefix="fg-bench-cluster-"))
    fake_port = 20000 + secrets.randbelow(20000)
    fake = subprocess.Popen(
        [sys.executable, "-m", "faregate", "fake-provider", "--port", str(fake_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    key = "fg-bench-" + secrets.token_hex(8)
    cfg = {
        "models": [
            {
                "name": "fake",
                "provider": "openai",
                "model": "gpt-4o-mini",
                "base_url": f"http://127.0.0.1:{fake_port}/v1",
                "api_key": "sk-fake",
                "prices": {"input": 1.0, "output": 2.0},
            }
        ],
        "keys": [{"key": key, "limits": {"rpm": 100_000_000}}],
        "learning": {"enabled": False},
    }
    path = tmp / "faregate.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "FAREGATE_DATABASE_URL": db_url, "FAREGATE_REDIS_URL": REDIS_URL}
    env["FAREGATE_LOG_LEVEL"] = "warning"
    clusters: dict[int, tuple[str, list[int]]] = {}
    try:
        for n in (1, 2, 3):
            clusters[n] = cluster_up(n, path, tmp / f"c{n}", env)
        for url, _ in clusters.values():  # warm-up
            await load(url, key, 1.0, a.concurrency)
        res: dict[int, dict[str, list[float]]] = {
            n: {"rps": [], "p99": [], "cpu": [], "redis": [], "db": []} for n in clusters
        }
        for _ in range(a.rounds):
            for n, (url, pids) in clusters.items():
                c0, r0 = cpu_s(pids), await redis_usec()
                d0 = float(await pg(f"SELECT active_time FROM pg_stat_database WHERE datname = '{name}'") or 0)
                t0 = time.monotonic()
                lat = await load(url, key, a.seconds, a.concurrency)
                wall = time.monotonic() - t0
                await asyncio.sleep(0.5)  # the log writer's last batch
                d1 = float(await pg(f"SELECT active_time FROM pg_stat_database WHERE datname = '{name}'") or 0)
                c1, r1 = cpu_s(pids), await redis_usec()
                k = len(lat)
                res[n]["rps"].append(k / wall)
                res[n]["p99"].append(statistics.quantiles(lat, n=100)[98] * 1000)
                res[n]["cpu"].append((c1 - c0) / k * 1000)
                res[n]["redis"].append((r1 - r0) / k / 1000)
                res[n]["db"].append((d1 - d0) / k)
        print(f"cores: {os.cpu_count()}  load average: {os.getloadavg()[0]:.1f}  concurrency {a.concurrency}")
        print("replicas  req/s  p99 ms  | per request: replica CPU ms  Redis ms  DB ms  Redis+DB share")
        for n, r in res.items():
            med = {m: statistics.median(v) for m, v in r.items()}
            share = (med["redis"] + med["db"]) / (med["cpu"] + med["redis"] + med["db"])
            print(
                f"{n:8d} {med['rps']:6.0f} {med['p99']:7.1f}  | {med['cpu']:26.3f} {med['redis']:9.3f}"
                f" {med['db']:6.3f} {share:10.1%}"
            )
    finally:
        for n in clusters:
            subprocess.run(
                [sys.executable, "-m", "faregate", "cluster", "down", "--state-dir", str(tmp / f"c{n}")],
                env=env,
                capture_output=True,
            )
        fake.terminate()
        fake.wait(10)
        await pg(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
