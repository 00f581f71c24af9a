"""The OpenAI Files and Batch APIs: ``/v1/files`` (purpose ``batch``) and ``/v1/batches``.

A batch is run by ``batch.runner.SelfRunner``: through the provider's own batch API when every
line's deployment may use one (``batch.provider_run``), else by faregate itself, each line
through the normal pipeline; always with the creator's key. Files and jobs live in the request-log database, scoped to
the key that made them (another key gets a 404)."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ..batch.budget import reserve_batch
from ..batch.lines import parse_lines, same_endpoint
from ..batch.runner import CODECS, SelfRunner, new_id
from ..batch.store import BatchStore
from ..core.errors import InvalidRequest, NotFound
from ..pipeline.gateway import Gateway
from ..storage.db import DatabaseUnavailable
from ..wire.codec import decode_json
from .http import GATEWAY, bearer, json_response, read_body
from .responses_routes import owner_of

STORE = web.AppKey("batch_store", BatchStore)
RUNNER = web.AppKey("batch_runner", SelfRunner)
MAX_FILE_BYTES = 100 * 1024 * 1024
WINDOWS = ("24h",)


async def _owner(request: web.Request) -> tuple[str, Any]:
    gw = request.app[GATEWAY]
    credential = bearer(request)
    principal = gw.known_principal(credential) or await gw.authenticate(credential)
    return owner_of(principal), principal


async def upload_file(request: web.Request) -> web.Response:
    owner, _ = await _owner(request)
    if not request.content_type.startswith("multipart/"):
        raise InvalidRequest("Upload the file as multipart/form-data with fields file and purpose.", param="file")
    try:
        form = await request.post()
    except web.HTTPException:
        raise  # e.g. 413 for a body over the server's limit
    except (ValueError, LookupError, AssertionError, HttpProcessingError) as exc:
        # No boundary, a broken part header, an unknown charset: the client's form, not our fault.
        raise InvalidRequest(f"The multipart form cannot be read ({exc}).", param="file") from None
    purpose, upload = form.get("purpose"), form.get("file")
    if purpose != "batch":
        raise InvalidRequest("Only purpose 'batch' is accepted by this gateway.", param="purpose")
    if not isinstance(upload, web.FileField):
        raise InvalidRequest("The form needs a file field holding the JSONL input.", param="file")
    data = upload.file.read()
    if len(data) > MAX_FILE_BYTES:
        raise InvalidRequest(f"The file is larger than {MAX_FILE_BYTES} bytes.", param="file")
    try:
        content = data.decode()
    except UnicodeDecodeError:
        raise InvalidRequest("The file is not UTF-8 text (JSONL).", param="file") from None
    parse_lines(content)  # a bad line is a 400 now, not a failed batch later
    obj = {"id": new_id("file-"), "created_at": int(time.time()), "purpose": "batch", "filename": upload.filename}
    await request.app[STORE].save_file(obj, owner, content)
    found = await request.app[STORE].file(owner, str(obj["id"]))
    assert found is not None
    return json_response(found[0])


async def _file(request: web.Request) -> tuple[dict[str, Any], str]:
    owner, _ = await _owner(request)
    found = await request.app[STORE].file(owner, request.match_info["id"])
    if found is None:
        raise NotFound(f"No file {request.match_info['id'][:80]!r} for this key.", param="file_id")
    return found


async def get_file(request: web.Request) -> web.Response:
    return json_response((await _file(request))[0])


async def file_content(request: web.Request) -> web.Response:
    return web.Response(text=(await _file(request))[1], content_type="application/jsonl")


async def delete_file(request: web.Request) -> web.Response:
    owner, _ = await _owner(request)
    fid = request.match_info["id"]
    if not await request.app[STORE].delete_file(owner, fid):
        raise NotFound(f"No file {fid[:80]!r} for this key.", param="file_id")
    return json_response({"id": fid, "object": "file", "deleted": True})


def new_batch(body: dict[str, Any], created: int) -> dict[str, Any]:
    return {
        "id": new_id("batch_"),
        "object": "batch",
        "endpoint": body["endpoint"],
        "errors": None,
        "input_file_id": body["input_file_id"],
        "completion_window": body.get("completion_window", "24h"),
        "status": "validating",
        "output_file_id": None,
        "error_file_id": None,
        "created_at": created,
        "in_progress_at": None,
        "expires_at": created + 24 * 3600,
        "finalizing_at": None,
        "completed_at": None,
        "failed_at": None,
        "expired_at": None,
        "cancelling_at": None,
        "cancelled_at": None,
        "request_counts": {"total": 0, "completed": 0, "failed": 0},
        "metadata": body.get("metadata"),
    }


async def create_batch(request: web.Request) -> web.Response:
    owner, principal = await _owner(request)
    body = decode_json(await read_body(request, request.app[GATEWAY].config.server.max_body_bytes))
    if not isinstance(body, dict) or not isinstance(body.get("input_file_id"), str):
        raise InvalidRequest("A batch needs input_file_id (an uploaded file's id).", param="input_file_id")
    if body.get("completion_window", "24h") not in WINDOWS:
        raise InvalidRequest("completion_window must be '24h'.", param="completion_window")
    store = request.app[STORE]
    found = await store.file(owner, body["input_file_id"])
    if found is None:
        raise NotFound(f"No file {body['input_file_id'][:80]!r} for this key.", param="input_file_id")
    lines = parse_lines(found[1])
    same_endpoint(lines, str(body.get("endpoint")))
    job = new_batch(body, int(time.time()))
    await start_job(request.app, owner, principal, job, lines)
    return json_response(job)


async def start_job(
    app: web.Application,
    owner: str,
    principal: Any,
    job: dict[str, Any],
    lines: list[dict[str, Any]],
    extra: dict[str, Any] | None = None,
) -> None:
    """Reserve the batch's budget, save the job (with private ``extra`` fields) and run it;
    shared by ``POST /v1/batches`` and the router's batch plan."""
    job["request_counts"]["total"] = len(lines)
    # The whole batch's estimated cost, reserved now: a batch over the remaining budget runs no line.
    hold = await reserve_batch(app[GATEWAY], principal, lines, CODECS)
    # The key's id, allow-list and team (no secret), so a restarted gateway runs the lines as this key.
    kept = dataclasses.asdict(principal) if principal is not None else None
    await app[STORE].save_job(owner, {**job, "_owner": owner, "_principal": kept, **(extra or {})})
    app[RUNNER].principals[job["id"]] = principal
    if hold is not None:
        app[RUNNER].holds[job["id"]] = hold
    app[RUNNER].start(job["id"])


