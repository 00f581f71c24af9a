"""Sending one alert message to one channel: a signed webhook, a Slack incoming webhook, email.

A message is built by the evaluator from bounded facts (rule, subject, value, threshold);
it never carries a secret or a prompt. Webhook bodies are JSON, signed with the channel's
secret: ``X-Faregate-Signature: sha256=<hex HMAC-SHA256 of the raw body>``. A failed send is
retried with exponential backoff; the result says how many attempts it took and why it failed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import aiohttp
import orjson

from ..config import ChannelConfig
from ..core.redact import redact

SIGNATURE_HEADER = "X-Faregate-Signature"


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    attempts: int
    error: str | None = None


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def slack_body(message: dict[str, Any]) -> dict[str, Any]:
    """Slack's incoming-webhook format: ``text`` (the fallback) and a section block."""
    icon = {"alert": ":rotating_light:", "resolved": ":white_check_mark:"}.get(message["event"], ":information_source:")
    text = f"{icon} faregate {message['event']}: {message['text']}"
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


class Sender:
    """Sends with retries; one ``aiohttp`` session, opened on first use."""

    def __init__(self, *, retries: int = 3, backoff_s: float = 0.5, timeout_s: float = 10.0) -> None:
        self.retries, self.backoff_s, self.timeout_s = retries, backoff_s, timeout_s
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, channel: ChannelConfig, message: dict[str, Any]) -> SendResult:
        error: str | None = None
        for attempt in range(1, self.retries + 2):
            try:
                await asyncio.wait_for(self._send_once(channel, message), timeout=self.timeout_s)
                return SendResult(True, attempt)
            except Exception as exc:  # noqa: BLE001 - any failure is retried, then recorded
                secrets = [s for s in (channel.secret, channel.password) if s]
                error = redact(f"{type(exc).__name__}: {exc}"[:300], secrets)
            if attempt <= self.retries:
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
        return SendResult(False, self.retries + 1, error)

    async def _send_once(self, channel: ChannelConfig, message: dict[str, Any]) -> None:
        if channel.type == "email":
            await asyncio.to_thread(_send_email, channel, message, self.timeout_s)
            return
        body = orjson.dumps(slack_body(message) if channel.type == "slack" else message)
        headers = {"content-type": "application/json"}
        if channel.type == "webhook" and channel.secret:
            headers[SIGNATURE_HEADER] = sign(channel.secret, body)
        if self._session is None:
            self._session = aiohttp.ClientSession()
        assert channel.url is not None
        async with self._session.post(channel.url, data=body, headers=headers) as resp:
            if resp.status >= 300:
                raise RuntimeError(f"{channel.type} answered HTTP {resp.status}")


def _send_email(channel: ChannelConfig, message: dict[str, Any], timeout_s: float) -> None:
    msg = EmailMessage()
    msg["Subject"] = f"[faregate] {message['event']}: {message.get('rule') or ''}".strip()
    msg["From"] = channel.sender or ""
    msg["To"] = ", ".join(channel.to)
    lines = [message["text"], ""] + [f"{k}: {v}" for k, v in message.items() if k != "text"]
    msg.set_content("\n".join(lines))
    assert channel.smtp_host is not None
    with smtplib.SMTP(channel.smtp_host, channel.smtp_port, timeout=timeout_s) as smtp:
        if channel.starttls:
            smtp.starttls()
        if channel.username:
            smtp.login(channel.username, channel.password or "")
        smtp.send_message(msg)
