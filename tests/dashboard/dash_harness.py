"""The dashboard tests' config (master key ``MASTER``, viewer key ``VIEWER``, fake providers,
SQLite log in tmp_path) and ``DashClient``, a cookie-keeping client that logs in like a browser."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
from yarl import URL

from faregate.dashboard.session import COOKIE
from helpers import fake_config

MASTER = "fg-master-dashboard-test-0123456789"
VIEWER = "viewer-dashboard-test-0123456789"
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


class DashClient:
    """A browser-like client: one cookie jar, logs in through ``POST /dashboard/login``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.s = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def login(self, key: str = MASTER) -> aiohttp.ClientResponse:
        r = await self.s.post(self.url + "/dashboard/login", data={"key": key}, allow_redirects=False)
        await r.read()
        return r

    async def get(self, path: str, **kw: Any) -> tuple[int, str]:
        async with self.s.get(self.url + path, allow_redirects=False, **kw) as r:
            text = await r.text()
            m = CSRF.search(text)
            if m:
                self.csrf = m.group(1)
            return r.status, text

    async def post(self, path: str, data: dict[str, str], *, csrf: bool = True, **kw: Any) -> tuple[int, str, Any]:
        body = {**({"csrf": self.csrf} if csrf else {}), **data}
        async with self.s.post(self.url + path, data=body, allow_redirects=False, **kw) as r:
            return r.status, await r.text(), r.headers

    def cookie(self) -> str:
        return self.s.cookie_jar.filter_cookies(URL(self.url + "/dashboard"))[COOKIE].value

    async def close(self) -> None:
        await self.s.close()


def dashboard_config(upstreams: dict, tmp_path: Any, **extra: Any) -> dict[str, Any]:
    cfg = fake_config(
        {"openai": upstreams["openai"], "anthropic": upstreams["anthropic"]},
        master_key=MASTER,
        database_url=f"sqlite:///{tmp_path / 'dash.db'}",
        dashboard={"enabled": True, "viewer_keys": [VIEWER]},
        server={"log_bodies": True},
        log_writer={"flush_interval_s": 0.05},
        **extra,
    )
    return cfg
