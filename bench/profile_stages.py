"""Group a py-spy raw profile of ``faregate serve`` by pipeline stage, in % and us per request.

    py-spy record -p <pid> -d 8 -r 500 -f raw -o fg.txt --nonblocking     # while load runs
    python bench/profile_stages.py fg.txt --cpu-us 430     # the CPU us per request measured then

Each sample is given to the stage of its innermost frame that a rule below names (so a call
from the executor into an adapter counts as translate, and into aiohttp's client as upstream);
frames of asyncio itself are skipped outwards. ``--cpu-us`` spreads the measured CPU per request
over the stages in proportion to their samples (idle samples, the loop waiting in ``select``,
excluded).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

# (stage, regex on one frame "function (path:line)"); the first rule matching the innermost
# frame that any rule matches wins.
RULES: list[tuple[str, str]] = [
    ("idle (select)", r"\((selectors|asyncio/selector_events)\.py:\d+\)$|^select \("),
    ("response write", r"render_response|ChunkRenderer|_ChunkEncoder|encode_reply|encode_error|response_headers"),
    ("response write", r"stream_reply|aiohttp/web_response|aiohttp/http_writer|aiohttp/abc\.py"),
    ("parse", r"decode_json \(faregate/wire/codec"),
    ("validate", r"faregate/wire/(openai_front|input_checks|anthropic_front)|faregate/core/bounds|request_checks"),
    ("validate", r"apply_routing_headers|_cache_header|routing/constraints"),
    ("auth", r"faregate/pipeline/auth_step|faregate/keys/|bearer \(|known_principal"),
    ("limits", r"faregate/pipeline/(limits_step|limits_restore|budgets|charge)|faregate/limits/"),
    ("cache key", r"faregate/pipeline/cache_step|faregate/cache/"),
    ("plan", r"faregate/pipeline/(routing_step|resolve|attempt_picker|experiment_arm|guardrail_step)"),
    ("plan", r"faregate/routing/|faregate/endpoints/(balancer|deployments|breaker|health)|AllowList"),
    ("translate", r"faregate/adapters/"),
    ("upstream call", r"faregate/endpoints/(http|transport)|aiohttp/(client|connector|streams|client_proto)"),
    ("upstream call", r"aiohttp/client_reqrep|yarl/|multidict/"),
    ("log record", r"faregate/pipeline/request_log_step|faregate/storage/|sqlite3"),
    ("observe", r"faregate/pipeline/(observe_step|observe_trace)|faregate/observability/|prometheus_client"),
    ("pipeline glue", r"faregate/pipeline/|faregate/server/front_handler|faregate/core/"),
    ("http server", r"aiohttp/(web_protocol|http_parser|web_request|web_app|web_urldispatcher|helpers|base_protocol)"),
    ("http server", r"aiohttp/web_|aiohttp/_http"),
    ("gc", r"^<gc>|gc_collect"),
]
_RULES = [(stage, re.compile(rx)) for stage, rx in RULES]
_SKIP = re.compile(r"\(asyncio/|\(threading\.py|\(concurrent/")


def classify(frames: list[str]) -> str:
    """The stage of one sample; ``frames`` outermost first (py-spy's raw order)."""
    for frame in reversed(frames):
        for stage, rx in _RULES:
            if rx.search(frame):
                return stage
    inner = frames[-1] if frames else ""
    return "asyncio / other" if _SKIP.search(inner) else "other"


def summarise(path: str) -> tuple[Counter, int, list[tuple[str, int]]]:
    stages: Counter = Counter()
    other: Counter = Counter()
    for line in open(path, encoding="utf-8", errors="replace"):
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if frames and frames[0].startswith("process ") or frames and frames[0].startswith("thread "):
            frames = frames[1:]
        stage = classify(frames)
        stages[stage] += int(count)
        if stage in ("other", "asyncio / other"):
            other[frames[-1] if frames else "?"] += int(count)
    return stages, sum(stages.values()), other.most_common(8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("raw", help="py-spy record -f raw output")
    ap.add_argument("--cpu-us", type=float, default=0.0, help="measured CPU us per request during the profile")
    ap.add_argument("--show-other", action="store_true", help="the innermost frames of unclassified samples")
    a = ap.parse_args()
    stages, total, other = summarise(a.raw)
    busy = total - stages.get("idle (select)", 0)
    print(f"{'stage':<18}{'samples':>9}{'% busy':>9}{'us/request':>12}")
    for stage, n in stages.most_common():
        share = n / busy if busy and stage != "idle (select)" else float("nan")
        us = share * a.cpu_us if a.cpu_us else float("nan")
        print(f"{stage:<18}{n:>9}{share:>9.1%}{us:>12.1f}")
    print(f"{'(busy samples)':<18}{busy:>9}")
    if a.show_other:
        for frame, n in other:
            print(f"  {n:>6}  {frame}")


if __name__ == "__main__":
    main()
