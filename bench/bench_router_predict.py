"""Per-request routing latency: features + embedding + prediction + plan, p50/p99.

    python bench/bench_router_predict.py [--data PATH.jsonl] [--embedder hash|minilm|e5] [-n 2000]

Trains a router on the shared RouterBench file (or --data), then plans real prompts from it one
at a time, as the gateway does for ``model: "auto"``, with the server's BLAS threads and GC settings; "plan with p_meet" is the same plan with
``candidates(..., floor=)`` (calibrated P(quality >= floor) per candidate), interleaved.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from faregate.cli import COMMAND_ENV

for _var, _value in COMMAND_ENV["serve"].items():  # the BLAS threads `faregate serve` runs with
    os.environ.setdefault(_var, _value)

import numpy as np  # noqa: E402

from faregate.routing.data import load_rows  # noqa: E402
from faregate.routing.embed import default_embedder  # noqa: E402
from faregate.routing.features import extract  # noqa: E402
from faregate.routing.model import RouterModel  # noqa: E402
from faregate.routing.policy import choose  # noqa: E402
from faregate.server.serve import tune_gc  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "routing" / "routerbench-0shot-train.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--embedder", default="hash", choices=["hash", "minilm", "e5", "auto"])
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("--default-gc", action="store_true", help="keep Python's default GC (the server tunes it)")
    a = ap.parse_args()
    rows = load_rows(a.data)
    model = RouterModel.fit(rows, embedder=default_embedder(a.embedder))
    if not a.default_gc:
        tune_gc()  # as `faregate serve` does once everything is loaded
    lat = dict.fromkeys(model.models, 1000.0)
    times = {"features": [], "embed+predict+plan": [], "total": [], "plan with p_meet": []}
    for i in range(a.n):
        r = rows[i % len(rows)]
        t0 = time.perf_counter()
        f = extract(r.messages)
        t1 = time.perf_counter()
        choose(model.candidates(f, latency_ms=lat), min_quality=0.85)
        t2 = time.perf_counter()
        times["features"].append(t1 - t0)
        times["embed+predict+plan"].append(t2 - t1)
        times["total"].append(t2 - t0)
        # Interleaved: the same request planned with the chance constraint's calibrated p_meet.
        t3 = time.perf_counter()
        choose(model.candidates(f, latency_ms=lat, floor=0.85), min_quality=0.85)
        times["plan with p_meet"].append(time.perf_counter() - t3)
    print(
        f"router: {len(rows)} training rows, {len(model.models)} models, {len(model.arms)} plans, "
        f"embedder {model.embedder.name}"
    )
    for k, v in times.items():
        v = np.array(v[len(v) // 10 :]) * 1e3  # drop warm-up
        print(f"{k:22s} p50 {np.percentile(v, 50):6.3f} ms   p99 {np.percentile(v, 99):6.3f} ms")


if __name__ == "__main__":
    main()
