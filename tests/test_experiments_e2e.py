"""Policy experiments end to end: the official openai SDK through faregate to the fake
providers; each request carries its arm in the header and the log, and the analytics route
reports both arms."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import openai
from prometheus_client.parser import text_string_to_metric_families

from helpers import GATEWAY_KEY, fake_config

MASTER = "sk-master-experiments"


def _get(url: str, key: str) -> tuple[int, dict]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def test_arms_are_logged_and_reported(start_server, upstreams):
    exp = {
        "name": "cheap-vs-claude",
        "applies_to": "auto",
        "assign_by": "request",
        "seed": 1,
        "arms": [
            {"name": "oa", "share": 1, "model": "fake-openai"},
            {"name": "an", "share": 1, "model": "fake-anthropic"},
        ],
    }
    srv = start_server(fake_config(upstreams, master_key=MASTER, experiments=[exp]))
    client = openai.OpenAI(base_url=srv.base_url, api_key=GATEWAY_KEY, max_retries=0)
    seen: dict[str, set[str]] = {}
    for i in range(24):
        raw = client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": f"hello {i}"}]
        )
        arm = raw.headers["x-faregate-experiment"].split(":")[1]
        seen.setdefault(arm, set()).add(raw.parse().model)
    assert set(seen) == {"oa", "an"}  # both arms took traffic
    assert len(upstreams["openai"].requests()) > 0 and len(upstreams["anthropic"].requests()) > 0
    with urllib.request.urlopen(f"{srv.url}/metrics", timeout=10) as r:
        fams = {f.name: f for f in text_string_to_metric_families(r.read().decode())}
    counted = {
        s.labels["arm"]: s.value for s in fams["faregate_experiment_requests"].samples if s.name.endswith("_total")
    }
    assert set(counted) == {"oa", "an"} and sum(counted.values()) == 24, counted
    url = f"{srv.url}/v1/analytics/experiments/cheap-vs-claude"
    assert _get(url, GATEWAY_KEY)[0] in (401, 403)
    deadline = time.time() + 30  # the log writer flushes in the background
    while True:
        status, rep = _get(url, MASTER)
        if status == 200 and sum(a["requests"] for a in rep["arms"].values()) == 24:
            break
        assert time.time() < deadline, rep
        time.sleep(0.3)
    assert set(rep["arms"]) == {"oa", "an"} and len(rep["comparisons"]) == 1
    assert rep["comparisons"][0]["verdict"].startswith("arm ")
    assert _get(f"{srv.url}/v1/analytics/experiments/nope", MASTER)[0] == 404


def test_promoted_experiment_sends_everything_to_one_arm(start_server, upstreams):
    exp = {
        "name": "p",
        "assign_by": "request",
        "status": "promoted",
        "promoted_arm": "an",
        "arms": [
            {"name": "oa", "share": 9, "model": "fake-openai"},
            {"name": "an", "share": 1, "model": "fake-anthropic"},
        ],
    }
    srv = start_server(fake_config(upstreams, experiments=[exp]))
    client = openai.OpenAI(base_url=srv.base_url, api_key=GATEWAY_KEY, max_retries=0)
    for i in range(6):
        raw = client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": f"q{i}"}]
        )
        assert raw.headers["x-faregate-experiment"] == "p:an"
    assert len(upstreams["openai"].requests()) == 0 and len(upstreams["anthropic"].requests()) == 6


def test_admin_api_promotes_and_stops(start_server, upstreams):
    exp = {
        "name": "adm",
        "assign_by": "request",
        "arms": [
            {"name": "oa", "share": 1, "model": "fake-openai"},
            {"name": "an", "share": 1, "model": "fake-anthropic"},
        ],
    }
    srv = start_server(fake_config(upstreams, master_key=MASTER, experiments=[exp]))
    client = openai.OpenAI(base_url=srv.base_url, api_key=GATEWAY_KEY, max_retries=0)

    def arms(n: int) -> set[str | None]:
        out = set()
        for i in range(n):
            raw = client.chat.completions.with_raw_response.create(
                model="auto", messages=[{"role": "user", "content": f"x{i}"}]
            )
            out.add(raw.headers.get("x-faregate-experiment"))
        return out

    assert arms(16) == {"adm:oa", "adm:an"}
    status, body = _post(f"{srv.url}/admin/experiments/adm/promote", MASTER, {"arm": "an"})
    assert status == 200 and body["status"] == "promoted", body
    assert arms(8) == {"adm:an"}
    status, body = _post(f"{srv.url}/admin/experiments/adm/promote", MASTER, {"arm": "zz"})
    assert status == 404 and "has no arm 'zz'" in body["error"]["message"], body
    # A body of the wrong shape is 400; a well-formed one naming what does not exist is 409.
    bad_shape = {"arms": [{"name": "a", "share": -1}, {"name": "b", "share": 1}]}
    status, body = _post(f"{srv.url}/admin/experiments/new", MASTER, bad_shape, method="PUT")
    assert status == 400 and "share" in body["error"]["message"], body
    unknown = {"arms": [{"name": "a", "share": 1, "model": "nope"}, {"name": "b", "share": 1}]}
    status, body = _post(f"{srv.url}/admin/experiments/new", MASTER, unknown, method="PUT")
    assert status == 409 and "'nope'" in body["error"]["message"], body
    twins = {"arms": [{"name": "a", "share": 1}, {"name": "a", "share": 1}]}
    status, body = _post(f"{srv.url}/admin/experiments/new", MASTER, twins, method="PUT")
    assert status == 409 and "duplicate arm" in body["error"]["message"], body
    assert _post(f"{srv.url}/admin/experiments/adm/stop", GATEWAY_KEY, {})[0] in (401, 403)
    status, body = _post(f"{srv.url}/admin/experiments/adm/stop", MASTER, {})
    assert status == 200 and body["status"] == "stopped"
    assert arms(4) == {None}  # nobody takes part
    assert _get(f"{srv.url}/admin/experiments", MASTER)[1]["data"][0]["status"] == "stopped"


def _post(url: str, key: str, body: dict, method: str = "POST") -> tuple[int, dict]:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")
