"""``POST /v1/messages/count_tokens`` (Anthropic's shape): a Messages body's input tokens.

Answered by the provider where it has a counting endpoint (``Adapter.build_count_request``:
Anthropic's ``/v1/messages/count_tokens``, Gemini's ``:countTokens``), else by faregate's
estimate (``wire.token_count``);
the ``x-faregate-token-count-source`` header says which (``provider`` or ``estimate``). A failed
provider count falls back to the estimate, with the reason in ``x-faregate-token-count-fallback``.
Needs the same gateway key as ``/v1/messages`` and respects its model allow-list; it calls no
model, so it costs nothing and counts against no limit or budget.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from aiohttp import web

from ..adapters.base import UpstreamRequest
from ..core.errors import GatewayError, ModelNotFound, PermissionDenied, UpstreamError
from ..core.types import ChatRequest
from ..endpoints.deployments import Deployment
from ..pipeline.gateway import Gateway
from ..wire.anthropic_front import parse_messages_request
from ..wire.anthropic_render import error_body
from ..wire.codec import decode_json
from ..wire.token_count import SOURCE_HEADER, estimate_input_tokens
from .http import GATEWAY, bearer, json_response, read_body

log = logging.getLogger("faregate")

COUNT_TOKENS_PATH = "/v1/messages/count_tokens"


def counting_call(gw: Gateway, req: ChatRequest) -> tuple[Deployment, UpstreamRequest] | None:
    """The first deployment of the model whose provider counts tokens, with its counting call."""
    for dep in gw.registry.deployments(req.model):
        up = dep.adapter.build_count_request(req, dep.target)
        if up is not None:
            return dep, up
    return None


async def provider_count(gw: Gateway, dep: Deployment, up: UpstreamRequest) -> int:
    t = dep.timeouts
    timeout = aiohttp.ClientTimeout(total=t.ttfb, sock_connect=t.connect)
    async with gw.services.pool.client.post(up.url, headers=up.headers, data=up.body, timeout=timeout) as resp:
        raw = await resp.content.read(1 << 20)
        if resp.status >= 400:
            raise RuntimeError(f"{dep.id} answered {resp.status}: {dep.adapter.error_message(resp.status, raw)}")
    return dep.adapter.parse_count_response(raw)


def _check_model(gw: Gateway, req: ChatRequest, models: tuple[str, ...] | None) -> None:
    name = req.model
    if gw.config.model(name) is None and name not in gw.route_names():
        raise ModelNotFound(f"The model {name!r} does not exist.", param="model")
    if models is not None and name not in models and name not in gw.route_names():
        raise PermissionDenied(f"This key may not use model {name[:200]!r}.", param="model")


async def count_tokens(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    try:
        credential = bearer(request)
        principal = gw.known_principal(credential) or await gw.authenticate(credential)
        body: Any = decode_json(await read_body(request, gw.config.server.max_body_bytes))
        if isinstance(body, dict) and body.get("max_tokens") is None:
            body = {**body, "max_tokens": 1}  # a count takes a Messages body without max_tokens
        req = parse_messages_request(body, gw.config.bounds.input_bounds())
        _check_model(gw, req, principal.models if principal is not None else None)
    except GatewayError as err:
        return json_response(error_body(err), status=err.status, headers=err.headers or None)
    headers = {SOURCE_HEADER: "estimate"}
    call = counting_call(gw, req)
    if call is not None:
        dep, up = call
        try:
            n = await provider_count(gw, dep, up)
            return json_response({"input_tokens": n}, headers={SOURCE_HEADER: "provider"})
        except (aiohttp.ClientError, TimeoutError, RuntimeError, UpstreamError) as exc:
            reason = str(exc) or type(exc).__name__
            log.warning("token count from %s failed, answering the estimate: %s", dep.id, reason)
            headers["x-faregate-token-count-fallback"] = reason[:200].encode("ascii", "replace").decode()
    return json_response({"input_tokens": estimate_input_tokens(req)}, headers=headers)
