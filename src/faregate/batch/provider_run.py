"""Running a batch by the providers' own batch APIs (OpenAI Batch, Anthropic Message Batches,
Gemini batch mode).

``plan`` decides once per job: when every line names a model whose deployment may use its
provider's batch API (``batch:`` of the model, else of the gateway: ``provider``, ``self``, or
``auto`` = only on the provider's own public endpoint, so a local or compatible server is run
by faregate itself), the lines are grouped per deployment, translated by that deployment's
adapter (the same request a live call would send) and submitted, one provider batch a group.
Lines refused before any call (a bad body, a model the key may not use, an embeddings line to a
chat model) are run through the pipeline at once (they cost nothing). Otherwise, and whenever a
guardrail applies to a line (guardrails run in the pipeline), the job is self-run (``runner.py``).

The plan, the provider batch ids and the polling state are persisted (``batch_job.provider_state``)
after every change, so a restarted gateway, or another replica once the lease is free, polls on
instead of submitting again. Polls back off: ``first_poll_s`` (at most 2 s) doubling to at most
``max_poll_s`` (30 s). A cancelled job asks the provider to cancel; lines it had already answered
come back and are settled like the others (``settle.py``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson

from ..config.batch_way import runs_on_provider
from ..core.errors import GatewayError, UpstreamError
from ..core.types import ChatRequest
from ..endpoints.deployments import Deployment
from ..pipeline.context import Principal
from ..pipeline.gateway import Gateway
from ..pipeline.guardrail_step import GuardrailStep
from ..wire.codec import FrontCodec
from .budget import BatchHold
from .provider_api import APIS, LineResult, backoff_s
from .settle import settle_line
from .store import BatchStore

log = logging.getLogger("faregate.batch")
URLS = ("/v1/chat/completions", "/v1/embeddings")  # what the providers' batch APIs take
SUBMIT_TRIES = 5  # transient submit failures before a group's lines fail
RunLocal = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def batchable(gw: Gateway, dep: Deployment, request: ChatRequest) -> bool:
    """Whether ``dep`` may answer ``request`` through its provider's batch API."""
    t = dep.target
    if t.provider not in APIS or request.kind not in ("chat", "embedding"):
        return False
    if request.kind == "embedding" and t.provider != "openai":
        return False
    model = next((m for m in gw.config.models if m.name == t.model_name), None)
    mode = (model.batch if model is not None else None) or gw.config.batch
    return runs_on_provider(mode, t.provider, t.base_url)


def _allowed(principal: Principal | None, model: str) -> bool:
    return principal is None or principal.models is None or principal.is_admin or model in principal.models


def _answered_at_once(gw: Gateway, principal: Principal | None, req: ChatRequest) -> bool:
    """Whether the pipeline refuses ``req`` before any upstream call: a model the key may not use,
    a request kind the model does not serve (an embeddings line to a chat model)."""
    if not _allowed(principal, req.model):
        return True
    model = gw.config.model(req.model)
    return model is not None and model.mode != ("embedding" if req.kind == "embedding" else "chat")


def _guarded(gw: Gateway, principal: Principal | None, req: ChatRequest) -> bool:
    """Whether guardrails apply to ``req`` (they run in the pipeline, so such a batch is self-run)."""
    step = next((s for s in gw.steps if isinstance(s, GuardrailStep)), None)
    if step is None:
        return False
    ctx = gw.context(req, principal=principal)
    ctx.requested_model = req.model
    return bool(step.names(ctx))


