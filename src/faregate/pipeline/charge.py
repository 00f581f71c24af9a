"""Booking an attempt's outcome on the request context.

``charge`` books what one upstream call consumed (usage and its cost, at the deployment's
prices) on the context and on the call's ``Attempt``, once, whichever way the call ended:
a whole answer, a settled stream, or a failure the provider reported usage for. ``mark_failed``
and ``mark_disconnected`` record how the request ended when it did not end well.
"""

from __future__ import annotations

from typing import Any

from ..core.errors import GatewayError
from ..core.usage import Usage
from ..endpoints.deployments import Deployment
from .context import Attempt, RequestContext


def charge(ctx: RequestContext, attempt: Attempt, dep: Deployment, usage: Usage | None) -> float:
    """Book ``usage`` (``None``: nothing reported) on ``ctx`` and ``attempt``; return its cost."""
    cost = dep.target.prices.cost(usage) if usage else 0.0
    if usage:
        ctx.usage = ctx.usage + usage
        ctx.cost_usd += cost
    attempt.usage, attempt.cost_usd = usage, cost
    return cost


def mark_failed(ctx: RequestContext, err: GatewayError) -> None:
    """The request failed with ``err``: its status and error class, for the log and the client."""
    ctx.status = err.status
    ctx.error_class = getattr(err, "kind", None) or err.code or type(err).__name__
    ctx.error_message = ctx.redactor.error(err).message  # captured here: redacted for every later sink


def mark_disconnected(ctx: RequestContext, attempt: Attempt) -> None:
    """The client went away during ``attempt``: a 499, and nothing learned about the deployment."""
    attempt.status, attempt.error = "cancelled", "the client disconnected"
    ctx.client_disconnected = True
    ctx.status, ctx.error_class = 499, "client_disconnected"


def failover_facts(ctx: RequestContext) -> dict[str, Any] | None:
    """What failover did for the request, for the log's ``extra`` (``None``: nothing special)."""
    facts: dict[str, Any] = {}
    if ctx.hedged:
        facts["hedged"] = True
        facts["hedge_winner"] = ctx.hedge_winner
    if ctx.resumed:
        facts["resumed"] = True
        facts["resume_at_chars"] = ctx.resume_at_chars
    if ctx.malformed_skipped:
        facts["malformed_events_skipped"] = ctx.malformed_skipped
    if facts:
        facts["attempts"] = [
            {"deployment": a.deployment, "model": a.model, "status": a.status, "cost_usd": a.cost_usd}
            for a in ctx.attempts
        ]
    return facts or None
