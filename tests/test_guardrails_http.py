"""Request guardrails end to end: the official SDKs against a gateway in front of the fakes.

Every front (chat, messages, responses, embeddings, legacy completions) goes through the same
pipeline step: a masked value never reaches the upstream in clear (the fake's recorded
requests), and a block is a 400 naming the guardrail without echoing the text.
"""

from __future__ import annotations

import json

import anthropic
import openai
import pytest

from guardrail_calls import FRONTS, answer, log_rows
from guardrail_calls import call as _call
from helpers import fake_config

EMAIL = "ada.lovelace@example.com"
CARD = "4111 1111 1111 1111"
MASK_KEY, BLOCK_KEY, PLAIN_KEY = "fg-guard-mask", "fg-guard-block", "fg-guard-plain"


@pytest.fixture
def srv(start_server, upstreams):
    embed = {
        "name": "fake-embed",
        "provider": "openai",
        "model": "text-embedding-3-small",
        "mode": "embedding",
        "base_url": upstreams["openai"].model_base_url,
        "api_key": "sk-upstream-embed",
        "prices": {"input": 0.02},
        "max_attempts": 1,
    }
    cfg = fake_config(
        {p: upstreams[p] for p in ("openai", "anthropic")},
        guardrails=[
            {"name": "pii-mask", "type": "pii"},
            {"name": "no-cards", "type": "pii", "action": "block", "kinds": ["card"]},
        ],
    )
    cfg["models"].append(embed)
    cfg["keys"] = [
        {"key": MASK_KEY, "guardrails": ["pii-mask"]},
        {"key": BLOCK_KEY, "guardrails": ["no-cards"]},
        {"key": PLAIN_KEY},
    ]
    return start_server(cfg)


@pytest.mark.parametrize(("front", "stream"), FRONTS)
def test_masked_value_never_reaches_the_upstream_in_clear(srv, upstreams, front, stream) -> None:
    fake = upstreams["anthropic" if front == "messages" else "openai"]
    _call(front, srv.url, MASK_KEY, f"please mail {EMAIL} today", stream)
    sent = json.dumps(fake.last_request())
    assert EMAIL not in sent and "[EMAIL_1]" in sent


@pytest.mark.parametrize(("front", "stream"), FRONTS)
def test_block_is_a_400_naming_the_guardrail_without_the_text(srv, upstreams, front, stream) -> None:
    fake = upstreams["anthropic" if front == "messages" else "openai"]
    before = len(fake.requests())
    err = anthropic.BadRequestError if front == "messages" else openai.BadRequestError
    with pytest.raises(err) as e:
        _call(front, srv.url, BLOCK_KEY, f"charge my card {CARD} now", stream)
    body = json.dumps(e.value.body)
    assert e.value.status_code == 400 and "no-cards" in body
    assert CARD not in body and "4111" not in body
    assert len(fake.requests()) == before  # nothing went upstream


def test_a_key_without_guardrails_is_untouched(srv, upstreams) -> None:
    _call("chat", srv.url, PLAIN_KEY, f"please mail {EMAIL} today", False)
    assert EMAIL in json.dumps(upstreams["openai"].last_request())


def test_unknown_guardrail_on_a_key_is_a_config_error() -> None:
    from faregate.config import GatewayConfig

    with pytest.raises(ValueError, match=r"keys\.0\.guardrails: unknown guardrail 'nope'"):
        GatewayConfig.model_validate({"keys": [{"key": "k", "guardrails": ["nope"]}], "guardrails": []})


@pytest.mark.parametrize("front", ["chat", "messages", "responses"])
@pytest.mark.parametrize("stream", [False, True])
def test_restore_puts_the_value_back_even_split_across_chunks(start_server, upstreams, front, stream) -> None:
    cfg = fake_config(
        {p: upstreams[p] for p in ("openai", "anthropic")},
        guardrails=[{"name": "pii-restore", "type": "pii", "restore": True}],
    )
    cfg["keys"] = [{"key": MASK_KEY, "guardrails": ["pii-restore"]}]
    srv = start_server(cfg)
    fake = upstreams["anthropic" if front == "messages" else "openai"]
    # The placeholder comes back in many small chunks: the window must see it whole.
    fake.script({"text": "Sent to [EMAIL_1], done.", "chunks": 9})
    text = answer(front, srv.url, MASK_KEY, f"please mail {EMAIL} today", stream)
    assert text == f"Sent to {EMAIL}, done."
    assert EMAIL not in json.dumps(fake.last_request())


