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


class Moderation:
    """The OpenAI fake's ``POST /v1/moderations``: an input containing one of ``words`` (case
    insensitive) is flagged with that word's category. Scriptable in process (``fake.moderation``)
    or with ``POST /_fake/moderation`` ``{"words": {"word": "category"}, "delay_ms": 0, "status": 200}``.
    Its calls are kept apart from the chat log (``log``), so guarded chats still read as before."""

    def __init__(self) -> None:
        self.log: list[dict[str, Any]] = []
        self.reset()

    def reset(self) -> None:
        self.words: dict[str, str] = {"badword": "harassment"}
        self.delay_ms = 0
        self.status = 200
        self.log.clear()

    def set(self, data: dict[str, Any]) -> None:
        self.words = dict(data.get("words", self.words))
        self.delay_ms = int(data.get("delay_ms", 0))
        self.status = int(data.get("status", 200))

    async def script(self, request: web.Request) -> web.Response:
        data = await request.json()
        self.set(data if isinstance(data, dict) else {})
        return web.json_response({"words": self.words})

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.log.append(body)
        if self.delay_ms:
            await asyncio.sleep(self.delay_ms / 1000)
        if self.status >= 400:
            return web.json_response({"error": {"message": "fake moderation error"}}, status=self.status)
        raw = body.get("input")
        inputs = raw if isinstance(raw, list) else [raw]
        results = []
        for text in inputs:
            low = str(text).lower()
            cats = dict.fromkeys(set(self.words.values()), False)
            for word, cat in self.words.items():
                if word.lower() in low:
                    cats[cat] = True
            scores = {c: (0.99 if on else 0.01) for c, on in cats.items()}
            results.append({"flagged": any(cats.values()), "categories": cats, "category_scores": scores})
        return web.json_response({"id": "modr-fake", "model": body.get("model", ""), "results": results})
