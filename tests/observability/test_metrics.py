"""``GET /metrics`` after a scripted mix: exactly those counts, parsed by Prometheus' own parser."""

from __future__ import annotations

import urllib.request

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.helpers import fake_config

MAIN = "fg-metrics-main-CANARY-SECRET-0001"
LIMITED = "fg-metrics-rpm1-CANARY-SECRET-0002"
BROKE = "fg-metrics-broke-CANARY-SECRET-0003"
PROMPT = "canary prompt text PROMPT-CANARY-77"


def _config(upstreams, **extra):
    cfg = fake_config({p: upstreams[p] for p in ("openai", "anthropic")}, keys=[], **extra)
    cfg["models"][0]["fallbacks"] = ["fake-anthropic"]
    cfg["keys"] = [
        {"key": MAIN, "name": "main"},
        {"key": LIMITED, "name": "limited", "limits": {"rpm": 1}},
        {"key": BROKE, "name": "broke", "limits": {"budget_usd_day": 0.000000001}},
    ]
    return cfg


def _client(srv, key):
    return openai.OpenAI(base_url=srv.base_url, api_key=key, max_retries=0, timeout=10)


def _ask(client, ids):
    raw = client.chat.completions.with_raw_response.create(
        model="fake-openai", messages=[{"role": "user", "content": PROMPT}]
    )
    ids.append(raw.headers["x-request-id"])
    return raw.parse()


def scrape(url: str, headers: dict | None = None) -> str:
    req = urllib.request.Request(url + "/metrics", headers=headers or {})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.headers["content-type"].startswith("text/plain")
        return r.read().decode()


def samples(text: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append(s)
    return out


def total(ss, name, **labels) -> float:
    return sum(s.value for s in ss.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items()))


def test_metrics_count_a_scripted_mix_exactly(start_server, upstreams):
    srv = start_server(_config(upstreams))
    ids: list[str] = []
    main = _client(srv, MAIN)
    for _ in range(3):
        _ask(main, ids)
    upstreams["openai"].script({"status": 500})  # one failover: openai fails, anthropic answers
    assert _ask(main, ids).model == "fake-anthropic"
    limited = _client(srv, LIMITED)
    _ask(limited, ids)
    with pytest.raises(openai.RateLimitError) as rate:
        _ask(limited, ids)
    assert rate.value.code == "rate_limit_exceeded"
    with pytest.raises(openai.RateLimitError) as budget:
        _ask(_client(srv, BROKE), ids)
    assert budget.value.code == "budget_exceeded"

    text = scrape(srv.url)
    ss = samples(text)
    req = "faregate_requests_total"
    assert total(ss, req) == 7
    assert total(ss, req, model="fake-openai", deployment="fake-openai#0", provider="openai", status="200") == 4
    assert total(ss, req, model="fake-anthropic", deployment="fake-anthropic#0", status="200") == 1
    assert total(ss, req, status="429") == 2
    assert total(ss, req, cache="none") == 7  # no cache step in this gateway
    assert total(ss, "faregate_limit_rejections_total", kind="rate") == 1
    assert total(ss, "faregate_limit_rejections_total", kind="budget") == 1
    assert total(ss, "faregate_failovers_total", model="fake-anthropic") == 1
    assert total(ss, "faregate_retries_total") == 1
    assert total(ss, "faregate_upstream_attempts_total", deployment="fake-openai#0", outcome="ok") == 4
    assert total(ss, "faregate_upstream_attempts_total", deployment="fake-openai#0") == 5
    assert total(ss, "faregate_upstream_attempts_total", deployment="fake-anthropic#0", outcome="ok") == 1
    # GenAI semantic-convention histograms: one observation per answered request.
    assert total(ss, "gen_ai_client_operation_duration_seconds_count") == 7
    assert total(ss, "gen_ai_client_token_usage_count", gen_ai_token_type="input") == 5
    assert total(ss, "gen_ai_client_operation_duration_seconds_bucket", le="81.92") == 7
    assert total(ss, "faregate_gateway_overhead_seconds_count") == 7
    assert "faregate_request_log_queue_depth" in ss and total(ss, "faregate_request_log_dropped_total") == 0
    assert total(ss, "faregate_breaker_state", deployment="fake-openai#0") == 0
    assert total(ss, "faregate_cost_usd_total") > 0

    # Canary: no label value carries a key, a request id or prompt text.
    for secret in (MAIN, LIMITED, BROKE, PROMPT, *ids):
        assert secret not in text
    labels = {v for group in ss.values() for s in group for v in s.labels.values()}
    assert not any(v.startswith("req_") or "CANARY" in v for v in labels)
    key_ids = {s.labels["key"] for s in ss["faregate_cost_usd_total"]}
    assert key_ids and all(k and k not in (MAIN, LIMITED, BROKE) for k in key_ids)


def test_unknown_model_names_do_not_grow_the_label_set(start_server, upstreams):
    srv = start_server(_config(upstreams))
    with pytest.raises(openai.NotFoundError):
        _client(srv, MAIN).chat.completions.create(
            model="no-such-model-XYZ", messages=[{"role": "user", "content": "x"}]
        )
    text = scrape(srv.url)
    assert "no-such-model-XYZ" not in text
    assert total(samples(text), "faregate_requests_total", model="unknown", status="404") == 1


def test_metrics_behind_the_master_key_and_on_a_separate_port(start_server, upstreams):
    srv = start_server(_config(upstreams, master_key="mk-metrics", metrics={"require_master_key": True}))
    with pytest.raises(urllib.error.HTTPError) as refused:
        scrape(srv.url)
    assert refused.value.code == 401
    assert "faregate_requests_total" in scrape(srv.url, {"authorization": "Bearer mk-metrics"})
    side = start_server(_config(upstreams, metrics={"port": 0}))
    _ask(_client(side, MAIN), [])
    with pytest.raises(urllib.error.HTTPError) as absent:
        scrape(side.url)
    assert absent.value.code == 404
    from faregate.server.metrics_routes import METRICS_SITE

    port = side.app[METRICS_SITE]["port"]
    ss = samples(scrape(f"http://127.0.0.1:{port}"))
    assert total(ss, "faregate_requests_total", status="200") == 1


def test_metrics_off(start_server, upstreams):
    srv = start_server(_config(upstreams, metrics={"enabled": False}))
    with pytest.raises(urllib.error.HTTPError) as absent:
        scrape(srv.url)
    assert absent.value.code == 404


def _cached_pair(start_server, upstreams) -> dict[str, list]:
    """The same cacheable question twice through a gateway with the response cache on."""
    srv = start_server(_config(upstreams, cache={"enabled": True}))
    main = _client(srv, MAIN)
    for _ in range(2):
        main.chat.completions.create(model="fake-openai", messages=[{"role": "user", "content": PROMPT}], temperature=0)
    return samples(scrape(srv.url))


def test_a_cache_hit_is_counted_in_the_cache_families(start_server, upstreams):
    ss = _cached_pair(start_server, upstreams)
    assert total(ss, "faregate_requests_total", cache="hit") == 1
    assert total(ss, "faregate_cache_total", outcome="hit") == 1
    assert total(ss, "faregate_upstream_attempts_total") == 1  # the hit never went upstream


def test_a_cache_miss_is_counted_in_the_cache_families(start_server, upstreams):
    ss = _cached_pair(start_server, upstreams)
    assert total(ss, "faregate_requests_total", cache="miss") == 1
    assert total(ss, "faregate_cache_total", outcome="miss") == 1
    assert total(ss, "faregate_cache_total") == 2
