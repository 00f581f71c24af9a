"""Settling one line a provider's batch API answered: the OpenAI output (or error) line, the
charge at the price actually paid, and the line's own request-log row.

The answer (or error) body is the provider's, parsed by the deployment's own adapter, so a
line reads exactly as the same request sent live would. The cost is the deployment's list price
less the model's ``batch_discount``. It is charged on the key's, team's and model's limits
(requests, tokens, cost) whatever is left of them: the money is spent upstream already, and
the batch's up-front reservation kept the budget for it (its share of the hold goes back here,
as the self-run path does when a line starts)."""

from __future__ import annotations

import dataclasses
import math
import secrets
from typing import Any

import orjson

from ..core.errors import GatewayError
from ..endpoints.deployments import Deployment
from ..limits.base import USD
from ..pipeline.context import Attempt, Principal, RequestContext
from ..pipeline.gateway import Gateway, note_error
from ..pipeline.limits_step import LimitsStep
from ..pipeline.request_log_step import RequestLogStep
from ..wire.codec import FrontCodec, ReplyFacts
from .budget import BatchHold
from .provider_api import LineResult


def discount_of(gw: Gateway, model: str) -> float:
    """The share off the list price under the provider's batch API (0: none known)."""
    m = next((m for m in gw.config.models if m.name == model), None)
    return float(m.batch_discount or 0.0) if m is not None else 0.0


async def _charge(gw: Gateway, ctx: RequestContext) -> None:
    step = next((s for s in gw.steps if isinstance(s, LimitsStep)), None)
    if step is None:
        return
    limits, _ = step.limits_for(ctx)
    if not limits:
        return
    cost = int(math.ceil(max(0.0, ctx.cost_usd) * USD))
    amounts = [
        1 if lim.kind == "requests" else ctx.usage.total_tokens if lim.kind == "tokens" else cost for lim in limits
    ]
    # Booked as soft: never refused, since the provider has answered (and billed) already.
    await step.store.reserve([dataclasses.replace(lim, hard=False) for lim in limits], amounts)


def _log(gw: Gateway, ctx: RequestContext) -> None:
    step = next((s for s in gw.steps if isinstance(s, RequestLogStep)), None)
    if step is not None:
        step.writer.append(step.record(ctx))


def _answered(
    gw: Gateway, ctx: RequestContext, codec: FrontCodec, dep: Deployment, body: bytes, discount: float
) -> tuple[int, Any]:
    resp = dep.adapter.response_for(ctx.request, body, model=dep.target.model_name)
    cost = dep.target.prices.cost(resp.usage) * (1.0 - discount)
    ctx.usage, ctx.cost_usd = resp.usage, cost
    ctx.answered_by, ctx.answered_model = dep.id, dep.target.model_name
    ctx.response_text, ctx.finish_reason = resp.content, resp.finish_reason
    ctx.attempts.append(Attempt(dep.id, dep.target.model_name, "ok", resp.usage, cost))
    facts = ReplyFacts(ctx.request_id, dep.target.model_name, cost_usd=cost, request=ctx.request)
    return 200, orjson.loads(codec.encode_reply(resp, facts))


async def settle_line(
    gw: Gateway,
    principal: Principal | None,
    line: dict[str, Any],
    codec: FrontCodec,
    dep: Deployment,
    result: LineResult,
    batch_id: str,
    hold: BatchHold | None,
    *,
    since: float | None = None,
) -> dict[str, Any] | None:
    """The output line for ``result`` (``None``: the line was cancelled before it ran).
    ``since``: when the line was submitted (its row's time and latency: the batch's wait)."""
    if hold is not None:
        await hold.line_started(line["custom_id"])
    out: dict[str, Any] = {"id": f"batch_req_{secrets.token_hex(12)}", "custom_id": line["custom_id"]}
    if result.lost == "cancelled":
        return None
    if result.lost == "expired":
        msg = "This request could not be executed before the completion window expired."
        return {**out, "response": None, "error": {"code": "batch_expired", "message": msg}}
    req = codec.parse_request(orjson.dumps(line["body"]), gw.config.bounds.input_bounds())
    ctx = gw.context(req, principal=principal)
    ctx.front, ctx.batch_id, ctx.requested_model = line["url"], batch_id, req.model
    ctx.policy = gw.policy(gw.runtime.policy)
    if since is not None:
        ctx.t0 -= max(0.0, ctx.started_at - since)
        ctx.started_at = since
    try:
        if result.status != 200:
            raise dep.adapter.classify_error(result.status, result.body, retry_after_s=None, deployment=dep.id)
        status, body = _answered(gw, ctx, codec, dep, result.body, discount_of(gw, dep.target.model_name))
    except GatewayError as err:
        note_error(ctx, err)
        ctx.attempts.append(Attempt(dep.id, dep.target.model_name, ctx.error_class or "error", error=err.message))
        status, raw, _ = codec.encode_error(err)
        body = orjson.loads(raw)
    await _charge(gw, ctx)
    _log(gw, ctx)
    return {**out, "response": {"status_code": status, "request_id": ctx.request_id, "body": body}, "error": None}
