"""The router's batch plan on ``POST /v1/chat/completions``: a request with a deadline that the
batch tier serves within its quality floor at a lower cost is answered ``202 Accepted`` with a
one-line batch (OpenAI's batch object; ``Location`` names the URL to poll) instead of an answer.

The answer comes later through ``GET /v1/batches/{id}`` and the output file, and is POSTed to
``faregate.callback_url`` when one was given (``batch.callbacks``). The line is the request
itself naming the planned model, run by the batch tier with the same key (by the provider's batch
API at its discount where the model may use it, else through the pipeline at list price); its
estimated cost is reserved on the key's budgets now, so a request past a budget is a 429 at once.
A request without a deadline, a streamed one, one naming a model (not a route), one to a route
in a gradual rollout or under an experiment, or one on a gateway without the request-log
database is answered at once, as always."""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

from ..batch.callbacks import CallbackSender
from ..batch.runner import new_id
from ..core.errors import GatewayError
from ..core.types import ChatRequest
from ..pipeline.context import Principal
from ..pipeline.gateway import Gateway
from ..pipeline.routing_step import RoutingStep
from ..routing.plan import Plan
from ..storage.db import DatabaseUnavailable
from .batch_routes import STORE, new_batch, start_job
from .http import GATEWAY, json_response
from .responses_routes import owner_of

CALLBACKS = web.AppKey("batch_callbacks", CallbackSender)
ENDPOINT = "/v1/chat/completions"


def tier_open(routing: RoutingStep, route_name: str) -> bool:
    """Whether a request to ``route_name`` may be deferred at all. A route in a gradual rollout,
    or a gateway running experiments, keeps its arms synchronous: the arm is drawn per request,
    and a deferred request would be measured outside it."""
    route = routing.routes.get(route_name)
    if route is None or routing.experiments is not None:
        return False
    return not (route.rollout < 1.0 and route.control_model)


def _wants_batch(gw: Gateway, req: ChatRequest) -> bool:
    """Only an explicit deadline (the request's or its route's) opens the batch tier."""
    routing = gw.runtime.routing
    if req.stream or routing is None or not tier_open(routing, req.model):
        return False
    if req.routing and req.routing.get("deadline") is not None:
        return True
    return routing.routes[req.model].deadline is not None


async def defer_to_batch(
    request: web.Request, req: ChatRequest, principal: Principal | None, raw: bytes
) -> web.Response | None:
    """A 202 with the batch job when the router plans ``req`` onto the batch tier, else None
    (the request runs now). Raises the budget's 429 when the reservation does not fit."""
    gw = request.app[GATEWAY]
    if gw.services.request_log is None or CALLBACKS not in request.app or not _wants_batch(gw, req):
        return None
    routing = gw.runtime.routing
    assert routing is not None  # _wants_batch: a route of this routing step
    ctx = gw.context(req, principal=principal)
    try:
        plan = routing.plan(ctx, req.model, batch_ok=True)
    except GatewayError:
        return None  # the pipeline answers the same error in the front's own envelope
    if plan.tier != "batch":
        return None
    return await _submit(request.app, req, principal, raw, plan, ctx.request_id)


def _line(req: ChatRequest, raw: bytes, plan: Plan, request_id: str) -> tuple[dict[str, Any], str | None]:
    """The request as a batch input line naming the planned model, so the batch runs the plan
    (through the provider's batch API where the model may use it: ``batch.provider_run``)."""
    body = orjson.loads(raw)
    body["model"] = plan.models[-1]
    routing = dict(req.routing or {})
    callback = routing.pop("callback_url", None)
    routing.pop("deadline", None)  # planned already
    if routing:
        body["faregate"] = routing  # the header constraints too (the task, the cache control)
    else:
        body.pop("faregate", None)
    return {"custom_id": f"request-{request_id}", "method": "POST", "url": ENDPOINT, "body": body}, callback


async def _submit(
    app: web.Application, req: ChatRequest, principal: Principal | None, raw: bytes, plan: Plan, request_id: str
) -> web.Response:
    line, callback = _line(req, raw, plan, request_id)
    owner, now = owner_of(principal), int(time.time())
    fid = new_id("file-")
    file_obj = {"id": fid, "created_at": now, "purpose": "batch", "filename": f"{request_id}.jsonl"}
    await app[STORE].save_file(file_obj, owner, orjson.dumps(line).decode() + "\n")
    cons = plan.constraints
    metadata = {
        "faregate_tier": "batch",
        "faregate_request_id": request_id,
        "faregate_model": plan.models[-1],
        "faregate_predicted_cost_usd": f"{plan.predicted_cost_usd:.10f}".rstrip("0").rstrip("."),
        "faregate_deadline_s": f"{cons.deadline_s:g}" if cons is not None and cons.deadline_s else "",
    }
    job = new_batch({"endpoint": ENDPOINT, "input_file_id": fid, "metadata": metadata}, now)
    extra = {"_callback": {"url": callback, "state": "pending", "attempts": 0}} if callback else None
    await start_job(app, owner, principal, job, [line], extra)
    if callback:
        app[CALLBACKS].watch(job["id"])
    headers = {
        "location": f"/v1/batches/{job['id']}",
        "x-request-id": request_id,
        "x-faregate-tier": "batch",
        "x-faregate-batch-id": job["id"],
        "x-faregate-route": plan.route,
        "x-faregate-predicted-cost-usd": metadata["faregate_predicted_cost_usd"] or "0",
    }
    return json_response(job, status=202, headers=headers)


def add_batch_plan(app: web.Application, gateway: Gateway) -> None:
    """The callback sender of deferred requests (after ``add_batch_routes``: it needs the store)."""
    tier = gateway.config.batch_tier
    log_writer = gateway.services.request_log
    app[CALLBACKS] = sender = CallbackSender(
        app[STORE],
        tier.callback_attempts,
        tier.callback_timeout_s,
        secret=tier.callback_secret,
        database=log_writer.database if log_writer is not None else None,
    )

    async def resume(_app: web.Application) -> None:
        try:
            await sender.resume()
        except (GatewayError, DatabaseUnavailable):
            return  # no database now: the watchers come back on the next start

    async def stop(_app: web.Application) -> None:
        await sender.close()

    app.on_startup.append(resume)
    app.on_cleanup.append(stop)