def plan(
    gw: Gateway, principal: Principal | None, lines: list[dict[str, Any]], codecs: dict[str, FrontCodec]
) -> dict[str, Any] | None:
    """The provider-batch state of a new job, or ``None``: run it by faregate itself."""
    groups: dict[str, list[int]] = {}
    local: list[int] = []
    names = {m.name for m in gw.config.models}
    for i, line in enumerate(lines):
        if line["url"] not in URLS:
            return None
        try:
            req = codecs[line["url"]].parse_request(orjson.dumps(line["body"]), gw.config.bounds.input_bounds())
        except GatewayError:
            local.append(i)
            continue
        if _answered_at_once(gw, principal, req):
            local.append(i)
            continue
        if req.model not in names or _guarded(gw, principal, req):  # a route, ``auto``, an unknown name
            return None
        dep = next((d for d in gw.registry.deployments(req.model) if batchable(gw, d, req)), None)
        if dep is None:
            return None
        groups.setdefault(dep.id, []).append(i)
    if not groups:
        return None
    batches = [
        {"deployment": d, "lines": idx, "id": None, "cancel_sent": False, "done": False} for d, idx in groups.items()
    ]
    return {"batches": batches, "local": local, "polls": 0}


class ProviderRun:
    """Submits, polls and settles one job's provider batches (see the module docstring)."""

    first_poll_s = 1.0
    max_poll_s = 30.0

    def __init__(self, gw: Gateway, store: BatchStore, codecs: dict[str, FrontCodec]) -> None:
        self.gw, self.store, self.codecs = gw, store, codecs

    def _deployment(self, dep_id: str) -> Deployment | None:
        return next((d for d in self.gw.registry.all() if d.id == dep_id), None)

    def _request(self, line: dict[str, Any]) -> ChatRequest:
        return self.codecs[line["url"]].parse_request(orjson.dumps(line["body"]), self.gw.config.bounds.input_bounds())

    async def run(
        self,
        job: dict[str, Any],
        state: dict[str, Any],
        lines: list[dict[str, Any]],
        ctx: tuple[Principal | None, BatchHold | None, dict[str, dict[str, Any]]],
        run_local: RunLocal,
    ) -> list[dict[str, Any]]:
        """Every answered line (those answered before a restart included)."""
        principal, hold, results = ctx
        state["polls"] = 0  # a resumed job polls soon again, then backs off
        for i in state["local"]:
            cid = lines[i]["custom_id"]
            if cid not in results:
                results[cid] = await run_local(lines[i])
        async with aiohttp.ClientSession() as session:
            cancelled = (await self.store.job(None, job["id"]) or {}).get("status") == "cancelling"
            for group in state["batches"]:
                if cancelled and group["id"] is None:  # cancelled before it went upstream: nothing to send
                    group["done"] = True
                if group["id"] is None and not group["done"]:
                    await self._submit(session, job["id"], state, group, lines, (principal, hold, results))
            while not all(g["done"] for g in state["batches"]):
                await asyncio.sleep(backoff_s(state["polls"], self.first_poll_s, self.max_poll_s))
                state["polls"] += 1
                await self._poll_all(session, job["id"], state, lines, (principal, hold, results))
        return list(results.values())

    async def _submit(
        self,
        session: aiohttp.ClientSession,
        bid: str,
        state: dict[str, Any],
        group: dict[str, Any],
        lines: list[dict[str, Any]],
        ctx: tuple[Principal | None, BatchHold | None, dict[str, dict[str, Any]]],
    ) -> None:
        dep = self._deployment(group["deployment"])
        try:
            if dep is None:
                raise UpstreamError(f"deployment {group['deployment']!r} is no longer configured", kind="client")
            items = [
                (f"l{i}", dep.adapter.request_for(self._request(lines[i]), dep.target, stream=False))
                for i in group["lines"]
            ]
            group["id"] = await APIS[dep.target.provider](session, items[0][1]).submit(items)
            group["submitted_at"] = time.time()
        except (TimeoutError, aiohttp.ClientError, GatewayError) as exc:
            err = exc if isinstance(exc, GatewayError) else UpstreamError(f"batch API unreachable: {exc!r}")
            group["submit_failures"] = tries = group.get("submit_failures", 0) + 1
            log.warning("batch %s: submitting to %s failed (%d): %s", bid, group["deployment"], tries, err.message)
            if getattr(err, "kind", "") != "transient" or tries >= SUBMIT_TRIES:
                # Nothing was accepted upstream: every line of the group fails with the reason.
                await self._settle(bid, group, lines, {}, ctx, dep, failed=LineResult(err.status, _envelope(err)))
        await self.store.save_provider_state(bid, state)

    async def _poll_all(
        self,
        session: aiohttp.ClientSession,
        bid: str,
        state: dict[str, Any],
        lines: list[dict[str, Any]],
        ctx: tuple[Principal | None, BatchHold | None, dict[str, dict[str, Any]]],
    ) -> None:
        cancelling = (await self.store.job(None, bid) or {}).get("status") == "cancelling"
        for group in state["batches"]:
            if group["done"]:
                continue
            if group["id"] is None:  # a submit that failed for a transient reason: again, unless cancelled
                if cancelling:
                    group["done"] = True
                else:
                    await self._submit(session, bid, state, group, lines, ctx)
                continue
            dep = self._deployment(group["deployment"])
            if dep is None:  # removed from the config meanwhile: its provider batch cannot be read
                gone = UpstreamError(f"deployment {group['deployment']!r} is no longer configured", kind="client")
                await self._settle(bid, group, lines, {}, ctx, None, failed=LineResult(502, _envelope(gone)))
                continue
            api = APIS[dep.target.provider](
                session, dep.adapter.request_for(self._request(lines[group["lines"][0]]), dep.target, stream=False)
            )
            try:
                if cancelling and not group["cancel_sent"]:
                    await api.cancel(group["id"])
                    group["cancel_sent"] = True
                status = await api.poll(group["id"])
                if status is None:
                    continue
                found = await api.results(group["id"], status)
            except (TimeoutError, GatewayError, aiohttp.ClientError) as exc:
                log.warning("batch %s: polling %s failed (retried): %s", bid, group["id"], exc)
                continue
            await self._settle(bid, group, lines, found, ctx, dep, lost=_lost(status), failed=_failed(status))
        await self.store.save_provider_state(bid, state)

    async def _settle(
        self,
        bid: str,
        group: dict[str, Any],
        lines: list[dict[str, Any]],
        found: dict[str, LineResult],
        ctx: tuple[Principal | None, BatchHold | None, dict[str, dict[str, Any]]],
        dep: Deployment | None,
        *,
        lost: str = "cancelled",
        failed: LineResult | None = None,
    ) -> None:
        """Settle each line of ``group`` once (a line missing from ``found`` was not run)."""
        principal, hold, results = ctx
        for i in group["lines"]:
            line = lines[i]
            if line["custom_id"] in results:
                continue
            result = failed or found.get(f"l{i}") or LineResult(0, b"", lost)
            if dep is None:
                out = None if result.lost else _failed_line(line, result)
            else:
                codec = self.codecs[line["url"]]
                since = group.get("submitted_at")
                out = await settle_line(self.gw, principal, line, codec, dep, result, bid, hold, since=since)
            if out is not None:
                await self.store.save_line(bid, out)
                results[line["custom_id"]] = out
        group["done"] = True


def _envelope(err: GatewayError) -> bytes:
    return orjson.dumps(err.envelope())


def _lost(status: dict[str, Any]) -> str:
    """What a line missing from an ended batch's results became."""
    return "expired" if status.get("status") == "expired" else "cancelled"


def _failed(status: dict[str, Any]) -> LineResult | None:
    """An OpenAI batch that failed validation: every line gets its errors (nothing ran)."""
    if status.get("status") != "failed":
        return None
    errors = (status.get("errors") or {}).get("data") or [{}]
    msg = "; ".join(str(e.get("message") or e.get("code") or "the batch failed") for e in errors[:5])
    return LineResult(400, orjson.dumps({"error": {"message": f"The provider refused the batch: {msg}"}}))


def _failed_line(line: dict[str, Any], result: LineResult) -> dict[str, Any]:
    body = orjson.loads(result.body or b"{}")
    return {
        "id": "",
        "custom_id": line["custom_id"],
        "response": {"status_code": result.status, "request_id": "", "body": body},
        "error": None,
    }
