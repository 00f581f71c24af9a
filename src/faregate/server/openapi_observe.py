"""The OpenAPI operations of the operators' routes: the probes, ``/metrics``, the alert API and the
response cache's management.

Alert channel and rule bodies are validated by the config file's own pydantic models
(``ChannelConfig``, ``RuleConfig``), so their schemas are those models' JSON Schema."""

from __future__ import annotations

from ..config import ChannelConfig, RuleConfig
from .openapi_runtime import admin_op, pydantic_schemas
from .openapi_schemas import Schema, ref

_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}]
_LIMIT = [
    {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}
]
_BY = [{"name": "by", "in": "query", "required": False, "schema": {"enum": ["model", "key", "model,key", "key,model"]}}]
_FILTERS = [
    {"name": f, "in": "query", "required": False, "schema": {"type": "string"}}
    for f in ("scope", "model", "key", "request_id")
]
_ERROR = {
    "description": "An error in OpenAI's envelope",
    "content": {"application/json": {"schema": ref("OpenAIError")}},
}
_STATUS = {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}


def observe_schemas() -> dict[str, Schema]:
    return {**pydantic_schemas(ChannelConfig), **pydantic_schemas(RuleConfig)}


def _public(op_id: str, summary: str, responses: dict[str, Schema]) -> Schema:
    return {"operationId": op_id, "summary": summary, "security": [], "responses": {**responses, "default": _ERROR}}


def observe_paths() -> dict[str, Schema]:
    ok = {"description": "OK", "content": {"application/json": {"schema": _STATUS}}}
    not_ready = {
        "description": "Not ready, with the reasons",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["status", "reasons"],
                    "properties": {"status": {"const": "not_ready"}, "reasons": {"type": "array"}},
                }
            }
        },
    }
    metrics = {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}
    return {
        "/health/live": {"get": _public("healthLive", "Liveness: the process runs", {"200": ok})},
        "/health/ready": {
            "get": _public("healthReady", "Readiness: storage, Redis and deployments", {"200": ok, "503": not_ready})
        },
        "/metrics": {"get": _public("metrics", "Prometheus metrics (master key if configured)", {"200": metrics})},
        "/admin/alerts/channels": {
            "get": admin_op("listAlertChannels", "Alert channels (secrets never returned)"),
            "post": admin_op("createAlertChannel", "Add an alert channel", body="ChannelConfig", status="201"),
        },
        "/admin/alerts/channels/{id}": {"delete": admin_op("deleteAlertChannel", "Remove a channel", parameters=_ID)},
        "/admin/alerts/channels/{id}/test": {
            "post": admin_op("testAlertChannel", "Send a test message now", parameters=_ID)
        },
        "/admin/alerts/rules": {
            "get": admin_op("listAlertRules", "Alert rules"),
            "post": admin_op("createAlertRule", "Add an alert rule", body="RuleConfig", status="201"),
        },
        "/admin/alerts/rules/{id}": {"delete": admin_op("deleteAlertRule", "Remove a rule", parameters=_ID)},
        "/admin/alerts/check": {"post": admin_op("checkAlerts", "Flush the request log, then evaluate every rule")},
        "/admin/alerts/history": {"get": admin_op("alertHistory", "Every alert sent", parameters=_LIMIT)},
        "/v1/cache/stats": {
            "get": admin_op("cacheStats", "Cache entries, bytes, hits, misses and dollars saved", parameters=_BY)
        },
        "/v1/cache": {"delete": admin_op("cacheDelete", "Remove what matches every filter given", parameters=_FILTERS)},
    }
