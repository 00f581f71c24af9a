"""Running a batch: by the providers' batch APIs when ``provider_run.plan`` says so, else by
faregate itself: each line through the same Gateway pipeline as a normal request (auth, limits,
budget, guardrails, routing, request log), a bounded number at once.

The principal of the batch's creator is kept with the runner in memory, so a line is checked
against that key's allow-list, limits and budget exactly as if the key had sent it."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any

import orjson

from ..core.errors import GatewayError
from ..core.types import ChatRequest
from ..pipeline.context import Principal
from ..pipeline.gateway import Gateway
from ..wire.codec import FrontCodec, ReplyFacts, decode_json
from ..wire.embeddings_front import EmbeddingsCodec
from ..wire.openai_front import OpenAIChatCodec
from ..wire.responses_codec import ResponsesCodec
from ..wire.responses_front import build_call, check_body
from .budget import BatchHold
from .lines import parse_lines
from .provider_run import ProviderRun, plan
from .store import BatchStore

log = logging.getLogger("faregate")
CODECS: dict[str, FrontCodec] = {
    "/v1/chat/completions": OpenAIChatCodec(),
    "/v1/embeddings": EmbeddingsCodec(),
    "/v1/responses": ResponsesCodec(),  # parses only; a line renders with its own call's codec
}
CONCURRENCY = 4
LEASE_S = 60.0


def new_id(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(12)}"


async def run_line(gw: Gateway, principal: Principal | None, line: dict[str, Any], batch_id: str) -> dict[str, Any]:
    """One output (or error) line in OpenAI's format: ``{"id","custom_id","response","error"}``."""
    codec: FrontCodec = CODECS[line["url"]]
    out: dict[str, Any] = {"id": new_id("batch_req_"), "custom_id": line["custom_id"]}
    try:
        codec, req = _parsed(gw, line)
    except GatewayError as err:
        status, body, _ = codec.encode_error(err)
        return {**out, "response": {"status_code": status, "request_id": "", "body": orjson.loads(body)}, "error": None}
    ctx = gw.context(req, principal=principal)
    ctx.front = line["url"]
    ctx.batch_id = batch_id

    def render(response: Any) -> bytes:
        facts = ReplyFacts(request_id=ctx.request_id, model=ctx.answered_model or req.model, cost_usd=ctx.cost_usd)
        return codec.encode_reply(response, facts)

    try:
        reply = await gw.handle(ctx, render)
        status, body = 200, orjson.loads(reply.body or b"{}")
    except GatewayError as err:
        status, raw, _ = codec.encode_error(err)
        body = orjson.loads(raw)
    return {**out, "response": {"status_code": status, "request_id": ctx.request_id, "body": body}, "error": None}


def _parsed(gw: Gateway, line: dict[str, Any]) -> tuple[FrontCodec, ChatRequest]:
    """The line's codec and request; a Responses line gets its call's codec (it echoes the call's
    fields) and no stored history (``previous_response_id`` is not looked up in a batch)."""
    bounds = gw.config.bounds.input_bounds()
    if line["url"] == "/v1/responses":
        call = build_call(check_body(decode_json(orjson.dumps(line["body"])), bounds), [], bounds)
        codec: FrontCodec = ResponsesCodec.for_call(call)
        req = call.request
    else:
        codec = CODECS[line["url"]]
        req = codec.parse_request(orjson.dumps(line["body"]), bounds)
    req.stream = False  # a batch line is answered whole
    return codec, req


def _principal(kept: dict[str, Any] | None) -> Principal | None:
    """The creator's principal as the job row kept it (after a restart)."""
    if kept is None:
        return None
    if kept.get("models") is not None:
        kept = {**kept, "models": tuple(kept["models"])}
    return Principal(**kept)


