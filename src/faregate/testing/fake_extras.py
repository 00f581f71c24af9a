"""Fake-provider behaviours beyond the basic script: assistant-prefill continuation and
oversized answers (an SSE line without an end), for the failover and hardening tests."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from ..core.types import content_text

_PAD = b"x" * (64 * 1024)


def prefill_of(protocol: str, body: dict[str, Any]) -> str | None:
    """The text of a final assistant message the request asks to continue, if any.

    Anthropic continues any final assistant message; an OpenAI-wire server only with vLLM's
    ``continue_final_message`` (without it, a final assistant message is just history)."""
    messages = body.get("messages")
    if protocol == "gemini" or not isinstance(messages, list) or not messages:
        return None
    last = messages[-1]
    if not isinstance(last, dict) or last.get("role") != "assistant":
        return None
    if protocol == "openai" and not body.get("continue_final_message"):
        return None
    content = last.get("content")
    return content_text(content, "", any_part=True) if isinstance(content, str | list) else None


def continued(text: str | None, prefill: str | None) -> str | None:
    """The rest of ``text`` after ``prefill`` (the answer continued), else ``text`` unchanged."""
    if text is None or not prefill:
        return text
    if text.startswith(prefill):
        return text[len(prefill) :]
    stripped = prefill.rstrip()  # a prefill sent without its trailing whitespace
    return text[len(stripped) :] if text.startswith(stripped) else text


async def huge_line(resp: web.StreamResponse, size: int) -> web.StreamResponse:
    """One ``data:`` line of ``size`` bytes with no newline, then silence until the client leaves."""
    await resp.write(b'data: {"x": "')
    sent = 0
    while sent < size:
        piece = _PAD[: min(len(_PAD), size - sent)]
        await resp.write(piece)
        sent += len(piece)
    await asyncio.sleep(3600)
    return resp
