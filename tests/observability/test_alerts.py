"""Alerts end to end: a spend threshold crossed, sent once to a signed webhook, a Slack-shaped
receiver and a real SMTP server (aiosmtpd) on loopback, then resolved; a failing channel is
retried and recorded; the alert API's validation and write-only secrets."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import urllib.error
import urllib.request
from email import message_from_bytes

import openai
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from tests.helpers import fake_config, free_port

KEY = "fg-alerts-key-0000000000000001"
MASTER = "mk-alerts-master"
HOOK_SECRET = "whsec-CANARY-hook-secret"
SMTP_PASSWORD = "smtp-CANARY-password"
PROMPT = "alert prompt PROMPT-CANARY-42"


class Receiver:
    """An HTTP endpoint on loopback that records what it is sent; fails the first ``fail`` posts."""

    def __init__(self, fail: int = 0) -> None:
        self.bodies: list[bytes] = []
        self.headers: list[dict] = []
        self.fail = fail
        self.calls = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        if self.calls <= self.fail:
            return web.Response(status=503)
        self.bodies.append(await request.read())
        self.headers.append(dict(request.headers))
        return web.Response(text="ok")

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/hook"

    def json(self) -> list[dict]:
        return [json.loads(b) for b in self.bodies]


class Mailbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


def _auth(server, session, envelope, mechanism, data):
    ok = data.login == b"alerts" and data.password == SMTP_PASSWORD.encode()
    return AuthResult(success=ok)


@pytest.fixture
def rig(server_loop, start_server, upstreams, tmp_path):
    hook, slack, flaky = Receiver(), Receiver(), Receiver(fail=2)
    urls = [server_loop.run(r.start()) for r in (hook, slack, flaky)]
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port(), authenticator=_auth, auth_require_tls=False)
    smtp.start()
    channels = [
        {"id": "hook", "type": "webhook", "url": urls[0], "secret": HOOK_SECRET},
        {"id": "slack", "type": "slack", "url": urls[1]},
        {"id": "flaky", "type": "webhook", "url": urls[2]},
        {"id": "dead", "type": "webhook", "url": f"http://127.0.0.1:{free_port()}/gone"},
        {
            "id": "mail",
            "type": "email",
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "starttls": False,
            "username": "alerts",
            "password": SMTP_PASSWORD,
            "sender": "faregate@example.test",
            "to": ["ops@example.test"],
        },
    ]
    cfg = fake_config({"openai": upstreams["openai"]}, keys=[KEY], master_key=MASTER)
    cfg["alerts"] = {"interval_s": 3600, "channels": channels, "retries": 2, "retry_backoff_s": 0.01}
    srv = start_server(cfg)
    yield srv, hook, slack, flaky, mailbox
    smtp.stop()
    for r in (hook, slack, flaky):
        server_loop.run(r.runner.cleanup())


def admin(srv, method: str, path: str, body=None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        srv.url + path, data=data, method=method, headers={"authorization": f"Bearer {MASTER}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_spend_alert_once_then_resolved_on_every_channel(rig):
    srv, hook, slack, flaky, mailbox = rig
    rule = {"id": "daily-spend", "kind": "spend", "threshold": 0.0001, "period": "day"}
    assert admin(srv, "POST", "/admin/alerts/rules", rule)[0] == 201
    assert admin(srv, "POST", "/admin/alerts/check")[1]["sent"] == []  # nothing spent yet
    client = openai.OpenAI(base_url=srv.base_url, api_key=KEY, max_retries=0, timeout=10)
    for _ in range(30):
        client.chat.completions.create(model="fake-openai", messages=[{"role": "user", "content": PROMPT}])
    st, out = admin(srv, "POST", "/admin/alerts/check")
    assert st == 200 and out["firing"] == [{"rule": "daily-spend", "subject": "all"}]
    outcomes = {s["channel"]: (s["outcome"], s["attempts"]) for s in out["sent"]}
    assert outcomes == {
        "hook": ("sent", 1),
        "slack": ("sent", 1),
        "flaky": ("sent", 3),  # failed twice, retried with backoff
        "dead": ("failed", 3),
        "mail": ("sent", 1),
    }
    (alert,) = hook.json()
    assert alert["event"] == "alert" and alert["rule"] == "daily-spend" and alert["value"] > 0.0001
    sig = hook.headers[0]["X-Faregate-Signature"]
    assert sig == "sha256=" + hmac.new(HOOK_SECRET.encode(), hook.bodies[0], hashlib.sha256).hexdigest()
    (slack_msg,) = slack.json()
    assert "daily-spend" in slack_msg["text"] and slack_msg["blocks"][0]["type"] == "section"
    (mail,) = mailbox.messages
    assert "daily-spend" in mail["Subject"] and mail["To"] == "ops@example.test"
    # Cooldown: still over the threshold, nothing sent again.
    assert admin(srv, "POST", "/admin/alerts/check")[1]["sent"] == []
    assert len(hook.bodies) == 1 and len(mailbox.messages) == 1
    # The condition clears (the threshold is raised): one resolved message each.
    assert admin(srv, "POST", "/admin/alerts/rules", {**rule, "threshold": 100.0})[0] == 201
    out = admin(srv, "POST", "/admin/alerts/check")[1]
    assert out["firing"] == [] and {s["channel"] for s in out["sent"]} == {"hook", "slack", "flaky", "dead", "mail"}
    assert [m["event"] for m in hook.json()] == ["alert", "resolved"]
    assert len(slack.bodies) == 2 and len(mailbox.messages) == 2
    st, hist = admin(srv, "GET", "/admin/alerts/history")
    rows = hist["data"]
    assert len(rows) == 10
    assert {(r["channel"], r["event"], r["outcome"]) for r in rows if r["channel"] == "dead"} == {
        ("dead", "alert", "failed"),
        ("dead", "resolved", "failed"),
    }
    assert all(r["rule"] == "daily-spend" and r["ts"] > 0 for r in rows)
    everything = b"".join(hook.bodies + slack.bodies) + b"".join(m.as_bytes() for m in mailbox.messages)
    everything += json.dumps(hist).encode()
    for secret in (HOOK_SECRET, SMTP_PASSWORD, PROMPT, KEY, MASTER):
        assert secret.encode() not in everything


def test_channel_api_validates_and_never_returns_secrets(rig):
    srv, hook, *_ = rig
    st, out = admin(srv, "POST", "/admin/alerts/channels", {"id": "x", "type": "webhook", "url": "http://h", "role": 1})
    assert st == 400 and out["error"]["param"] == "role" and "role" in out["error"]["message"]
    st, out = admin(srv, "POST", "/admin/alerts/channels", {"id": "x", "type": "pager", "url": "http://h"})
    assert st == 400 and out["error"]["param"] == "type"
    st, out = admin(srv, "POST", "/admin/alerts/channels", {"id": "x", "type": "email"})
    assert st == 400 and "smtp_host" in out["error"]["message"]
    st, out = admin(srv, "POST", "/admin/alerts/rules", {"id": "r", "kind": "spend", "channels": ["nope"]})
    assert st == 400 and out["error"]["param"] == "channels"
    st, out = admin(srv, "POST", "/admin/alerts/rules", {"id": "r", "kind": "spend", "threshold": -1})
    assert st == 400 and out["error"]["param"] == "threshold"
    body = {"id": "api-hook", "type": "webhook", "url": "http://127.0.0.1:9/h", "secret": "s3cr3t-x"}
    st, out = admin(srv, "POST", "/admin/alerts/channels", body)
    assert st == 201 and out["secret_set"] is True and "secret" not in out
    st, listed = admin(srv, "GET", "/admin/alerts/channels")
    assert "s3cr3t-x" not in json.dumps(listed) and HOOK_SECRET not in json.dumps(listed)
    by_id = {c["id"]: c for c in listed["data"]}
    assert by_id["api-hook"]["source"] == "api" and by_id["hook"]["source"] == "config"
    assert by_id["mail"]["password_set"] is True
    assert admin(srv, "DELETE", "/admin/alerts/channels/hook")[0] == 400  # from the config file
    assert admin(srv, "DELETE", "/admin/alerts/channels/api-hook")[0] == 200
    assert admin(srv, "DELETE", "/admin/alerts/channels/api-hook")[0] == 404
    st, out = admin(srv, "POST", "/admin/alerts/channels/hook/test")
    assert st == 200 and out["outcome"] == "sent" and hook.json()[-1]["event"] == "test"
    st, out = admin(srv, "GET", "/admin/alerts/history?limit=0")
    assert st == 400 and out["error"]["param"] == "limit"


def test_alert_routes_need_the_master_key(rig):
    srv, *_ = rig
    req = urllib.request.Request(srv.url + "/admin/alerts/rules", headers={"authorization": f"Bearer {KEY}"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=10)
    assert refused.value.code == 401


def test_background_evaluation_sends_without_being_asked(server_loop, start_server, upstreams):
    hook = Receiver()
    url = server_loop.run(hook.start())
    cfg = fake_config({"openai": upstreams["openai"]}, keys=[KEY], master_key=MASTER)
    cfg["log_writer"] = {"flush_interval_s": 0.05}
    cfg["alerts"] = {
        "interval_s": 0.2,
        "channels": [{"id": "hook", "type": "webhook", "url": url}],
        "rules": [{"id": "any-spend", "kind": "spend", "threshold": 0.0}],
    }
    srv = start_server(cfg)
    openai.OpenAI(base_url=srv.base_url, api_key=KEY, max_retries=0).chat.completions.create(
        model="fake-openai", messages=[{"role": "user", "content": "x"}]
    )

    async def wait() -> None:
        for _ in range(100):
            if hook.bodies:
                return
            await asyncio.sleep(0.05)

    server_loop.run(wait())
    server_loop.run(hook.runner.cleanup())
    assert [m["rule"] for m in hook.json()] == ["any-spend"]


def test_daily_summary_once_a_day(server_loop, start_server, upstreams):
    import time

    hook = Receiver()
    url = server_loop.run(hook.start())
    cfg = fake_config({"openai": upstreams["openai"]}, keys=[KEY], master_key=MASTER)
    cfg["alerts"] = {
        "interval_s": 3600,
        "daily_summary": True,
        "channels": [{"id": "hook", "type": "webhook", "url": url}],
    }
    srv = start_server(cfg)
    openai.OpenAI(base_url=srv.base_url, api_key=KEY, max_retries=0).chat.completions.create(
        model="fake-openai", messages=[{"role": "user", "content": PROMPT}]
    )
    svc = srv.gateway.services.alerts
    assert server_loop.run(svc.check(flush=True))["sent"] == []  # the day is not over
    tomorrow = time.time() + 86400
    sent = server_loop.run(svc.check(now=tomorrow))["sent"]
    assert [(s["channel"], s["event"], s["outcome"]) for s in sent] == [("hook", "summary", "sent")]
    assert server_loop.run(svc.check(now=tomorrow + 60))["sent"] == []  # once a day
    (summary,) = hook.json()
    assert summary["event"] == "summary" and summary["requests"] == 1 and summary["spend_usd"] > 0
    assert "fake-openai" in summary["text"] and PROMPT not in summary["text"]
    server_loop.run(hook.runner.cleanup())


def test_a_rule_that_cannot_be_evaluated_neither_fails_the_check_nor_stops_the_others(rig, monkeypatch):
    srv = rig[0]
    from faregate.alerts import evaluator

    real = evaluator.evaluate

    async def flaky_evaluate(rule, db, now, facts):
        if rule.id == "broken":
            raise RuntimeError("a rule that cannot be evaluated")
        return await real(rule, db, now, facts)

    monkeypatch.setattr(evaluator, "evaluate", flaky_evaluate)
    assert admin(srv, "POST", "/admin/alerts/rules", {"id": "broken", "kind": "error_rate", "threshold": 0.5})[0] == 201
    ok = {"id": "spend", "kind": "spend", "threshold": 0.0, "period": "day", "channels": ["hook"]}
    assert admin(srv, "POST", "/admin/alerts/rules", ok)[0] == 201
    client = openai.OpenAI(base_url=srv.base_url, api_key=KEY, max_retries=0, timeout=10)
    client.chat.completions.create(model="fake-openai", messages=[{"role": "user", "content": "hi"}])
    st, out = admin(srv, "POST", "/admin/alerts/check")
    assert st == 200 and {"rule": "spend", "subject": "all"} in out["firing"]


def test_a_rule_window_is_bounded():
    from pydantic import ValidationError

    from faregate.config import RuleConfig

    with pytest.raises(ValidationError):
        RuleConfig(id="w", kind="error_rate", window_s=1e300)


def test_budget_rule_reads_a_database_key_and_team_set_through_the_admin_api(rig):
    """The budgets live only in the key database (no ``limits:`` in the config): the rule fires."""
    srv, hook, *_ = rig
    st, team = admin(
        srv, "PUT", "/admin/teams/research", {"limits": {"budget_usd_month": 0.00004, "budget_soft": True}}
    )
    assert st == 200, team
    st, created = admin(
        srv,
        "POST",
        "/admin/keys",
        {"name": "db-key", "team": "research", "limits": {"budget_usd_day": 0.00005, "budget_soft": True}},
    )
    assert st == 201, created
    rules = [
        {"id": "key-budget", "kind": "budget", "scope": "key", "value": created["id"], "threshold": 50},
        {"id": "team-budget", "kind": "budget", "scope": "team", "value": "research", "threshold": 50},
    ]
    for rule in rules:
        assert admin(srv, "POST", "/admin/alerts/rules", rule)[0] == 201
    assert admin(srv, "POST", "/admin/alerts/check")[1]["firing"] == []  # nothing spent yet
    client = openai.OpenAI(base_url=srv.base_url, api_key=created["key"], max_retries=0, timeout=10)
    for _ in range(12):
        client.chat.completions.create(model="fake-openai", messages=[{"role": "user", "content": "spend"}])
    out = admin(srv, "POST", "/admin/alerts/check")[1]
    assert sorted(out["firing"], key=lambda f: f["rule"]) == [
        {"rule": "key-budget", "subject": created["id"]},
        {"rule": "team-budget", "subject": "research"},
    ]
    sent = {a["rule"]: a for a in hook.json()}
    assert "of the daily budget $5e-05 spent" in sent["key-budget"]["text"]
    assert "of the monthly budget $4e-05 spent" in sent["team-budget"]["text"]
    assert sent["key-budget"]["value"] >= 50 and sent["team-budget"]["value"] >= 50
    assert created["key"] not in json.dumps(hook.json())
