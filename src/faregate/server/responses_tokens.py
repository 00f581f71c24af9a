"""``POST /v1/responses/input_tokens``: how many input tokens a Responses request would use.

Answered by the provider where it has the endpoint (a deployment serving the Responses API:
``POST {base_url}/responses/input_tokens``; Anthropic's and Gemini's token counting, on the chat
translation of the request) and by faregate's own estimate otherwise (``auto`` and routes,
chat-only servers, or when the provider's count fails); the
``x-faregate-token-count-source`` header says which (``provider`` or ``estimate``). No model is
called and nothing is charged, but the key must be allowed the model.
"""

from __future__ import annotations

import logging

import aiohttp
import orjson

from ..adapters.openai_responses import input_tokens_request, parse_input_tokens
from ..core.errors import ModelNotFound, PermissionDenied, UpstreamError
from ..endpoints.transport import client_timeout, read_capped
from ..pipeline.context import Principal
from ..pipeline.gateway import Gateway
from ..routing.estimate import prompt_tokens
from ..wire.responses_front import ResponsesCall
from .count_tokens_route import counting_call, provider_count

log = logging.getLogger("faregate")
_CAP = 64 * 1024  # an input_tokens answer is a few bytes
_WAIT_S = 30.0  # a count that takes longer is not worth waiting for: the estimate answers


def estimate_tokens(call: ResponsesCall) -> int:
    """faregate's estimate: the conversation's characters / 4 plus a few per message, and the
    function tools' schemas (which the provider counts as input too)."""
    req = call.request
    tools = len(orjson.dumps(req.tools)) if req.tools else 0
    return prompt_tokens(req.prompt_text(), len(req.messages), overhead=tools // 4)


async def _from_provider(gw: Gateway, call: ResponsesCall) -> int | None:
    deps = [d for d in gw.registry.deployments(call.request.model) if d.target.responses_api]
    if not deps:
        return None
    dep = deps[0]
    up = input_tokens_request(call.request, dep.target, dep.target.base_url.rstrip("/"))
    t = dep.timeouts
    timeout = client_timeout(min(t.total, _WAIT_S), t.connect, t.ttfb)
    try:
        async with gw.services.pool.client.request(
            up.method, up.url, headers=up.headers, data=up.body, timeout=timeout
        ) as resp:
            body = await read_capped(resp, _CAP, f"{dep.id}'s input_tokens answer")
            if resp.status >= 400:
                raise dep.adapter.classify_error(resp.status, body, retry_after_s=None, deployment=dep.id)
        return parse_input_tokens(body)
    except (UpstreamError, aiohttp.ClientError, OSError, TimeoutError) as exc:  # the estimate answers instead
        log.warning("input_tokens from %s failed (%s); answering with the estimate", dep.id, exc)
        return None


async def _from_counting_endpoint(gw: Gateway, call: ResponsesCall) -> int | None:
    """The count from a provider's own counting endpoint (Anthropic, Gemini), if it has one."""
    found = counting_call(gw, call.request)
    if found is None:
        return None
    dep, up = found
    try:
        return await provider_count(gw, dep, up)
    except (UpstreamError, aiohttp.ClientError, OSError, TimeoutError, RuntimeError) as exc:
        log.warning("token count from %s failed (%s); answering with the estimate", dep.id, exc)
        return None


async def count_input_tokens(gw: Gateway, call: ResponsesCall, principal: Principal | None) -> tuple[int, str]:
    """(the count, ``provider`` or ``estimate``)."""
    model = call.request.model
    known = gw.config.model(model) is not None
    if not known and model != "auto" and model not in gw.route_names():
        raise ModelNotFound(f"The model {model[:80]!r} does not exist; see GET /v1/models.", param="model")
    if known and principal is not None and principal.models is not None and model not in principal.models:
        raise PermissionDenied(f"This key may not use model {model[:80]!r}.", param="model")
    if known:
        count = await _from_provider(gw, call)
        if count is None:
            count = await _from_counting_endpoint(gw, call)
        if count is not None:
            return count, "provider"
    return estimate_tokens(call), "estimate"
