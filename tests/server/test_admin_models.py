"""Models and provider credentials through the admin API: validated like the file, applied at
once, write-only secrets encrypted at rest, audited; and a second replica follows within 5 s."""

from __future__ import annotations

import json
import os
import sqlite3
import time
import urllib.error
import urllib.request

import openai
import pytest

from helpers import GATEWAY_KEY, ServeProcess, clean_env

MASTER = "fg-master-test"
SECRET = "sk-runtime-UPSTREAM-SECRET-9"


def call(method: str, url: str, body=None, key: str | None = MASTER) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    if key:
        req.add_header("authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def chat(base_url: str, model: str):
    client = openai.OpenAI(base_url=base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=10)
    return client.chat.completions.with_raw_response.create(model=model, messages=[{"role": "user", "content": "hi"}])


@pytest.fixture
def admin_server(start_server, upstreams, tmp_path):
    fake = upstreams["openai"]
    cfg = {
        "models": [{"name": "file-model", "model": "gpt-4o-mini", "base_url": fake.model_base_url, "api_key": "k"}],
        "keys": [{"key": GATEWAY_KEY}],
        "master_key": MASTER,
        "learning": {"enabled": False},
        "database_url": f"sqlite:///{tmp_path / 'rt.db'}",
    }
    return start_server(cfg), fake, tmp_path / "rt.db"


def test_runtime_model_with_named_credentials_serves_at_once(admin_server):
    srv, fake, db = admin_server
    assert call("GET", srv.url + "/admin/models", key=None)[0] == 401
    st, prov = call(
        "POST", srv.url + "/admin/providers", {"name": "fake", "base_url": fake.model_base_url, "api_key": SECRET}
    )
    assert st == 201 and prov["secrets"] == ["api_key"] and SECRET not in json.dumps(prov)
    before = srv.gateway.runtime.policy
    st, body = call("POST", srv.url + "/admin/models", {"model": "gpt-4o", "credentials": "fake"})
    assert st == 201, body
    raw = chat(srv.base_url, "gpt-4o")
    assert raw.parse().choices[0].message.content
    assert fake.last_request()["headers"]["authorization"] == f"Bearer {SECRET}"
    assert raw.headers["x-faregate-policy"] != before
    expected_price = srv.gateway.config.model("gpt-4o").prices.input
    assert expected_price == 2.5  # the catalogue filled the runtime model too
    listing = call("GET", srv.url + "/admin/providers")[1]
    assert SECRET not in json.dumps(listing) and listing["data"][0]["secrets"] == ["api_key"]
    with sqlite3.connect(db) as con:
        stored = json.dumps(con.execute("SELECT * FROM runtime_providers").fetchall())
        audit = json.dumps(con.execute("SELECT * FROM config_audit").fetchall())
    assert SECRET not in stored and SECRET not in audit
    assert (db.parent / "rt.db.key").exists()


def test_validation_conflicts_patch_delete_and_audit(admin_server):
    srv, fake, _db = admin_server
    url = srv.url + "/admin/models"
    st, err = call("POST", url, {"name": "x", "provider": "nope"})
    assert st == 400 and "provider" in err["error"]["message"]
    st, err = call("POST", url, {"name": "file-model", "model": "gpt-4o"})
    assert st == 409 and "config file" in err["error"]["message"]
    st, err = call("POST", url, {"model": "gpt-4o-mini", "name": "cheap", "prices": {"input": 0.15e-6}})
    assert st == 409 and "USD per million" in err["error"]["message"]
    st, err = call("POST", url, {"name": "y", "model": "gpt-4o", "fallbacks": ["ghost"]})
    assert st == 409 and "ghost" in err["error"]["message"]
    base = {"name": "extra", "model": "gpt-4o-mini", "base_url": fake.model_base_url, "api_key": SECRET}
    assert call("POST", url, base)[0] == 201
    assert call("POST", url, base)[0] == 409
    st, got = call("PATCH", url + "/extra", {"prices": {"input": 0.2, "output": 0.7}})
    assert st == 200 and got["prices"]["input"] == 0.2 and SECRET not in json.dumps(got)
    assert srv.gateway.config.model("extra").prices.input == 0.2
    assert chat(srv.base_url, "extra").parse().choices
    assert fake.last_request()["headers"]["authorization"] == f"Bearer {SECRET}"  # kept across the PATCH
    assert call("DELETE", url + "/extra")[0] == 200
    assert srv.gateway.config.model("extra") is None
    assert call("GET", url + "/extra")[0] == 404
    audit = call("GET", srv.url + "/admin/audit")[1]["data"]
    assert [(a["action"], a["name"]) for a in audit][:3] == [
        ("delete", "extra"),
        ("update", "extra"),
        ("create", "extra"),
    ]
    assert all(a["actor"] == "master key" for a in audit)
    assert SECRET not in json.dumps(audit)


@pytest.fixture(params=["sqlite", "postgres"])
def shared_db(request, tmp_path, server_loop):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.db'}"
        return
    from storage.conftest import PG_ADMIN, _pg_up, drop_pg, make_pg_url

    if not _pg_up():
        if os.environ.get("FAREGATE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"PostgreSQL at {PG_ADMIN} is required (FAREGATE_REQUIRE_SERVICES=1) but unreachable")
        pytest.skip(f"PostgreSQL at {PG_ADMIN} unreachable")
    url, name = server_loop.run(make_pg_url())
    try:
        yield url
    finally:
        server_loop.run(drop_pg(name))


def test_two_serve_processes_share_runtime_models(upstreams, tmp_path, shared_db):
    fake = upstreams["openai"]
    cfg = tmp_path / "faregate.yaml"
    cfg.write_text(
        f"models:\n  - name: file-model\n    model: gpt-4o-mini\n    base_url: {fake.model_base_url}\n    api_key: k\n"
        f"keys:\n  - key: {GATEWAY_KEY}\nmaster_key: {MASTER}\nlearning:\n  enabled: false\n"
        f"database_url: {shared_db}\n"
    )
    env = clean_env(FAREGATE_SECRET_KEY="test-secret")
    a = ServeProcess(["serve", "--config", str(cfg)], env=env).start()
    b = ServeProcess(["serve", "--config", str(cfg)], env=env).start()
    try:
        st, body = call(
            "POST", a.url + "/admin/models", {"model": "gpt-4.1", "base_url": fake.model_base_url, "api_key": SECRET}
        )
        assert st == 201, body
        assert chat(a.url + "/v1", "gpt-4.1").parse().choices  # at once on the replica that took it
        t0 = time.monotonic()
        while True:
            try:
                chat(b.url + "/v1", "gpt-4.1")
                break
            except openai.NotFoundError:
                assert time.monotonic() - t0 < 5, "the second replica did not pick the model up within 5 s"
                time.sleep(0.1)
        assert fake.last_request()["headers"]["authorization"] == f"Bearer {SECRET}"
        print(f"second replica served the new model after {time.monotonic() - t0:.2f} s")
        assert call("DELETE", b.url + "/admin/models/gpt-4.1")[0] == 200
        t0 = time.monotonic()
        while True:
            try:
                chat(a.url + "/v1", "gpt-4.1")
            except openai.NotFoundError:
                break
            assert time.monotonic() - t0 < 5
            time.sleep(0.1)
    finally:
        a.stop()
        b.stop()


def test_a_replica_with_another_secret_key_still_starts_on_the_file(upstreams, tmp_path):
    fake = upstreams["openai"]
    cfg = tmp_path / "faregate.yaml"
    cfg.write_text(
        f"models:\n  - name: file-model\n    model: gpt-4o-mini\n    base_url: {fake.model_base_url}\n    api_key: k\n"
        f"keys:\n  - key: {GATEWAY_KEY}\nmaster_key: {MASTER}\nlearning:\n  enabled: false\n"
        f"database_url: sqlite:///{tmp_path / 'k.db'}\n"
    )
    a = ServeProcess(["serve", "--config", str(cfg)], env=clean_env(FAREGATE_SECRET_KEY="one")).start()
    try:
        body = {"model": "gpt-4.1", "base_url": fake.model_base_url, "api_key": SECRET}
        assert call("POST", a.url + "/admin/models", body)[0] == 201
    finally:
        a.stop()
    b = ServeProcess(["serve", "--config", str(cfg)], env=clean_env(FAREGATE_SECRET_KEY="two")).start()
    try:
        assert chat(b.url + "/v1", "file-model").parse().choices  # the file's models still serve
        with pytest.raises(openai.NotFoundError):
            chat(b.url + "/v1", "gpt-4.1")
    finally:
        b.stop()
