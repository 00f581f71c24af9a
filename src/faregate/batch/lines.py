"""Checking an uploaded batch input file: JSONL, one request a line, as OpenAI's Batch API takes.

Every line is ``{"custom_id", "method": "POST", "url", "body"}``; a file with any bad line is
refused as a whole (a 400 naming the line), so nothing of it runs."""

from __future__ import annotations

from typing import Any

import orjson

from ..core.errors import InvalidRequest

URLS = ("/v1/chat/completions", "/v1/embeddings", "/v1/responses")
MAX_LINES = 50_000


def parse_lines(content: str) -> list[dict[str, Any]]:
    """The file's lines, checked; a ``InvalidRequest`` (400) that says which line and why."""
    lines: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n, raw in enumerate(content.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise InvalidRequest(
                f"Line {n} of the batch input file is not valid JSON.", param="input_file_id"
            ) from None
        if not isinstance(line, dict) or not isinstance(line.get("body"), dict):
            raise InvalidRequest(
                f"Line {n} needs an object with custom_id, method, url and body.", param="input_file_id"
            )
        cid = line.get("custom_id")
        if not isinstance(cid, str) or not cid:
            raise InvalidRequest(f"Line {n} has no custom_id (a non-empty string).", param="input_file_id")
        if cid in seen:
            raise InvalidRequest(
                f"Line {n} repeats custom_id {cid[:80]!r}; each must be unique.", param="input_file_id"
            )
        if line.get("method", "POST") != "POST" or line.get("url") not in URLS:
            raise InvalidRequest(
                f"Line {n}: url must be one of {', '.join(URLS)} with method POST.", param="input_file_id"
            )
        seen.add(cid)
        lines.append(line)
    if not lines:
        raise InvalidRequest("The batch input file has no request lines.", param="input_file_id")
    if len(lines) > MAX_LINES:
        raise InvalidRequest(f"A batch holds at most {MAX_LINES} lines.", param="input_file_id")
    return lines


def same_endpoint(lines: list[dict[str, Any]], endpoint: str) -> None:
    """Every line's url must be the batch's ``endpoint`` (as OpenAI requires)."""
    for n, line in enumerate(lines, start=1):
        if line["url"] != endpoint:
            raise InvalidRequest(
                f"Line {n} is for {line['url']} but the batch endpoint is {endpoint}.", param="endpoint"
            )
