"""What the pages show: the analytics API's numbers, the request list's filters and keyset
pages, a request's explanation, escaped prompt text for admins only, no secrets anywhere."""

from __future__ import annotations

import re
import time

import aiohttp
import openai
from dash_harness import MASTER, VIEWER, DashClient, dashboard_config

from faregate.storage.request_record import RequestRecord
from helpers import GATEWAY_KEY, UPSTREAM_KEYS

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


async def _send(dash, content: str = "hello", model: str = "auto", n: int = 1) -> list[str]:
    oc = openai.AsyncOpenAI(base_url=dash.base_url, api_key=GATEWAY_KEY)
    ids = []
    for _ in range(n):
        r = await oc.chat.completions.create(model=model, messages=[{"role": "user", "content": content}])
        ids.append(r.id)
    await oc.close()
    return ids


def _flush(dash) -> None:
    """Write the queued request-log records now (on the server's loop, where the writer runs)."""
    dash._loop.run(dash.gateway.services.request_log.flush())


async def test_overview_shows_the_analytics_api_numbers(dash, client):
    await _send(dash, n=3)
    await _send(dash, model="fake-anthropic", n=2)
    _flush(dash)
    c = client()
    await c.login()
    status, page = await c.get("/dashboard?period=1d&baseline=fake-anthropic")
    assert status == 200
    since = re.search(r'data-since="([0-9.]+)"', page).group(1)
    until = re.search(r'data-until="([0-9.]+)"', page).group(1)
    async with aiohttp.ClientSession() as s:
        async with s.get(
            dash.url + "/v1/analytics/summary",
            params={"since": since, "until": until, "baseline": "fake-anthropic"},
            headers={"authorization": f"Bearer {MASTER}"},
        ) as r:
            api = (await r.json())["total"]
    assert api["requests"] == 5
    assert re.search(r'id="total-requests" data-value="(\d+)"', page).group(1) == str(api["requests"])
    assert float(re.search(r'id="total-spend" data-value="([0-9.e-]+)"', page).group(1)) == api["spend_usd"]
    assert float(re.search(r'id="savings" data-value="([0-9.e-]+)"', page).group(1)) == api["savings_usd"]
    assert 'data-chart="chart-spend"' in page and 'id="chart-requests"' in page


async def test_request_list_filters_and_pages_by_keyset(dash, client):
    writer = dash.gateway.services.request_log
    now = time.time()
    for i in range(120):
        writer.append(
            RequestRecord(
                id=f"req-page-{i:03d}",
                ts=now - 600 + i,
                key_id="key-a" if i % 2 else "key-b",
                model="m-even" if i % 2 == 0 else "m-odd",
                status=502 if i % 10 == 0 else 200,
                cache_hit=i % 3 == 0,
                cache_kind="exact" if i % 3 == 0 else None,
            )
        )
    _flush(dash)
    c = client()
    await c.login()
    seen: list[str] = []
    path = "/dashboard/requests?period=1h"
    pages = 0
    while path:
        status, page = await c.get(path)
        assert status == 200
        seen += re.findall(r'class="request-link">(req-page-\d+)<', page)
        nxt = re.search(r'href="\?([^"]*before=[^"]+)" id="older"', page)
        path = "/dashboard/requests?" + nxt.group(1).replace("&amp;", "&") if nxt else ""
        pages += 1
    assert pages == 3 and len(seen) == 120 and len(set(seen)) == 120
    assert seen == sorted(seen, reverse=True)  # newest first, no row twice, none skipped
    status, page = await c.get("/dashboard/requests?period=1h&model=m-odd&status=5xx")
    assert re.findall(r'class="request-link">(req-page-\d+)<', page) == []  # the 5xx are all even
    status, page = await c.get("/dashboard/requests?period=1h&model=m-even&status=5xx&cache=exact")
    assert re.findall(r'class="request-link">(req-page-\d+)<', page) == [f"req-page-{i:03d}" for i in (90, 60, 30, 0)]
    status, page = await c.get("/dashboard/requests?period=1h&key=key-a&cache=miss")
    got = re.findall(r'class="request-link">(req-page-(\d+))<', page)
    assert got and all(int(n) % 2 == 1 and int(n) % 3 != 0 for _, n in got)
    for bad in ("status=abc", "cache=maybe", "before=nonsense", "period=2y"):
        status, page = await c.get(f"/dashboard/requests?{bad}")
        assert status == 400, bad


