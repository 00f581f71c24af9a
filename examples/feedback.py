"""Tell faregate how good an answer was: the router learns which model each kind of request needs.

faregate serve --config examples/fake-providers.yaml
python examples/feedback.py
"""

import json
import os
import urllib.request

from openai import OpenAI

base_url = os.environ.get("FAREGATE_BASE_URL", "http://127.0.0.1:8080/v1")
key = os.environ.get("FAREGATE_KEY", "fg-demo-key")
client = OpenAI(base_url=base_url, api_key=key)

reply = client.chat.completions.create(
    model="auto", messages=[{"role": "user", "content": "Summarise: the meeting moved to Friday."}]
)
request_id = reply.id  # also in the x-request-id response header
print("answer:", reply.choices[0].message.content)

# Feedback is accepted only from the key that made the request: a score in [0, 1], or thumbs up/down.
body = {"request_id": request_id, "score": 0.9, "comment": "accurate and short"}
req = urllib.request.Request(
    f"{base_url}/feedback",
    data=json.dumps(body).encode(),
    method="POST",
    headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
)
with urllib.request.urlopen(req) as r:
    print("feedback:", r.status, r.read().decode())
