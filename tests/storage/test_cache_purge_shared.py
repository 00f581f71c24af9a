"""An admin cache purge on one replica reaches the others' memory layers (SQLite and PostgreSQL)."""

from __future__ import annotations

import time

from faregate.cache.entry import CachedAnswer
from faregate.cache.layer import Selector
from faregate.cache.purge_sync import PurgeSync
from faregate.cache.service import CacheService
from faregate.config import CacheConfig
from faregate.core.usage import Usage


def _answer(text: str) -> CachedAnswer:
    return CachedAnswer(text, [], "stop", Usage(input_tokens=3, output_tokens=2), "m", 0.001, "req-x", time.time())


async def _replica(db_url: str) -> CacheService:
    svc = CacheService.build(CacheConfig(enabled=True), db_url)
    await svc.start()
    svc.purges = PurgeSync(svc, db_url, interval_s=60)  # polled by hand here
    await svc.purges.start()
    return svc


async def test_purge_on_one_replica_empties_the_others_memory(db_url):
    a, b = await _replica(db_url), await _replica(db_url)
    try:
        for svc in (a, b):
            svc.put("scope1.model1.k1", _answer("old answer"), ttl_s=600)
            svc.put("scope2.model1.k2", _answer("kept"), ttl_s=600)
        await a.flush()
        await b.flush()
        assert b.get_fast("scope1.model1.k1") is not None
        await a.delete(Selector(scope_hash="scope1"))  # the admin purge, on replica A
        assert a.get_fast("scope1.model1.k1") is None
        assert b.get_fast("scope1.model1.k1") is not None  # not yet: B has not polled
        await b.purges.poll()
        assert b.get_fast("scope1.model1.k1") is None
        assert b.get_fast("scope2.model1.k2") is not None  # only what the selector named
        await a.purges.poll()  # A does not apply its own purge twice
        assert a.purges.applied == 0 and b.purges.applied == 1
    finally:
        for svc in (a, b):
            await svc.purges.close()
            await svc.close()
