"""The request-log step: one ``RequestRecord`` per request, appended when the answer completes.

Put it first (outermost) in the chain so it sees every request, refused ones included. It
owns the ``LogWriter``: ``start()`` starts it, ``close()`` flushes it (SIGTERM path).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from ..core.redact import LOG_MARKER, redact
from ..storage.request_log import LogWriter
from ..storage.request_record import RequestRecord
from .context import Reply, RequestContext
from .explain_facts import record_facts
from .step import Next, Step

LOG_BODY_MAX_CHARS = 64 * 1024  # the default of server.log_body_max_chars


class RequestLogStep(Step):
    """Appends one ``RequestRecord`` per finished request to its ``LogWriter``.

    ``owns_writer``: whether this step starts and closes the writer. The gateway's writer is a
    shared service that outlives config snapshots, so its steps do not."""

    def __init__(
        self,
        writer: LogWriter,
        *,
        log_bodies: bool = False,
        redact_emails: bool = False,
        owns_writer: bool = True,
        log_body_max_chars: int = LOG_BODY_MAX_CHARS,
    ) -> None:
        self.log_body_max_chars = log_body_max_chars
        self.writer = writer
        self.log_bodies = log_bodies
        self.redact_emails = redact_emails
        self.owns_writer = owns_writer

    @classmethod
    def from_config(cls, config: Any, **kw: Any) -> RequestLogStep:
        return cls(LogWriter(config.database_url, config.log_writer, **kw), log_bodies=config.server.log_bodies)

    async def start(self) -> None:
        if self.owns_writer:
            await self.writer.start()

    async def close(self) -> None:
        if self.owns_writer:
            await self.writer.close()

    def handle(self, ctx: RequestContext, call_next: Next) -> Awaitable[Reply]:
        # The gateway records the status and error class of a refused request before finishing it.
        ctx.on_record.append(self._hook)
        return call_next(ctx)

    def _hook(self, ctx: RequestContext) -> None:
        self.writer.append(self.record(ctx))

    def record(self, ctx: RequestContext) -> RequestRecord:
        return build_record(
            ctx, log_bodies=self.log_bodies, redact_emails=self.redact_emails, max_chars=self.log_body_max_chars
        )


def _capped(text: str | None, max_chars: int) -> str | None:
    """At most ``max_chars`` of ``text`` (cut before redaction, so a huge answer costs little)."""
    if text is None or len(text) <= max_chars:
        return text
    return text[:max_chars] + f" [... {len(text) - max_chars} more characters not logged]"


def _prompt_text(ctx: RequestContext) -> str:
    parts = []
    for m in getattr(ctx.request, "messages", None) or []:
        content = getattr(m, "content", None)
        if content is None and isinstance(m, dict):
            content = m.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            for p in content:
                t = getattr(p, "text", None) if not isinstance(p, dict) else p.get("text")
                if t:
                    parts.append(t)
    return "\n".join(parts)


def _ceiling(ctx: RequestContext) -> float | None:
    """The request's latency ceiling: the plan's, else the request's own."""
    ceiling = getattr(getattr(ctx.plan, "constraints", None), "max_latency_ms", None)
    routing = getattr(ctx.request, "routing", None)
    if ceiling is None and routing:
        ceiling = routing.get("max_latency_ms")
    return ceiling


def build_record(
    ctx: RequestContext, *, log_bodies: bool = False, redact_emails: bool = False, max_chars: int = LOG_BODY_MAX_CHARS
) -> RequestRecord:
    p = ctx.principal
    plan = ctx.plan
    latency = ctx.elapsed_ms()
    ceiling = _ceiling(ctx)
    status = ctx.status
    if ctx.error_class and status < 400:
        status = 500
    return RequestRecord(
        id=ctx.request_id,
        ts=ctx.started_at,
        key_id=p.key_id if p else None,
        team=p.team if p else None,
        route=ctx.route or getattr(plan, "route", None),
        requested_model=ctx.requested_model or ctx.request.model,
        model=ctx.answered_model,
        deployment=ctx.answered_by,
        plan_kind=getattr(plan, "kind", None),
        plan_models=list(getattr(plan, "models", None) or ctx.candidates),
        models_called=[a.model for a in ctx.attempts],
        pred_quality=getattr(plan, "predicted_quality", None),
        pred_cost_usd=getattr(plan, "predicted_cost_usd", None),
        pred_latency_ms=getattr(plan, "predicted_latency_ms", None),
        input_tokens=ctx.usage.input_tokens,
        output_tokens=ctx.usage.output_tokens,
        cached_tokens=ctx.usage.cached_input_tokens,
        cost_usd=ctx.cost_usd,
        ttft_ms=ctx.ttft_ms,
        latency_ms=latency,
        status=status,
        error_class=ctx.error_class,
        attempts=len(ctx.attempts),
        fallback_used=ctx.fallback_used,
        cache_hit=ctx.cache_hit,
        constraint_unmet=ctx.constraint_unmet,
        client_disconnect=ctx.client_disconnected,
        latency_ceiling_ms=ceiling,
        latency_met=None if ceiling is None else latency <= ceiling,
        arm=ctx.arm or getattr(plan, "arm", None),
        task=ctx.task,
        prompt=redact(_capped(_prompt_text(ctx), max_chars), emails=redact_emails, marker=LOG_MARKER)
        if log_bodies
        else None,
        answer=redact(_capped(ctx.response_text, max_chars), emails=redact_emails, marker=LOG_MARKER)
        if log_bodies and ctx.request.kind != "embedding"  # vectors are not an answer to read
        else None,
        extra=_extra(ctx),
        policy=ctx.policy or None,
        cache_kind=ctx.cache_kind,
        cache_saved_usd=ctx.cache_saved_usd,
        complexity=ctx.complexity,
        experiment=ctx.experiment,
        experiment_arm=ctx.experiment_arm,
        batch_id=ctx.batch_id,
        guardrails=_guardrails(ctx),
    )


def _guardrails(ctx: RequestContext) -> str | None:
    """The decisions as "name:action:stage:classes;..." (no matched text is ever in them)."""
    return ";".join(":".join(d) for d in ctx.guardrail_decisions) or None


def _extra(ctx: RequestContext) -> dict[str, Any] | None:
    """The record's facts (failover, attempts, the plan), and the request kind when it is not a chat (``embedding``, ``completion``)."""
    facts = record_facts(ctx)
    if ctx.request.kind == "chat":
        return facts
    return {**(facts or {}), "kind": ctx.request.kind}
