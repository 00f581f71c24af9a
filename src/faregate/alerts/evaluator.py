"""The alert service: evaluates the rules in the background and sends what changed.

Every ``alerts.interval_s`` (default 60 s), off the request path, each rule is evaluated from
the request log (``rules.evaluate``). A (rule, subject) that starts to hold is sent once to
the rule's channels (cooldown: not again while it holds); when it stops holding a
``resolved`` message follows. With ``daily_summary`` a summary of the previous UTC day is
sent once a day. Every send is recorded in ``alert_history`` (time, rule, channel, outcome).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from ..config import AlertsConfig, ChannelConfig, RuleConfig
from ..storage.analytics import summary
from .channels import Sender, SendResult
from .rules import Facts, Finding, evaluate, period_start
from .store import AlertStore

log = logging.getLogger("faregate.alerts")


class AlertService:
    """Rules and channels from the config plus those added through the admin API."""

    def __init__(self, cfg: AlertsConfig, url: str, facts: Facts | None = None) -> None:
        self.cfg = cfg
        self.store = AlertStore(url)
        self.facts = facts or Facts()
        self.sender = Sender(retries=cfg.retries, backoff_s=cfg.retry_backoff_s, timeout_s=cfg.send_timeout_s)
        self.config_channels = {c.id: c for c in cfg.channels}
        self.config_rules = {r.id: r for r in cfg.rules}
        self.firing: dict[tuple[str, str], Finding] = {}
        self.flush: Any = None  # an async callable: flush the pending request-log records
        self._summary_day: float | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def channels(self) -> dict[str, ChannelConfig]:
        return {**{c.id: c for c in await self.store.channels()}, **self.config_channels}

    async def rules(self) -> dict[str, RuleConfig]:
        return {**{r.id: r for r in await self.store.rules()}, **self.config_rules}

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None and self.cfg.enabled:
            self._summary_day = period_start("day", time.time())
            self._task = asyncio.get_running_loop().create_task(self._run(), name="faregate-alerts")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.sender.close()
        await self.store.close()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.interval_s)
            try:
                await self.check()
            except Exception:  # the database may be down: try again next interval
                log.exception("alert evaluation failed")

    # -- evaluation -----------------------------------------------------------------------

    async def check(self, *, flush: bool = False, now: float | None = None) -> dict[str, Any]:
        """Evaluate every rule now; send alerts and resolves. ``flush``: write the pending
        request-log records first, so what was just served counts."""
        async with self._lock:
            if flush and self.flush is not None:
                await self.flush()
            now = time.time() if now is None else now
            db = await self.store.db()
            channels = await self.channels()
            sent: list[dict[str, Any]] = []
            holding: set[tuple[str, str]] = set()
            for rule in (await self.rules()).values():
                try:
                    findings = await evaluate(rule, db, now, self.facts)
                except Exception:
                    # One broken rule must not stop the others; what it was firing stays firing.
                    log.exception("alert rule %r could not be evaluated", rule.id)
                    holding |= {k for k in self.firing if k[0] == rule.id}
                    continue
                for f in findings:
                    key = (rule.id, f.subject)
                    holding.add(key)
                    if key not in self.firing:
                        self.firing[key] = f
                        sent += await self._notify(rule, f, "alert", channels)
            for key in [k for k in self.firing if k not in holding]:
                f = self.firing.pop(key)
                gone = (await self.rules()).get(key[0])
                if gone is not None:
                    sent += await self._notify(gone, f, "resolved", channels)
            sent += await self._daily_summary(now, channels)
            return {"firing": [{"rule": r, "subject": s} for r, s in sorted(self.firing)], "sent": sent}

    async def _notify(
        self, rule: RuleConfig, f: Finding, event: str, channels: dict[str, ChannelConfig]
    ) -> list[dict[str, Any]]:
        text = f"{rule.id}: {f.text}" if event == "alert" else f"{rule.id}: resolved ({f.subject})"
        message = {
            "event": event,
            "rule": rule.id,
            "kind": rule.kind,
            "subject": f.subject,
            "value": round(f.value, 6),
            "threshold": rule.threshold,
            "text": text,
            "at": time.time(),
        }
        targets = [channels[c] for c in (rule.channels or list(channels)) if c in channels]
        return [await self.deliver(ch, message, rule=rule.id, subject=f.subject) for ch in targets]

    async def deliver(
        self, channel: ChannelConfig, message: dict[str, Any], *, rule: str | None = None, subject: str | None = None
    ) -> dict[str, Any]:
        """Send one message to one channel and record the outcome."""
        res: SendResult = await self.sender.send(channel, message)
        outcome = "sent" if res.ok else "failed"
        if not res.ok:
            log.warning("alert to channel %s failed after %d attempt(s): %s", channel.id, res.attempts, res.error)
        await self.store.record(
            rule=rule,
            channel=channel.id,
            event=message["event"],
            subject=subject,
            outcome=outcome,
            attempts=res.attempts,
            error=res.error,
            message=message["text"],
        )
        return {"channel": channel.id, "event": message["event"], "outcome": outcome, "attempts": res.attempts}

    async def _daily_summary(self, now: float, channels: dict[str, ChannelConfig]) -> list[dict[str, Any]]:
        today = period_start("day", now)
        if not self.cfg.daily_summary or self._summary_day is None or today <= self._summary_day:
            return []
        self._summary_day = today
        s = await summary(await self.store.db(), since=today - 86400, until=today, group_by="model")
        top = ", ".join(f"{g['group']} ${g['spend_usd']:.4f}" for g in s["groups"][:3]) or "none"
        t = s["total"]
        message = {
            "event": "summary",
            "rule": None,
            "requests": t["requests"],
            "spend_usd": t["spend_usd"],
            "savings_usd": t.get("savings_usd"),
            "text": f"yesterday: {t['requests']} requests, ${t['spend_usd']:.4f} spent; top models: {top}",
            "at": now,
        }
        return [await self.deliver(ch, message) for ch in channels.values()]
