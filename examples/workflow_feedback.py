"""Workflow: the feedback loop. Explicit feedback (a score for one answer through the API) and
an implicit signal (the same question asked again soon after: the first answer did not satisfy).

    faregate serve --config examples/fake-providers.yaml   (after starting the fakes it lists)
    python examples/workflow_feedback.py
"""

import json
import os
import urllib.request

from openai import OpenAI

base_url = os.environ.get("FAREGATE_BASE_URL", "http://127.0.0.1:8080/v1")
key = os.environ.get("FAREGATE_KEY", "fg-demo-key")
client = OpenAI(base_url=base_url, api_key=key)


def post(path: str, body: dict) -> dict:
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    req = urllib.request.Request(base_url + path, data=json.dumps(body).encode(), headers=headers, method="POST")
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


# Explicit: score the answer by its request id (only the key that asked may score it).
question = [{"role": "user", "content": "Summarise: the meeting moved to Friday at noon."}]
first = client.chat.completions.create(model="auto", messages=question)
print("answered by:", first.model)
fb = post("/feedback", {"request_id": first.id, "score": 0.2, "comment": "missed the time"})
print(f"explicit feedback: accepted={fb['accepted']} score={fb['score']}")

# Implicit: asking nearly the same thing again within learning.retry_window_s (5 min) tells the
# learner the first answer did not satisfy; nothing to call.
again = [{"role": "user", "content": "Summarise: the meeting moved to Friday at noon!"}]
second = client.chat.completions.create(model="auto", messages=again)
print("retried, answered by:", second.model)

# The scores are in the request log: feedback per model in the analytics summary (master key).
master = os.environ.get("FAREGATE_MASTER_KEY", "fg-demo-master")
req = urllib.request.Request(
    base_url + "/analytics/summary?group_by=model", headers={"authorization": f"Bearer {master}"}
)
with urllib.request.urlopen(req) as r:
    summary = json.loads(r.read())
scored = {g["group"]: g["feedback"] for g in summary["groups"] if g.get("feedback")}
print("feedback in the log:", json.dumps(scored, sort_keys=True))
