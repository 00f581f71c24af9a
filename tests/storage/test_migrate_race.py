"""Two connections starting at once on one SQLite file both migrate without error (the demo's
first feedback call used to fail with a UNIQUE violation on schema_migrations)."""

import asyncio

from faregate.storage.db import Database


async def test_concurrent_migrations_on_one_sqlite_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'race.db'}"
    for _ in range(5):
        (tmp_path / "race.db").unlink(missing_ok=True)
        a, b = await Database.open(url), await Database.open(url)
        try:
            await asyncio.gather(a.migrate("request_log"), b.migrate("request_log"))
            rows = await a.fetch("SELECT version FROM schema_migrations WHERE concern = $1", "request_log")
            assert len(rows) == len({r["version"] for r in rows}) >= 1
            await b.execute(
                "INSERT INTO feedback (request_id, key_id, ts, score, comment) VALUES ($1, $2, $3, $4, $5)",
                "r1",
                None,
                0.0,
                1.0,
                None,
            )
        finally:
            await a.close()
            await b.close()
