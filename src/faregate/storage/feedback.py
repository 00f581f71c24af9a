"""Explicit feedback on a logged request: ``parse`` a body, ``record`` it (one per request; a
later one replaces it). Stored in the ``feedback`` table of the request_log migrations."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from ..core.errors import InvalidRequest
from .db import Database


@dataclass(frozen=True, slots=True)
class Feedback:
    request_id: str
    score: float
    comment: str | None = None


def parse(body: Any) -> Feedback:
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object with request_id and score (0..1) or thumbs (up|down).")
    rid = body.get("request_id")
    if not isinstance(rid, str) or not rid:
        raise InvalidRequest("request_id is required: the id from the response (x-request-id).", param="request_id")
    score, thumbs = body.get("score"), body.get("thumbs")
    if score is not None and thumbs is not None:
        raise InvalidRequest("Send either score or thumbs, not both.", param="score")
    if thumbs is not None:
        if thumbs not in ("up", "down"):
            raise InvalidRequest(f'thumbs must be "up" or "down", got {str(thumbs)[:20]!r}.', param="thumbs")
        value = 1.0 if thumbs == "up" else 0.0
    else:
        if isinstance(score, bool) or not isinstance(score, (int, float)) or math.isnan(score) or not 0 <= score <= 1:
            raise InvalidRequest("score must be a number from 0 to 1 (or send thumbs: up|down).", param="score")
        value = float(score)
    comment = body.get("comment")
    if comment is not None and not isinstance(comment, str):
        raise InvalidRequest("comment must be a string.", param="comment")
    return Feedback(rid, value, comment[:4000] if comment else None)


async def record(db: Database, fb: Feedback, *, key_id: str | None) -> None:
    await db.execute(
        "INSERT INTO feedback (request_id, key_id, ts, score, comment) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (request_id) DO UPDATE SET score = excluded.score, comment = excluded.comment, "
        "ts = excluded.ts",
        fb.request_id,
        key_id,
        time.time(),
        fb.score,
        fb.comment,
    )
