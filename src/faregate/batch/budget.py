"""A batch's budget: reserved for the whole batch up front, handed back line by line.

At ``POST /v1/batches`` the estimated cost of every line (the limits step's own estimate: the
dearest candidate, the line's max_tokens) is summed and reserved, all or nothing, on the key's,
team's and model's hard cost budgets. A batch that does not fit what is left is refused before
any line runs. Just before a line runs its estimate leaves the hold (the line then reserves and
reconciles to its actual cost in the limits step, as any request), so nothing is counted twice;
at the end what is left of the hold goes back. The hold lives in memory: after a restart the
lines still pass the limits step one by one, so a batch never gets past a budget either way."""

from __future__ import annotations

from typing import Any

import orjson

from ..core.errors import GatewayError, RateLimited
from ..limits.base import USD, Grant, Limit, LimitStore
from ..pipeline.context import Principal
from ..pipeline.gateway import Gateway
from ..pipeline.limits_step import LimitsStep
from ..wire.codec import FrontCodec


class BatchHold:
    """The batch's reservation: ``per_line`` nano-USD by custom_id, released as lines start."""

    def __init__(self, store: LimitStore, grant: Grant, limits: list[Limit], per_line: dict[str, list[int]]) -> None:
        self.store, self.grant, self.limits, self.per_line = store, grant, limits, per_line
        self.held = [sum(v[i] for v in per_line.values()) for i in range(len(limits))]

    async def _set(self, amounts: list[int]) -> None:
        await self.store.reconcile(self.grant, amounts)
        # reconcile replaces the reserved amount: the grant now holds ``amounts``
        self.grant.entries = [(k, slot, a) for (k, slot, _), a in zip(self.grant.entries, amounts)]
        self.held = amounts

    async def line_started(self, custom_id: str) -> None:
        share = self.per_line.pop(custom_id, None)
        if share is not None:
            await self._set([max(0, h - s) for h, s in zip(self.held, share)])

    async def close(self) -> None:
        self.per_line.clear()
        await self._set([0] * len(self.limits))


def _limits_step(gw: Gateway) -> LimitsStep | None:
    return next((s for s in gw.steps if isinstance(s, LimitsStep)), None)


def _estimates(
    gw: Gateway,
    step: LimitsStep,
    principal: Principal | None,
    lines: list[dict[str, Any]],
    codecs: dict[str, FrontCodec],
) -> tuple[dict[str, Limit], dict[str, dict[str, int]]]:
    """The hard cost budgets that apply and, per line, its estimated cost on each (nano-USD)."""
    budgets: dict[str, Limit] = {}
    per_line: dict[str, dict[str, int]] = {}
    for line in lines:
        try:
            req = codecs[line["url"]].parse_request(orjson.dumps(line["body"]), gw.config.bounds.input_bounds())
        except GatewayError:
            continue  # a line the codec refuses runs nothing and costs nothing
        ctx = gw.context(req, principal=principal)
        limits, _ = step.limits_for(ctx)
        cost = step.estimate(ctx)[1]
        mine = {lim.key: cost for lim in limits if lim.kind == "cost" and lim.hard}
        budgets.update({lim.key: lim for lim in limits if lim.key in mine})
        per_line[line["custom_id"]] = mine
    return budgets, per_line


async def reserve_batch(
    gw: Gateway, principal: Principal | None, lines: list[dict[str, Any]], codecs: dict[str, FrontCodec]
) -> BatchHold | None:
    """Reserve the whole batch's estimated cost; a 429 ``budget_exceeded`` when it does not fit.
    None: no cost budget applies."""
    step = _limits_step(gw)
    if step is None:
        return None
    budgets, per_line = _estimates(gw, step, principal, lines, codecs)
    if not budgets:
        return None
    limits = list(budgets.values())
    shares = {cid: [m.get(lim.key, 0) for lim in limits] for cid, m in per_line.items()}
    amounts = [sum(s[i] for s in shares.values()) for i in range(len(limits))]
    grant = await step.store.reserve(limits, amounts)
    if not grant.ok:
        lim = grant.refused or limits[0]
        used = next((c.used for c in grant.checks if c.limit is lim), 0)
        need = amounts[limits.index(lim)] if lim in limits else 0
        raise RateLimited(
            f"This batch's estimated cost ({need / USD:.6f} USD for {len(lines)} lines) exceeds what is left of "
            f"{lim.name} ({max(0, lim.limit - used) / USD:.6f} USD of {lim.limit / USD:.6f}); no line was run. "
            "Split the batch, lower max_tokens, or raise the budget.",
            retry_after_s=max(grant.retry_after_s, 0.001),
            code="budget_exceeded",
        )
    return BatchHold(step.store, grant, limits, shares)