def _public(job: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in job.items() if not k.startswith("_")}


async def get_batch(request: web.Request) -> web.Response:
    owner, _ = await _owner(request)
    job = await request.app[STORE].job(owner, request.match_info["id"])
    if job is None:
        raise NotFound(f"No batch {request.match_info['id'][:80]!r} for this key.", param="batch_id")
    return json_response(_public(job))


async def list_batches(request: web.Request) -> web.Response:
    owner, _ = await _owner(request)
    try:
        limit = int(request.query.get("limit", "20"))
    except ValueError:
        raise InvalidRequest("limit must be an integer from 1 to 100.", param="limit") from None
    if not 1 <= limit <= 100:
        raise InvalidRequest("limit must be an integer from 1 to 100.", param="limit")
    jobs = [_public(j) for j in await request.app[STORE].jobs(owner)]
    after = request.query.get("after")
    if after:
        ids = [j["id"] for j in jobs]
        jobs = jobs[ids.index(after) + 1 :] if after in ids else []
    page = jobs[:limit]
    return json_response(
        {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(jobs) > limit,
        }
    )


async def cancel_batch(request: web.Request) -> web.Response:
    owner, _ = await _owner(request)
    store = request.app[STORE]
    job = await store.job(owner, request.match_info["id"])
    if job is None:
        raise NotFound(f"No batch {request.match_info['id'][:80]!r} for this key.", param="batch_id")
    if job["status"] in ("validating", "in_progress"):
        job.update(status="cancelling", cancelling_at=int(time.time()))
        await store.update_job(job)
    return json_response(_public(job))


def add_batch_routes(app: web.Application, gateway: Gateway) -> None:
    """The Files and Batch API routes (they need the request-log database)."""
    log_writer = gateway.services.request_log
    app[STORE] = store = BatchStore(log_writer.database if log_writer is not None else None)
    app[RUNNER] = runner = SelfRunner(gateway, store)

    async def resume(_app: web.Application) -> None:
        if log_writer is None:
            return
        try:
            unfinished = await store.unfinished()
        except DatabaseUnavailable as exc:
            # The gateway still serves what needs no database; the jobs resume on the next start.
            logging.getLogger("faregate.batch").warning("batch jobs not resumed: %s", exc)
            return
        for bid in unfinished:
            runner.start(bid)  # a job another replica holds is skipped by its lease

    async def stop(_app: web.Application) -> None:
        await runner.close()

    app.on_startup.append(resume)
    app.on_cleanup.append(stop)
    app.router.add_post("/v1/files", upload_file)
    app.router.add_get("/v1/files/{id}", get_file)
    app.router.add_delete("/v1/files/{id}", delete_file)
    app.router.add_get("/v1/files/{id}/content", file_content)
    app.router.add_post("/v1/batches", create_batch)
    app.router.add_get("/v1/batches", list_batches)
    app.router.add_get("/v1/batches/{id}", get_batch)
    app.router.add_post("/v1/batches/{id}/cancel", cancel_batch)
