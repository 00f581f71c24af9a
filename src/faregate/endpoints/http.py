"""The one shared, pooled HTTP client every upstream call goes through."""

from __future__ import annotations

import aiohttp


class HttpPool:
    """Owns a single ``aiohttp.ClientSession`` with keep-alive connections, opened once."""

    def __init__(self, *, limit: int = 1000, limit_per_host: int = 0) -> None:
        self._limit = limit
        self._limit_per_host = limit_per_host
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self.session is None:
            connector = aiohttp.TCPConnector(
                limit=self._limit, limit_per_host=self._limit_per_host, keepalive_timeout=30, ttl_dns_cache=300
            )
            # auto_decompress stays on; cookies are never kept between unrelated clients' requests.
            self.session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), skip_auto_headers=("User-Agent",)
            )

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None
