"""Stored Responses API responses (``store: true``): the table ``stored_response`` of the
request-log database (migration ``request_log/007_responses``), SQLite or PostgreSQL.

A response is written before its answer is complete on the wire (before the JSON body, before a
stream's ``response.completed``), so the very next request can name it as
``previous_response_id``. Every read and delete is scoped to the gateway key that made it: the
row's ``owner`` must match, so another key learns nothing (404), not even that the id exists.
With the request log off (``database_url: ""``) responses live in memory (the newest
``MEMORY_LIMIT``), lost on restart.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from ..core.errors import GatewayError
from .db import Database, DatabaseUnavailable

MEMORY_LIMIT = 10_000
_INSERT = (
    "INSERT INTO stored_response (id, owner, created_at, response, history) VALUES ($1, $2, $3, $4, $5) "
    "ON CONFLICT (id) DO UPDATE SET response = $4, history = $5"
)


class StoreUnavailable(GatewayError):
    """The database of stored responses cannot be reached (a 503: retry, the request was not run)."""

    status = 503
    type = "server_error"
    code = "store_unavailable"


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """A stored response: its object as answered, and the conversation it ends (input items
    first, then its output items as input items of the next turn)."""

    id: str
    response: dict[str, Any]
    history: list[dict[str, Any]]


def as_history(items: list[dict[str, Any]], output: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation a next turn continues: the input items, then the output items as input
    (without their item ids, which an upstream that did not store them would look up, and
    without reasoning items that carry no encrypted content to replay)."""
    out = list(items)
    for item in output:
        if item.get("type") == "reasoning" and not item.get("encrypted_content"):
            continue
        out.append({k: v for k, v in item.items() if k != "id"})
    return out


class ResponseStore:
    """Save, get and delete stored responses, scoped by ``owner`` (a gateway key id).

    ``database``: how to reach the request-log database (already migrated), or None to keep
    responses in memory."""

    def __init__(self, database: Callable[[], Awaitable[Database]] | None) -> None:
        self._open = database
        self._memory: OrderedDict[str, tuple[str, StoredResponse]] = OrderedDict()

    async def _run(self, query: Callable[[Database], Awaitable[Any]]) -> Any:
        """``query`` on the database; an unreachable one is a ``StoreUnavailable`` (503)."""
        assert self._open is not None
        try:
            return await query(await self._open())
        except (DatabaseUnavailable, OSError) as exc:
            raise StoreUnavailable(f"Stored responses are unavailable ({exc}); retry shortly.") from None

    async def save(self, owner: str, response: dict[str, Any], history: list[dict[str, Any]]) -> None:
        rid = str(response["id"])
        if self._open is None:
            self._memory[rid] = (owner, StoredResponse(rid, response, history))
            self._memory.move_to_end(rid)
            while len(self._memory) > MEMORY_LIMIT:
                self._memory.popitem(last=False)
            return
        row = (rid, owner, time.time(), orjson.dumps(response).decode(), orjson.dumps(history).decode())
        await self._run(lambda db: db.execute(_INSERT, *row))

    async def get(self, owner: str, rid: str) -> StoredResponse | None:
        if self._open is None:
            found = self._memory.get(rid)
            return found[1] if found is not None and found[0] == owner else None
        row = await self._run(
            lambda db: db.fetchrow(
                "SELECT response, history FROM stored_response WHERE id = $1 AND owner = $2", rid, owner
            )
        )
        if row is None:
            return None
        return StoredResponse(rid, orjson.loads(row["response"]), orjson.loads(row["history"]))

    async def delete(self, owner: str, rid: str) -> bool:
        if self._open is None:
            found = self._memory.get(rid)
            if found is None or found[0] != owner:
                return False
            del self._memory[rid]
            return True
        deleted = await self._run(
            lambda db: db.execute("DELETE FROM stored_response WHERE id = $1 AND owner = $2", rid, owner)
        )
        return bool(deleted)
