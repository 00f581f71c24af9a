"""The Gemini fake's batch mode (Developer API), the shapes the official ``google-genai`` SDK
sends and reads: ``POST /v1beta/models/{model}:batchGenerateContent`` with inlined requests
(``batch.inputConfig.requests.requests: [{request, metadata: {key}}]``), ``GET
/v1beta/batches/{id}`` (an operation whose ``metadata.state`` is BATCH_STATE_RUNNING until it ends
SUCCEEDED or CANCELLED, then ``metadata.output.inlinedResponses.inlinedResponses``: per line
``{response, metadata}`` or ``{error: {code, message}, metadata}``), ``POST
/v1beta/batches/{id}:cancel``. Scripted like the others (``fake_batches``)."""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

from .fake_batches import JSON_HEADERS, PASSED, FakeBatches, rfc3339
from .wire import error_body

_GEMINI_RPC = {400: 3, 401: 16, 403: 7, 404: 5, 429: 8, 500: 13, 503: 14, 504: 4}


def _gemini_batch(b: dict[str, Any]) -> dict[str, Any]:
    """The batch as ``batches/{id}`` shows it (an operation whose metadata is the batch)."""
    ended, results = b.get("_ended"), b.get("_results") or []
    state = "BATCH_STATE_RUNNING"
    if ended is not None:
        state = "BATCH_STATE_CANCELLED" if b["_cancel"] else "BATCH_STATE_SUCCEEDED"
    ok = sum(1 for r in results if r[1] == "succeeded")
    meta: dict[str, Any] = {
        "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
        "model": f"models/{b['_model']}",
        "displayName": b["_name"],
        "createTime": rfc3339(b["_created"]),
        "updateTime": rfc3339(ended or b["_created"]),
        "state": state,
        "batchStats": {"requestCount": str(len(b["_lines"])), "successfulRequestCount": str(ok)},
    }
    if ended is not None:
        meta["endTime"] = rfc3339(ended)
        rows = []
        for cid, kind, status, body in results:
            if kind == "succeeded":
                rows.append({"response": body, "metadata": {"key": cid}})
            elif kind == "errored":
                err = (body or {}).get("error") or {}
                code = _GEMINI_RPC.get(status, 13)
                rows.append({"error": {"code": code, "message": err.get("message", "")}, "metadata": {"key": cid}})
        meta["batchStats"]["failedRequestCount"] = str(len(rows) - ok)
        meta["output"] = {"inlinedResponses": {"inlinedResponses": rows}}
    return {"name": b["id"], "metadata": meta, "done": ended is not None}


async def gemini_create(fb: FakeBatches, request: web.Request) -> web.Response:
    if (denied := fb._denied(request)) is not None:
        return denied
    body = orjson.loads(await request.read() or b"{}")
    fb._log(request, body)
    batch = body.get("batch") or {}
    reqs = ((batch.get("inputConfig") or {}).get("requests") or {}).get("requests")
    if not isinstance(reqs, list) or not reqs:
        msg = "batch.inputConfig.requests.requests: a non-empty list of {request, metadata}"
        return web.Response(status=400, body=error_body("gemini", 400, msg), headers=JSON_HEADERS)
    model = request.match_info["model"]
    b: dict[str, Any] = {"id": fb._id("batches/"), "_lines": reqs, "_cancel": False, "_created": time.time()}
    b.update(_model=model, _name=batch.get("displayName", ""))
    fb.batches[b["id"]] = b
    headers = {k: v for k, v in request.headers.items() if k.lower() in (*PASSED, "x-goog-api-key")}
    headers["content-type"] = "application/json"
    path = f"/v1beta/models/{model}:generateContent"
    keys = [str((r.get("metadata") or {}).get("key", i)) for i, r in enumerate(reqs)]
    fb.start(b, [(k, path, r.get("request") or {}) for k, r in zip(keys, reqs)], headers)
    return web.json_response(_gemini_batch(b))


async def gemini_get(fb: FakeBatches, request: web.Request) -> web.Response:
    if (denied := fb._denied(request)) is not None:
        return denied
    b = fb.batches.get("batches/" + request.match_info["id"])
    if b is None:
        return web.Response(status=404, body=error_body("gemini", 404, "no such batch"), headers=JSON_HEADERS)
    fb._log(request, {})
    if request.method == "POST":  # :cancel
        if b.get("_ended") is None:
            b["_cancel"] = True
            b["_wake"].set()
        return web.json_response({})
    return web.json_response(_gemini_batch(b))


def add_gemini_batch_routes(fb: FakeBatches, app: web.Application) -> None:
    """The routes above on a Gemini fake (nothing for another protocol)."""
    if fb.fake.protocol != "gemini":
        return

    async def create(request: web.Request) -> web.Response:
        return await gemini_create(fb, request)

    async def get(request: web.Request) -> web.Response:
        return await gemini_get(fb, request)

    for version in ("v1beta", "v1"):
        app.router.add_post(f"/{version}/models/{{model}}:batchGenerateContent", create)
        app.router.add_get(f"/{version}/batches/{{id}}", get)
        app.router.add_post(f"/{version}/batches/{{id}}:cancel", get)
