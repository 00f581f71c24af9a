"""The fake providers' batch APIs: OpenAI Batch (on the OpenAI fake), Anthropic Message
Batches (on the Anthropic fake) and Gemini batch mode (on the Gemini fake), real HTTP on loopback.

OpenAI: ``POST /v1/files`` (multipart, purpose ``batch``), ``GET /v1/files/{id}/content``,
``POST /v1/batches``, ``GET /v1/batches/{id}``, ``POST /v1/batches/{id}/cancel``; the batch
object, output and error files in OpenAI's format. Anthropic: ``POST /v1/messages/batches``
(``requests: [{custom_id, params}]``), ``GET /v1/messages/batches/{id}`` (``processing_status``
in_progress | canceling | ended, ``request_counts``), ``GET .../{id}/results`` (JSONL of
``{custom_id, result: {type: succeeded|errored|canceled|expired, ...}}``), ``POST .../{id}/cancel``.
Gemini: ``POST /v1beta/models/{model}:batchGenerateContent`` (inlined requests, each with a
``metadata.key``), ``GET /v1beta/batches/{id}`` (``metadata.state`` BATCH_STATE_*, and once ended
``metadata.output.inlinedResponses.inlinedResponses``), ``POST /v1beta/batches/{id}:cancel``.

Each line is answered by the fake's own endpoint (a loopback call carrying ``x-fake-batch:
<batch id>``), so the scripting knobs apply per line and the line shows in ``/_fake/requests``.
Scripting (``POST /_fake/batch``, cleared by reset): ``delay_s`` (the batch stays in progress
that long before its lines run), ``fail_marker`` (a line whose text contains it is answered with a
400 error line; default ``FAIL_LINE``), ``expire_marker`` (such a line ends as expired, OpenAI's
``batch_expired`` error line). A cancelled batch's lines not yet run end as canceled
(Anthropic) or as ``batch_cancelled`` error lines (OpenAI)."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import time
from typing import Any, Protocol

import aiohttp
import orjson
from aiohttp import web

from .wire import error_body

JSON_HEADERS = {"content-type": "application/json"}
PASSED = ("authorization", "x-api-key", "anthropic-version", "content-type")


class Fake(Protocol):
    """What the batch routes use of ``fake_provider.FakeProvider``."""

    protocol: str
    log: Any

    @property
    def origin(self) -> str: ...

    def _auth_error(self, request: web.Request) -> str | None: ...


def rfc3339(t: float | None) -> str | None:
    return None if t is None else dt.datetime.fromtimestamp(t, dt.UTC).isoformat().replace("+00:00", "Z")


class FakeBatches:
    """The batches (and OpenAI files) one fake holds, and their scripting options."""

    def __init__(self, fake: Fake) -> None:
        self.fake = fake
        self.files: dict[str, tuple[dict[str, Any], str]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.options: dict[str, Any] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)

    def reset(self) -> None:
        for task in self.tasks:
            task.cancel()
        self.files.clear()
        self.batches.clear()
        self.options = {}

    def _id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"

    def _log(self, request: web.Request, body: Any) -> None:
        headers = {str(k).lower(): v for k, v in request.headers.items()}
        self.fake.log.append(
            {"method": request.method, "path": request.path, "query": {}, "headers": headers, "body": body}
        )

    def _denied(self, request: web.Request) -> web.Response | None:
        problem = self.fake._auth_error(request)
        if problem is None:
            return None
        return web.Response(status=401, body=error_body(self.fake.protocol, 401, problem), headers=JSON_HEADERS)

    async def script(self, request: web.Request) -> web.Response:
        data = orjson.loads(await request.read() or b"{}")
        self.options = data if isinstance(data, dict) else {}
        return web.json_response({"batch": self.options})

    # -- running a batch's lines ---------------------------------------------------------------

    def start(self, batch: dict[str, Any], lines: list[tuple[str, str, dict[str, Any]]], headers: dict) -> None:
        batch["_wake"] = asyncio.Event()
        task = asyncio.create_task(self._process(batch, lines, headers))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _process(
        self, batch: dict[str, Any], lines: list[tuple[str, str, dict[str, Any]]], headers: dict
    ) -> None:
        try:  # a cancel ends the wait at once
            await asyncio.wait_for(batch["_wake"].wait(), float(self.options.get("delay_s", 0)))
        except TimeoutError:
            pass
        sem = asyncio.Semaphore(8)
        async with aiohttp.ClientSession() as session:

            async def one(cid: str, path: str, body: dict[str, Any]) -> tuple[str, str, int, Any]:
                text = orjson.dumps(body).decode()
                if batch["_cancel"]:
                    return cid, "canceled", 0, None
                if self.options.get("expire_marker") and self.options["expire_marker"] in text:
                    return cid, "expired", 0, None
                if self.options.get("fail_marker", "FAIL_LINE") in text:
                    msg = "fake batch line refused: its content carries the failure marker"
                    return cid, "errored", 400, orjson.loads(error_body(self.fake.protocol, 400, msg))
                async with sem:
                    if batch["_cancel"]:
                        return cid, "canceled", 0, None
                    url = self.fake.origin + path
                    sent = {**headers, "x-fake-batch": batch["id"]}
                    async with session.post(url, data=orjson.dumps(body), headers=sent) as resp:
                        data = orjson.loads(await resp.read() or b"{}")
                        return cid, "succeeded" if resp.status < 400 else "errored", resp.status, data

            batch["_results"] = list(await asyncio.gather(*(one(*line) for line in lines)))
        batch["_ended"] = time.time()


def _openai_batch(b: dict[str, Any]) -> dict[str, Any]:
    """The public batch object (fields with ``_`` are the fake's own)."""
    ended, results = b.get("_ended"), b.get("_results") or []
    status = "in_progress"
    if ended is not None:
        status = "cancelled" if b["_cancel"] else "completed"
    elif b["_cancel"]:
        status = "cancelling"
    ok = sum(1 for r in results if r[1] == "succeeded")
    return {
        **{k: v for k, v in b.items() if not k.startswith("_")},
        "status": status,
        "completed_at": int(ended) if ended and not b["_cancel"] else None,
        "cancelled_at": int(ended) if ended and b["_cancel"] else None,
        "output_file_id": b.get("_output"),
        "error_file_id": b.get("_error"),
        "request_counts": {"total": len(b["_lines"]), "completed": ok, "failed": len(results) - ok},
    }


def _openai_files(fb: FakeBatches, b: dict[str, Any]) -> None:
    """Write the output and error files once the batch ended."""
    if b.get("_ended") is None or "_output" in b:
        return
    out: list[dict[str, Any]] = []
    err: list[dict[str, Any]] = []
    for cid, kind, status, body in b["_results"]:
        rid = fb._id("batch_req_")
        if kind in ("succeeded", "errored"):
            line = {"id": rid, "custom_id": cid, "response": {"status_code": status, "request_id": rid, "body": body}}
            (out if kind == "succeeded" else err).append({**line, "error": None})
        else:
            code = "batch_expired" if kind == "expired" else "batch_cancelled"
            err.append({"id": rid, "custom_id": cid, "response": None, "error": {"code": code, "message": kind}})
    for key, rows in (("_output", out), ("_error", err)):
        b[key] = None
        if rows:
            fid = fb._id("file-out")
            content = "".join(orjson.dumps(r).decode() + "\n" for r in rows)
            fb.files[fid] = ({"id": fid, "object": "file", "purpose": "batch_output"}, content)
            b[key] = fid


async def openai_upload(fb: FakeBatches, request: web.Request) -> web.Response:
    if (denied := fb._denied(request)) is not None:
        return denied
    form = await request.post()
    upload = form.get("file")
    if form.get("purpose") != "batch" or not isinstance(upload, web.FileField):
        return web.Response(
            status=400, body=error_body("openai", 400, "need file and purpose=batch"), headers=JSON_HEADERS
        )
    content = upload.file.read().decode()
    fid = fb._id("file-")
    obj = {"id": fid, "object": "file", "bytes": len(content), "created_at": int(time.time())}
    obj.update(filename=upload.filename, purpose="batch", status="processed")
    fb.files[fid] = (obj, content)
    fb._log(request, {"purpose": "batch", "lines": len(content.splitlines())})
    return web.json_response(obj)


async def openai_file_content(fb: FakeBatches, request: web.Request) -> web.Response:
    if (denied := fb._denied(request)) is not None:
        return denied
    found = fb.files.get(request.match_info["id"])
    if found is None:
        return web.Response(status=404, body=error_body("openai", 404, "no such file"), headers=JSON_HEADERS)
    return web.Response(text=found[1], content_type="application/jsonl")


async def openai_create(fb: FakeBatches, request: web.Request) -> web.Response:
    if (denied := fb._denied(request)) is not None:
        return denied
    body = orjson.loads(await request.read() or b"{}")
    fb._log(request, body)
    found = fb.files.get(str(body.get("input_file_id")))
    if found is None:
        return web.Response(status=404, body=error_body("openai", 404, "no such input file"), headers=JSON_HEADERS)
    lines = [orjson.loads(x) for x in found[1].splitlines() if x.strip()]
    if any(line.get("url") != body.get("endpoint") for line in lines):
        return web.Response(
            status=400, body=error_body("openai", 400, "a line's url is not the endpoint"), headers=JSON_HEADERS
        )
    now = time.time()
    b: dict[str, Any] = {"id": fb._id("batch_"), "object": "batch", "endpoint": body["endpoint"], "errors": None}
    b.update(input_file_id=body["input_file_id"], completion_window=body.get("completion_window", "24h"))
    b.update(created_at=int(now), in_progress_at=int(now), expires_at=int(now) + 86400, finalizing_at=None)
    b.update(failed_at=None, expired_at=None, cancelling_at=None, metadata=body.get("metadata"))
    b.update(_lines=lines, _cancel=False)
    fb.batches[b["id"]] = b
    headers = {k: v for k, v in request.headers.items() if k.lower() in PASSED}
    headers["content-type"] = "application/json"
    fb.start(b, [(x["custom_id"], "/v1" + x["url"].removeprefix("/v1"), x["body"]) for x in lines], headers)
    return web.json_response(_openai_batch(b))


async def openai_get(fb: FakeBatches, request: web.Request) -> web.Response:
    if (denied := fb._denied(request)) is not None:
        return denied
    b = fb.batches.get(request.match_info["id"])
    if b is None:
        return web.Response(status=404, body=error_body("openai", 404, "no such batch"), headers=JSON_HEADERS)
    fb._log(request, {})
    if request.path.endswith("/cancel") and b.get("_ended") is None:
        b["_cancel"], b["cancelling_at"] = True, int(time.time())
        b["_wake"].set()
    _openai_files(fb, b)
    return web.json_response(_openai_batch(b))


def _anthropic_batch(fake: Fake, b: dict[str, Any]) -> dict[str, Any]:
    ended, results = b.get("_ended"), b.get("_results") or []
    counts = {k: sum(1 for r in results if r[1] == k) for k in ("succeeded", "errored", "canceled", "expired")}
    status = "ended" if ended is not None else "canceling" if b["_cancel"] else "in_progress"
    return {
        "id": b["id"],
        "type": "message_batch",
        "processing_status": status,
        "request_counts": {"processing": 0 if ended else len(b["_lines"]), **counts},
        "ended_at": rfc3339(ended),
        "created_at": rfc3339(b["_created"]),
        "expires_at": rfc3339(b["_created"] + 86400),
        "archived_at": None,
        "cancel_initiated_at": rfc3339(b.get("_cancel_at")),
        "results_url": f"{fake.origin}/v1/messages/batches/{b['id']}/results" if ended else None,
    }


async def anthropic_create(fb: FakeBatches, request: web.Request) -> web.Response:
    if (denied := fb._denied(request)) is not None:
        return denied
    body = orjson.loads(await request.read() or b"{}")
    fb._log(request, body)
    reqs = body.get("requests")
    if not isinstance(reqs, list) or not reqs or not all(isinstance(r, dict) and "params" in r for r in reqs):
        msg = "requests: a non-empty list of {custom_id, params}"
        return web.Response(status=400, body=error_body("anthropic", 400, msg), headers=JSON_HEADERS)
    b: dict[str, Any] = {"id": fb._id("msgbatch_"), "_lines": reqs, "_cancel": False, "_created": time.time()}
    fb.batches[b["id"]] = b
    headers = {k: v for k, v in request.headers.items() if k.lower() in PASSED}
    headers["content-type"] = "application/json"
    fb.start(b, [(r["custom_id"], "/v1/messages", r["params"]) for r in reqs], headers)
    return web.json_response(_anthropic_batch(fb.fake, b))


async def anthropic_get(fb: FakeBatches, request: web.Request) -> web.Response:
    if (denied := fb._denied(request)) is not None:
        return denied
    b = fb.batches.get(request.match_info["id"])
    if b is None:
        return web.Response(status=404, body=error_body("anthropic", 404, "no such batch"), headers=JSON_HEADERS)
    fb._log(request, {})
    if request.path.endswith("/cancel") and b.get("_ended") is None:
        b["_cancel"], b["_cancel_at"] = True, time.time()
        b["_wake"].set()
    if not request.path.endswith("/results"):
        return web.json_response(_anthropic_batch(fb.fake, b))
    if b.get("_ended") is None:
        return web.Response(status=400, body=error_body("anthropic", 400, "batch has not ended"), headers=JSON_HEADERS)
    rows = []
    for cid, kind, _status, body in b["_results"]:
        result: dict[str, Any] = {"type": kind}
        if kind == "succeeded":
            result["message"] = body
        elif kind == "errored":
            result["error"] = body
        rows.append(orjson.dumps({"custom_id": cid, "result": result}).decode() + "\n")
    return web.Response(text="".join(rows), content_type="application/binary")


def add_batch_routes(fake: Fake, app: web.Application) -> FakeBatches:
    """The batch routes for ``fake.protocol`` and ``POST /_fake/batch`` (Gemini's: ``fake_gemini_batch``)."""
    fb = FakeBatches(fake)

    def bound(fn: Any) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await fn(fb, request)

        return handler

    app.router.add_post("/_fake/batch", fb.script)
    if fake.protocol == "openai":
        app.router.add_post("/v1/files", bound(openai_upload))
        app.router.add_get("/v1/files/{id}/content", bound(openai_file_content))
        app.router.add_post("/v1/batches", bound(openai_create))
        app.router.add_get("/v1/batches/{id}", bound(openai_get))
        app.router.add_post("/v1/batches/{id}/cancel", bound(openai_get))
    elif fake.protocol == "anthropic":
        app.router.add_post("/v1/messages/batches", bound(anthropic_create))
        app.router.add_get("/v1/messages/batches/{id}", bound(anthropic_get))
        app.router.add_get("/v1/messages/batches/{id}/results", bound(anthropic_get))
        app.router.add_post("/v1/messages/batches/{id}/cancel", bound(anthropic_get))
    return fb