async def test_a_request_page_explains_the_routing(dash, client):
    [rid] = await _send(dash)
    _flush(dash)
    c = client()
    await c.login()
    status, page = await c.get(f"/dashboard/requests/{rid}")
    assert status == 200 and "Routing explanation" in page
    chosen = re.search(r'id="chosen">([^<]+)<', page).group(1)
    assert chosen in ("fake-openai", "fake-anthropic")
    assert page.count("<tr class=") >= 2 and 'class="chosen"' in page  # both candidates, the winner marked
    assert "quality ≥" in page and re.search(r'id="attempts">.*fake-\w+#0', page, re.S)


async def test_prompt_text_is_escaped_and_for_admins_only(dash, client):
    [rid] = await _send(dash, content=HOSTILE, model="fake-openai")
    _flush(dash)
    admin = client()
    await admin.login()
    status, page = await admin.get(f"/dashboard/requests/{rid}")
    assert status == 200 and HOSTILE not in page and "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    viewer = client()
    await viewer.login(VIEWER)
    status, page = await viewer.get(f"/dashboard/requests/{rid}")
    assert status == 200 and "shown to admins only" in page
    assert "onerror" not in page and "alert(" not in page and 'id="prompt"' not in page


async def test_without_logged_bodies_no_prompt_text(start_server, upstreams, tmp_path):
    cfg = dashboard_config(upstreams, tmp_path)
    cfg["server"] = {"log_bodies": False}
    srv = start_server(cfg)
    [rid] = await _send(srv, content="a secret plan", model="fake-openai")
    srv._loop.run(srv.gateway.services.request_log.flush())
    c = DashClient(srv.url)
    await c.login()
    status, page = await c.get(f"/dashboard/requests/{rid}")
    await c.close()
    assert status == 200 and "Not logged" in page and "a secret plan" not in page


async def test_no_page_shows_a_secret(dash, client):
    ids = await _send(dash, n=2)
    _flush(dash)
    c = client()
    await c.login()
    secrets = [MASTER, VIEWER, GATEWAY_KEY, *UPSTREAM_KEYS.values()]
    for path in (
        "/dashboard?period=1d",
        "/dashboard/models?period=1d",
        "/dashboard/requests?period=1d",
        f"/dashboard/requests/{ids[0]}",
        "/dashboard/keys",
        "/dashboard/alerts",
        "/dashboard/recommendations?period=1d",
    ):
        status, page = await c.get(path)
        assert status == 200, path
        for s in secrets:
            assert s not in page, (path, s[:8])


async def test_models_page_lists_models_routes_and_deployments(dash, client):
    await _send(dash, model="fake-openai", n=2)
    await _send(dash, model="fake-anthropic", n=1)
    _flush(dash)
    c = client()
    await c.login()
    status, page = await c.get("/dashboard/models?period=1d")
    assert status == 200
    assert 'id="chart-shares"' in page and '"stacked":true' in page
    deployments = page[page.index('id="deployments"') :]
    assert "fake-openai#0" in deployments and "closed" in deployments
    assert re.search(r"<td>fake-openai</td><td>2</td>", page) and re.search(r"<td>fake-anthropic</td><td>1</td>", page)


async def test_recommendations_page_lists_the_summary_recommendations(dash, client):
    c = client()
    await c.login()
    status, page = await c.get("/dashboard/recommendations?period=7d")
    assert status == 200 and "Recommendations" in page
    status, page = await c.get("/dashboard/recommendations?period=custom&since=3d")
    assert status == 200
    status, page = await c.get("/dashboard/recommendations?period=custom")
    assert status == 400 and "needs since" in page


async def test_experiments_page_compares_the_arms(start_server, upstreams, tmp_path):
    exp = {
        "name": "oa-vs-an",
        "assign_by": "request",
        "arms": [
            {"name": "oa", "share": 1, "model": "fake-openai"},
            {"name": "an", "share": 1, "model": "fake-anthropic"},
        ],
    }
    srv = start_server(dashboard_config(upstreams, tmp_path, experiments=[exp]))
    c = DashClient(srv.url)
    await c.login()
    status, page = await c.get("/dashboard/experiments?period=1d")
    assert status == 200 and "oa-vs-an" in page and "No request of this experiment" in page
    await _send(srv, content="hi", n=16)
    _flush(srv)
    status, page = await c.get("/dashboard/experiments?period=1d")
    await c.close()
    assert status == 200 and ("arm an vs oa:" in page or "arm oa vs an:" in page), page
    assert "<td>oa</td>" in page and "<td>an</td>" in page
