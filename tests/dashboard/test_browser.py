"""The dashboard in a real headless Chromium (Debian's ``chromium``, driven by playwright):
log in through the form, the overview's numbers against the analytics API, charts painted,
a filtered request list, a request's explanation, a revoke that the next API call feels,
and no console error on any page. Screenshots go to the test's temporary folder."""

from __future__ import annotations

import re

import aiohttp
import openai
import pytest
from dash_browser import PAGES, Tour, chromium_path
from dash_harness import MASTER

from helpers import GATEWAY_KEY

try:
    import playwright.async_api  # noqa: F401

    HAVE_PLAYWRIGHT = True
except ImportError:
    HAVE_PLAYWRIGHT = False

pytestmark = [
    pytest.mark.skipif(
        chromium_path() is None, reason="no chromium on PATH: install Debian's chromium (.ci/run does) to run these"
    ),
    pytest.mark.skipif(not HAVE_PLAYWRIGHT, reason="playwright is not installed (pip install -e '.[test]')"),
]


async def _traffic(dash) -> dict:
    oc = openai.AsyncOpenAI(base_url=dash.base_url, api_key=GATEWAY_KEY)
    for i in range(4):
        await oc.chat.completions.create(model="auto", messages=[{"role": "user", "content": f"question {i}"}])
    for _ in range(2):
        await oc.chat.completions.create(model="fake-anthropic", messages=[{"role": "user", "content": "hi"}])
    await oc.close()
    dash._loop.run(dash.gateway.services.request_log.flush())
    async with aiohttp.ClientSession() as s:
        async with s.post(
            dash.url + "/admin/keys", json={"name": "browser-bot"}, headers={"authorization": f"Bearer {MASTER}"}
        ) as r:
            return await r.json()


async def _api_total(dash, since: str, until: str) -> dict:
    async with aiohttp.ClientSession() as s:
        async with s.get(
            dash.url + "/v1/analytics/summary",
            params={"since": since, "until": until},
            headers={"authorization": f"Bearer {MASTER}"},
        ) as r:
            assert r.status == 200
            return (await r.json())["total"]


async def _status_of_chat(dash, key: str) -> int:
    async with aiohttp.ClientSession() as s:
        async with s.post(
            dash.url + "/v1/chat/completions",
            json={"model": "fake-openai", "messages": [{"role": "user", "content": "hi"}]},
            headers={"authorization": f"Bearer {key}"},
        ) as r:
            return r.status


async def test_the_dashboard_in_chromium(dash, tmp_path):
    made = await _traffic(dash)
    async with Tour(dash.url) as t:
        await t.login(MASTER)
        page = t.page
        # Overview: the numbers of the analytics API for the same window.
        await t.open("/dashboard?period=1d")
        window = page.locator(".window")
        since, until = await window.get_attribute("data-since"), await window.get_attribute("data-until")
        api = await _api_total(dash, since, until)
        assert api["requests"] == 6
        assert await page.inner_text("#total-requests") == f"{api['requests']:,}"
        assert await page.locator("#total-spend").get_attribute("data-value") == str(api["spend_usd"])
        inks = await t.canvases()
        assert len(inks) == 2 and all(c["w"] > 0 and c["h"] > 0 and c["ink"] > 500 for c in inks), inks
        await t.shot(tmp_path / "overview.png")
        # Every page opens, draws its charts, and logs no error.
        for name, path in PAGES.items():
            await t.open(path + "?period=1d" if name in ("models", "requests") else path)
            assert await page.locator("main").count() == 1
            if name == "models":
                inks = await t.canvases()
                assert inks and all(c["ink"] > 500 for c in inks), inks
            await t.shot(tmp_path / f"{name}.png")
        # Filter the request list through its form.
        await t.open("/dashboard/requests?period=1d")
        assert await page.locator("a.request-link").count() == 6
        await page.fill("#filters input[name=model]", "fake-anthropic")
        await page.click("#filter-button")
        await page.wait_for_url(re.compile(r"model=fake-anthropic"))
        models = await page.locator("#requests td.model").all_inner_texts()
        assert models == ["fake-anthropic", "fake-anthropic"]
        # A routed request's explanation.
        await page.fill("#filters input[name=model]", "")
        await page.fill("#filters input[name=route]", "auto")
        await page.click("#filter-button")
        await page.wait_for_url(re.compile(r"route=auto"))
        await page.click("a.request-link >> nth=0")
        await page.wait_for_selector("#explanation #candidates")
        assert await page.locator("#candidates tr.chosen").count() == 1
        assert (await page.inner_text("#chosen")) in ("fake-openai", "fake-anthropic")
        await t.shot(tmp_path / "request.png")
        # Revoke a key, confirmed; the next API call with it is refused.
        assert await _status_of_chat(dash, made["key"]) == 200
        await t.open("/dashboard/keys")
        await page.click(f"tr[data-key-id='{made['id']}'] button.revoke")
        await page.wait_for_selector("#confirm-button")
        await t.shot(tmp_path / "confirm.png")
        await page.click("#confirm-button")
        await page.wait_for_url(re.compile(r"/dashboard/keys\?done=revoked"))
        assert await page.inner_text(f"tr[data-key-id='{made['id']}'] td.state") == "revoked"
        assert await _status_of_chat(dash, made["key"]) == 401
        assert t.errors == [], t.errors
    assert all((tmp_path / f"{n}.png").stat().st_size > 5000 for n in [*PAGES, "request", "confirm"])
