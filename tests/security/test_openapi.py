"""The OpenAPI spec: served without a key, describes every route of the app (and only those),
and is the spec the schemathesis run fuzzes against."""

from __future__ import annotations

import aiohttp
import orjson

from faregate.config import GatewayConfig
from faregate.pipeline.gateway import Gateway
from faregate.server.app import PUBLIC_PATHS, create_app
from faregate.server.openapi import OPENAPI_PATH, build_spec, spec_for
from helpers import fake_config


def _app_routes(**config: object) -> set[tuple[str, str]]:
    gw = Gateway(GatewayConfig.model_validate({"database_url": "", **config}))
    app = create_app(gw, manage_lifecycle=False)
    out = set()
    for route in app.router.routes():
        if route.method in ("HEAD", "*"):
            continue
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if path:
            out.add((route.method.lower(), path))
    return out


def _spec_routes(spec: dict) -> set[tuple[str, str]]:
    return {(m, p) for p, ops in spec["paths"].items() for m in ops}


def test_every_route_of_the_app_is_described_and_nothing_else():
    app, spec = _app_routes(), _spec_routes(build_spec())
    assert app - spec == set(), f"routes without a description: {sorted(app - spec)}"
    assert spec - app == set(), f"described routes the app does not have: {sorted(spec - app)}"
    assert len(app) >= 20


def test_the_dashboard_pages_are_deliberately_outside_the_spec():
    """The dashboard (``dashboard.enabled``) adds HTML pages for a browser session, authenticated
    by cookie, not API operations: the spec leaves them out on purpose, and they are nothing else."""
    extra = _app_routes(dashboard={"enabled": True}) - _app_routes()
    assert extra and all(p == "/dashboard" or p.startswith("/dashboard/") for _, p in extra), sorted(extra)
    assert ("get", "/dashboard") in extra and ("post", "/dashboard/login") in extra
    assert not {p for _, p in extra} & set(build_spec()["paths"])


def test_public_operations_are_exactly_the_public_paths():
    spec = build_spec()
    public = {p for p, ops in spec["paths"].items() for op in ops.values() if op["security"] == []}
    assert public == set(PUBLIC_PATHS) and OPENAPI_PATH in PUBLIC_PATHS


def test_every_operation_documents_its_error_envelope():
    spec = build_spec()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            err = op["responses"]["default"]["content"]["application/json"]["schema"]["$ref"]
            want = "AnthropicError" if path in ("/v1/messages", "/v1/messages/count_tokens") else "OpenAIError"
            assert err.endswith(want), (method, path, err)
            assert op["operationId"]


async def test_served_without_a_key_and_equal_to_the_built_spec(start_server, upstreams):
    srv = start_server(fake_config(upstreams))
    async with aiohttp.ClientSession() as s:
        async with s.get(srv.url + OPENAPI_PATH) as r:
            assert r.status == 200 and r.content_type == "application/json"
            served = orjson.loads(await r.read())
    assert served["openapi"] == "3.1.0"
    assert served == orjson.loads(orjson.dumps(spec_for(srv.gateway.config)))
    # max_tokens is bounded by the largest output limit of the configured models: their max_output_tokens
    # (from the config or the catalogue) where it is below the context window, else the context window
    assert served["components"]["schemas"]["ChatCompletionRequest"]["properties"]["max_tokens"]["anyOf"][0][
        "maximum"
    ] == max(min(m.context_window, m.max_output_tokens or m.context_window) for m in srv.gateway.config.models)
    from test_openapi_schemathesis import SPEC  # what the schemathesis run loads

    assert served == orjson.loads(orjson.dumps(SPEC))
