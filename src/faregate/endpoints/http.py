"""The one shared, pooled HTTP client every upstream call goes through."""

from __future__ import annotations

import aiohttp

from ..config import HttpPoolConfig


class HttpPool:
    """Owns a single ``aiohttp.ClientSession`` with keep-alive connections, opened once."""

    def __init__(self, config: HttpPoolConfig | None = None) -> None:
        self._config = config or HttpPoolConfig()
        self.session: aiohttp.ClientSession | None = None

    @property
    def client(self) -> aiohttp.ClientSession:
        """The open session; calling an upstream before ``start`` is a programming error."""
        if self.session is None:
            raise RuntimeError("the HTTP pool is not started")
        return self.session

    async def start(self) -> None:
        if self.session is None:
            c = self._config
            connector = aiohttp.TCPConnector(
                limit=c.limit,
                limit_per_host=c.limit_per_host,
                keepalive_timeout=c.keepalive_s,
                ttl_dns_cache=c.dns_cache_s,
            )
            # auto_decompress stays on; cookies are never kept between unrelated clients' requests.
            self.session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), skip_auto_headers=("User-Agent",)
            )

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None
