"""Routing with constraints: the cheapest model whose predicted quality meets min_quality and
whose predicted p95 latency meets max_latency_ms, for this task.

    faregate serve --config examples/fake-providers.yaml
    python examples/constraints.py
"""

import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ.get("FAREGATE_BASE_URL", "http://127.0.0.1:8080/v1"),
    api_key=os.environ.get("FAREGATE_KEY", "fg-demo-key"),
)

raw = client.chat.completions.with_raw_response.create(
    model="auto",
    messages=[{"role": "user", "content": "Is this review positive or negative? 'Arrived broken.'"}],
    # Constraints travel in the body under "faregate" (or as x-faregate-* headers).
    extra_body={"faregate": {"task": "classify", "min_quality": 0.7, "max_latency_ms": 3000}},
)
reply = raw.parse()
print("answer:             ", reply.choices[0].message.content)
for h in (
    "x-faregate-route",
    "x-faregate-model",
    "x-faregate-predicted-quality",
    "x-faregate-predicted-cost-usd",
    "x-faregate-cost-usd",
    "x-request-id",
):
    print(f"{h + ':':<32}", raw.headers.get(h))
