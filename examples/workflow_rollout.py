"""Workflow: what would routing save on past traffic (dry run), then a gradual rollout, then
calibration from the request log.

    faregate serve --config examples/fake-providers.yaml   (after starting the fakes it lists)
    python examples/workflow_rollout.py

FAREGATE_BASE_URL, FAREGATE_KEY, FAREGATE_CONFIG and FAREGATE_DATABASE_URL (the gateway's
request log) default to that setup.
"""

import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from openai import OpenAI

from faregate.analysis.traffic import analyze, read_lines
from faregate.config import load_config

config_path = os.environ.get("FAREGATE_CONFIG", "examples/fake-providers.yaml")
database_url = os.environ.get("FAREGATE_DATABASE_URL", "sqlite:///faregate.db")
client = OpenAI(
    base_url=os.environ.get("FAREGATE_BASE_URL", "http://127.0.0.1:8080/v1"),
    api_key=os.environ.get("FAREGATE_KEY", "fg-demo-key"),
)

# 1. Dry run: past requests that all went to the expensive model, planned as the router would.
prompts = ["Is this review positive? 'Great value.'", "Summarise: the meeting moved to Friday.", "Say hello"]
past = [{"model": "fake-anthropic", "messages": [{"role": "user", "content": p}]} for p in prompts * 10]
lines = [json.dumps(b).encode() for b in past]
res = analyze(read_lines(lines), load_config(config_path), route="auto")
print(f"dry run: {res.requests} past requests, ${res.actual_cost:.6f} as sent, ${res.routed_cost:.6f} with faregate")
print(f"dry run savings: {res.savings_pct:.1f}%")

# 2. Gradual rollout: `rollout-demo` routes half its traffic, the rest goes to the control model.
arms: Counter[str] = Counter()
for i in range(20):
    raw = client.chat.completions.with_raw_response.create(
        model="rollout-demo", messages=[{"role": "user", "content": f"{prompts[i % 3]} ({i})"}]
    )
    arms[raw.headers.get("x-faregate-arm") or "routed"] += 1
print(f"rollout: {arms['routed']} routed, {arms['control']} control")

# 3. Calibration: refit latency and quality per model from what the log recorded.
with tempfile.TemporaryDirectory() as tmp:
    out = Path(tmp) / "calibration.json"
    cmd = [sys.executable, "-m", "faregate", "calibrate", "--from-log", "--database-url", database_url, "-o", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "FAREGATE_CONFIG": config_path})
    calibration = json.loads(out.read_text())
print("calibrated models:", ", ".join(sorted(calibration)))