class SelfRunner:
    """Runs claimed jobs in background tasks; ``principals`` maps batch id -> creator's key.

    The runner holds each job's lease under its own ``holder`` token, renews it while the job
    runs and gives it back when the job ends or the gateway shuts down, so a restarted or other
    replica resumes at once instead of waiting for the lease to expire."""

    def __init__(self, gw: Gateway, store: BatchStore, lease_s: float = LEASE_S) -> None:
        self.gw, self.store, self.lease_s = gw, store, lease_s
        self.holder = new_id("runner_")
        self.principals: dict[str, Principal | None] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.held: set[str] = set()
        self.holds: dict[str, BatchHold] = {}  # batch id -> its up-front budget reservation
        self.provider = ProviderRun(gw, store, CODECS)  # jobs run by a provider's batch API

    def start(self, batch_id: str) -> None:
        task = asyncio.create_task(self._run(batch_id))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for bid in list(self.held):  # the lines answered so far are persisted; the rest resume elsewhere
            await self.store.release(bid, self.holder)
        self.held.clear()

    async def _run(self, batch_id: str) -> None:
        try:
            if not await self.store.claim(batch_id, self.lease_s, self.holder):
                return
            self.held.add(batch_id)
            renew = asyncio.create_task(self._renew(batch_id))
            try:
                await self._execute(batch_id)
            finally:
                renew.cancel()
            await self.store.release(batch_id, self.holder)
            self.held.discard(batch_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("batch %s failed", batch_id)

    async def _renew(self, batch_id: str) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            if not await self.store.renew(batch_id, self.lease_s, self.holder):
                log.warning("batch %s: lease lost", batch_id)
                return

    async def _execute(self, batch_id: str) -> None:
        job = await self.store.job(None, batch_id)
        if job is None:
            return
        lines = parse_lines(await self._input(job))
        done = await self.store.lines(batch_id)  # answered before a restart: never sent again
        principal = self.principals.get(batch_id) or _principal(job.get("_principal"))
        hold = self.holds.get(batch_id)
        state = await self.store.provider_state(batch_id)
        if state is None and job["status"] == "validating":  # decided once, before any line runs
            state = plan(self.gw, principal, lines, CODECS)
            if state is not None:
                await self.store.save_provider_state(batch_id, state)
        if job["status"] == "validating":
            job.update(status="in_progress", in_progress_at=int(time.time()))
            await self.store.update_job(job)
        if state is not None:
            await self._by_provider(job, state, lines, (principal, hold, done))
            return
        sem = asyncio.Semaphore(CONCURRENCY)

        async def one(line: dict[str, Any]) -> dict[str, Any] | None:
            if line["custom_id"] in done:
                return done[line["custom_id"]]
            async with sem:
                if (await self.store.job(None, batch_id) or {}).get("status") == "cancelling":
                    return None
                if hold is not None:
                    await hold.line_started(line["custom_id"])
                result = await run_line(self.gw, principal, line, batch_id)
                await self.store.save_line(batch_id, result)
                return result

        try:
            results = await asyncio.gather(*(one(line) for line in lines))
        finally:
            if hold is not None:  # what the unrun lines (cancelled, failed) held goes back
                await self.holds.pop(batch_id, hold).close()
        await self._finish(job, [r for r in results if r is not None], len(lines))

    async def _by_provider(
        self,
        job: dict[str, Any],
        state: dict[str, Any],
        lines: list[dict[str, Any]],
        ctx: tuple[Principal | None, BatchHold | None, dict[str, dict[str, Any]]],
    ) -> None:
        principal, hold, _ = ctx

        async def run_local(line: dict[str, Any]) -> dict[str, Any]:
            if hold is not None:
                await hold.line_started(line["custom_id"])
            result = await run_line(self.gw, principal, line, job["id"])
            await self.store.save_line(job["id"], result)
            return result

        try:
            results = await self.provider.run(job, state, lines, ctx, run_local)
        finally:
            if hold is not None:
                await self.holds.pop(job["id"], hold).close()
        await self._finish(job, results, len(lines))

    async def _input(self, job: dict[str, Any]) -> str:
        row = await self.store.file(job["_owner"], job["input_file_id"])
        return row[1] if row is not None else ""

    async def _finish(self, job: dict[str, Any], results: list[dict[str, Any]], total: int) -> None:
        ok = [r for r in results if r["response"]["status_code"] == 200]
        bad = [r for r in results if r["response"]["status_code"] != 200]
        owner, now = job["_owner"], int(time.time())
        for key, rows in (("output_file_id", ok), ("error_file_id", bad)):
            if rows:
                fid = new_id("file-")
                content = "".join(orjson.dumps(r).decode() + "\n" for r in rows)
                obj = {"id": fid, "created_at": now, "purpose": "batch_output", "filename": f"{job['id']}_{key}.jsonl"}
                await self.store.save_file(obj, owner, content)
                job[key] = fid
        current = await self.store.job(None, job["id"]) or job
        cancelled = current.get("status") == "cancelling"
        job["status"] = "cancelled" if cancelled else "completed"
        job["cancelled_at" if cancelled else "completed_at"] = now
        job["finalizing_at"] = now
        job["request_counts"] = {"total": total, "completed": len(ok), "failed": len(bad)}
        await self.store.update_job(job)
