"""Guardrails that ask a service: ``moderation`` (OpenAI ``POST {url}/moderations``) and ``webhook``.

Both only pass or block. A webhook receives ``{"guardrail", "stage", "text"}`` and answers
``{"allow": bool}``. A timeout, an error status or an answer of the wrong shape is ``on_error``:
``allow`` passes (the decision says ``error``), ``block`` blocks (class ``unavailable``). The
decision names the moderation categories that fired, never the text.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

from ..config.guardrails import GuardrailSpec

log = logging.getLogger(__name__)


class _BadAnswer(Exception):
    """The service answered, but not in the shape expected."""


async def verdict(
    spec: GuardrailSpec, session: aiohttp.ClientSession, text: str, stage: str
) -> tuple[str, tuple[str, ...]]:
    """``("pass", ())``, ``("block", classes)`` or ``("error", ("unavailable",))`` for ``text``."""
    try:
        async with asyncio.timeout(spec.timeout_s):
            if spec.type == "moderation":
                flagged = await _moderation(spec, session, text)
            else:
                flagged = await _webhook(spec, session, text, stage)
    except (TimeoutError, aiohttp.ClientError, _BadAnswer, ValueError) as e:
        log.warning(
            "guardrail %s: %s unavailable (%s); on_error=%s", spec.name, spec.type, type(e).__name__, spec.on_error
        )
        return ("error" if spec.on_error == "allow" else "block"), ("unavailable",)
    return ("block", flagged) if flagged else ("pass", ())


async def _moderation(spec: GuardrailSpec, session: aiohttp.ClientSession, text: str) -> tuple[str, ...]:
    headers = {"authorization": f"Bearer {spec.api_key}"} if spec.api_key else {}
    url = (spec.url or "").rstrip("/") + "/moderations"
    async with session.post(url, json={"model": spec.model, "input": text}, headers=headers) as r:
        if r.status >= 300:
            raise _BadAnswer(f"status {r.status}")
        body: Any = await r.json(content_type=None)
    try:
        result = body["results"][0]
        fired = sorted(c for c, on in (result.get("categories") or {}).items() if on)
        flagged = bool(result["flagged"])
    except (KeyError, IndexError, TypeError, AttributeError) as e:
        raise _BadAnswer("not a moderation answer") from e
    if spec.categories:
        return tuple(c for c in fired if c in spec.categories)
    return tuple(fired or ["flagged"]) if flagged else ()


async def _webhook(spec: GuardrailSpec, session: aiohttp.ClientSession, text: str, stage: str) -> tuple[str, ...]:
    payload = {"guardrail": spec.name, "stage": stage, "text": text}
    async with session.post(spec.url or "", json=payload) as r:
        if r.status >= 300:
            raise _BadAnswer(f"status {r.status}")
        body: Any = await r.json(content_type=None)
    if not isinstance(body, dict) or not isinstance(body.get("allow"), bool):
        raise _BadAnswer('expected {"allow": true|false}')
    return () if body["allow"] else ("webhook",)