def test_decisions_are_counted_in_metrics(srv) -> None:
    import urllib.request

    _call("chat", srv.url, MASK_KEY, f"please mail {EMAIL} today", False)
    _call("chat", srv.url, MASK_KEY, "nothing to see", False)
    with pytest.raises(openai.BadRequestError):
        _call("chat", srv.url, BLOCK_KEY, f"card {CARD}", False)
    with urllib.request.urlopen(srv.url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    lines = {
        ln.rsplit(" ", 1)[0]: float(ln.rsplit(" ", 1)[1])
        for ln in text.splitlines()
        if ln.startswith("faregate_guardrail")
    }
    assert lines['faregate_guardrail_decisions_total{action="mask",guardrail="pii-mask",stage="request"}'] == 1
    assert lines['faregate_guardrail_decisions_total{action="pass",guardrail="pii-mask",stage="request"}'] == 1
    assert lines['faregate_guardrail_decisions_total{action="block",guardrail="no-cards",stage="request"}'] == 1
    assert "4111" not in text and EMAIL not in text


def test_cache_is_keyed_on_the_masked_request_and_hits_are_restored(start_server, upstreams) -> None:
    cfg = fake_config(
        {"openai": upstreams["openai"]},
        guardrails=[{"name": "pii-restore", "type": "pii", "restore": True}],
        cache={"enabled": True, "layers": ["memory://"]},
    )
    cfg["keys"] = [{"key": MASK_KEY, "guardrails": ["pii-restore"]}]
    srv = start_server(cfg)
    upstreams["openai"].script({"text": "Sent to [EMAIL_1]."})
    c = openai.OpenAI(base_url=srv.base_url, api_key=MASK_KEY, max_retries=0)
    msgs = [{"role": "user", "content": f"mail {EMAIL}"}]
    first = c.chat.completions.with_raw_response.create(model="fake-openai", messages=msgs)  # type: ignore[arg-type]
    second = c.chat.completions.with_raw_response.create(model="fake-openai", messages=msgs)  # type: ignore[arg-type]
    assert second.headers.get("x-faregate-cache") == "hit"
    assert first.parse().choices[0].message.content == second.parse().choices[0].message.content == f"Sent to {EMAIL}."
    assert len(upstreams["openai"].requests()) == 1


def test_a_database_key_with_guardrails_from_the_admin_api_is_masked(start_server, upstreams) -> None:
    import urllib.request

    cfg = fake_config(
        {"openai": upstreams["openai"]}, guardrails=[{"name": "pii-mask", "type": "pii"}], master_key="fg-guard-master"
    )
    srv = start_server(cfg)
    req = urllib.request.Request(
        srv.url + "/admin/keys",
        data=json.dumps({"name": "db", "guardrails": ["pii-mask"], "mode": "cost"}).encode(),
        headers={"authorization": "Bearer fg-guard-master", "content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        raw = json.loads(r.read())["key"]
    _call("chat", srv.url, raw, f"please mail {EMAIL} today", False)
    sent = json.dumps(upstreams["openai"].last_request())
    assert EMAIL not in sent and "[EMAIL_1]" in sent


def test_decisions_are_in_the_request_log_row_without_the_matched_text(start_server, upstreams, tmp_path) -> None:
    db = tmp_path / "guard-log.db"
    cfg = fake_config(
        {"openai": upstreams["openai"]},
        guardrails=[
            {"name": "pii-mask", "type": "pii"},
            {"name": "no-cards", "type": "pii", "action": "block", "kinds": ["card"]},
        ],
        database_url=f"sqlite:///{db}",
    )
    cfg["keys"] = [{"key": MASK_KEY, "guardrails": ["pii-mask"]}, {"key": BLOCK_KEY, "guardrails": ["no-cards"]}]
    srv = start_server(cfg)
    _call("chat", srv.url, MASK_KEY, f"please mail {EMAIL} today", False)
    with pytest.raises(openai.BadRequestError):
        _call("chat", srv.url, BLOCK_KEY, f"card {CARD}", False)
    rows = log_rows(db, "status, guardrails", 2)
    assert sorted(rows) == [(200, "pii-mask:mask:request:email"), (400, "no-cards:block:request:card")]
    dump = repr(rows)
    assert EMAIL not in dump and "4111" not in dump
