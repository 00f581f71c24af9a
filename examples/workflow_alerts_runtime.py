"""Workflow: alerts and a provider added at run time, both through the admin API (master key).

python -m faregate.testing.webhook_receiver --port 9109 &   # prints each alert it gets
faregate serve --config examples/fake-providers.yaml        (after starting the fakes it lists)
python examples/workflow_alerts_runtime.py
"""

import json
import os
import urllib.request

from openai import OpenAI

base_url = os.environ.get("FAREGATE_BASE_URL", "http://127.0.0.1:8080/v1")
origin = base_url.removesuffix("/v1")
master = os.environ.get("FAREGATE_MASTER_KEY", "fg-demo-master")
hook_url = os.environ.get("FAREGATE_ALERT_WEBHOOK", "http://127.0.0.1:9109/alerts")
upstream = os.environ.get("FAREGATE_FAKE_OPENAI_URL", "http://127.0.0.1:9101/v1")


def admin(method: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"authorization": f"Bearer {master}", "content-type": "application/json"}
    with urllib.request.urlopen(urllib.request.Request(origin + path, data=data, headers=headers, method=method)) as r:
        return json.loads(r.read() or b"{}")


# A provider (credentials) and a model using it, live, without a restart.
admin("POST", "/admin/providers", {"name": "openai-runtime", "base_url": upstream, "api_key": "sk-runtime"})
admin("POST", "/admin/models", {"name": "runtime-mini", "model": "gpt-4o-mini", "credentials": "openai-runtime"})
client = OpenAI(base_url=base_url, api_key=os.environ.get("FAREGATE_KEY", "fg-demo-key"))
reply = client.chat.completions.create(model="runtime-mini", messages=[{"role": "user", "content": "Hi"}])
print("runtime model answered:", reply.choices[0].message.content)

# An alert: a webhook channel and a spend rule with a zero threshold, so it fires at once.
admin("POST", "/admin/alerts/channels", {"id": "ops-hook", "type": "webhook", "url": hook_url})
admin("POST", "/admin/alerts/rules", {"id": "any-spend", "kind": "spend", "threshold": 0, "channels": ["ops-hook"]})
admin("POST", "/admin/alerts/check")
sent = admin("GET", "/admin/alerts/history?limit=10")["data"]
print("alerts sent:", sorted({a["rule"] for a in sent}))
for path in ("/admin/alerts/rules/any-spend", "/admin/alerts/channels/ops-hook", "/admin/models/runtime-mini"):
    admin("DELETE", path)  # leave the gateway as it was
admin("DELETE", "/admin/providers/openai-runtime")
print("cleaned up")
