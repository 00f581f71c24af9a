"""The OpenAPI operations of the master-key routes: the admin API, analytics, deployments'
health. Bodies are validated by hand in ``admin_routes`` from the field sets imported here, so
a field added there without a schema fails ``test_openapi``; limits are ``LimitSet``'s own
JSON Schema."""

from __future__ import annotations

from typing import Any

from ..config.experiments import CONSTRAINT_KEYS, ExperimentArmConfig, ExperimentConfig
from ..routing.constraints import RANGES
from ..routing.modes import MODES
from . import admin_routes as admin
from .openapi_schemas import GROUP_BY, Schema, nullable, ref

_NAME = {"type": "string", "minLength": 1, "maxLength": 200}
_MODELS = {"anyOf": [{"type": "array", "items": _NAME}, {"type": "string"}, {"type": "null"}]}
_POSITIVE = nullable({"type": "number", "exclusiveMinimum": 0})

SCHEMAS: dict[str, Schema] = {
    "KeyCreate": {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": {
            "name": _NAME,
            "team": nullable(_NAME),
            "models": _MODELS,
            "limits": nullable(ref("LimitSet")),
            "expires_at": _POSITIVE,
            "expires_in_s": _POSITIVE,
            "idempotent": nullable(
                {"type": "boolean", "description": "false: the key's requests are never hedged (sent twice)."}
            ),
            "mode": nullable({"type": "string", "enum": ["cost", "latency", "quality", "balanced"]}),
            "guardrails": nullable(
                {"type": "array", "items": {"type": "string"}, "description": "Names of configured guardrails."}
            ),
        },
    },
    "KeyUpdate": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "name": _NAME,
            "team": nullable(_NAME),
            "models": _MODELS,
            "limits": ref("LimitSet"),
            "expires_at": _POSITIVE,
            "idempotent": nullable(
                {"type": "boolean", "description": "false: the key's requests are never hedged (sent twice)."}
            ),
            "mode": nullable({"type": "string", "enum": ["cost", "latency", "quality", "balanced"]}),
            "guardrails": nullable(
                {"type": "array", "items": {"type": "string"}, "description": "Names of configured guardrails."}
            ),
        },
    },
    "Key": {
        "type": "object",
        "required": ["id", "name", "prefix", "active"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "prefix": {"type": "string"},
            "team": nullable({"type": "string"}),
            "models": nullable({"type": "array", "items": {"type": "string"}}),
            "limits": {"type": "object"},
            "created_at": {"type": "number"},
            "expires_at": nullable({"type": "number"}),
            "revoked_at": nullable({"type": "number"}),
            "rotated_at": nullable({"type": "number"}),
            "idempotent": {"type": "boolean"},
            "mode": nullable({"type": "string"}),
            "guardrails": nullable({"type": "array", "items": {"type": "string"}}),
            "active": {"type": "boolean"},
        },
    },
    "NewKey": {
        "allOf": [ref("Key"), {"type": "object", "required": ["key"], "properties": {"key": {"type": "string"}}}]
    },
    "TeamPut": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"models": _MODELS, "limits": ref("LimitSet")},
    },
    "Team": {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string"}, "models": {}, "limits": {"type": "object"}},
    },
    "Scope": {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "maxProperties": 1,
        "properties": {f: {"type": "string", "minLength": 1} for f in sorted(admin.RESET_FIELDS)},
    },
    "List": {"type": "object", "required": ["object", "data"], "properties": {"object": {"const": "list"}}},
}


def _arm_schema() -> Schema:
    """One arm: a name, a share and at most one policy (one variant per policy, or none: the route as it is)."""
    bounds = {
        k: {"exclusiveMinimum" if not inc else "minimum": lo, "maximum": hi} for k, (lo, hi, inc) in RANGES.items()
    }
    constraints: Schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            **{k: {"type": "number", **bounds[k]} for k in sorted(CONSTRAINT_KEYS - {"mode"})},
            "mode": {"enum": list(MODES)},
        },
    }
    base = {"name": _NAME, "share": {"type": "number", "exclusiveMinimum": 0, "maximum": 1e6}}
    policies: dict[str, Schema] = {"model": _NAME, "route": _NAME, "router_model": _NAME, "constraints": constraints}
    variants = [{"type": "object", "required": ["name", "share"], "additionalProperties": False, "properties": base}]
    variants += [
        {
            "type": "object",
            "required": ["name", "share", k],
            "additionalProperties": False,
            "properties": {**base, k: v},
        }
        for k, v in policies.items()
    ]
    return {"anyOf": variants}


# The body of PUT /admin/experiments/{name}: one entry as in the config file. Arm names must be
# distinct, a promoted arm one of them, models and routes must exist (409 otherwise: OpenAPI cannot say it).
SCHEMAS["ExperimentArm"] = _arm_schema()
SCHEMAS["ExperimentPut"] = {
    "type": "object",
    "required": ["arms"],
    "additionalProperties": False,
    "properties": {
        "name": _NAME,
        "applies_to": _NAME,
        "assign_by": {"enum": ["key", "user", "request"]},
        "seed": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
        "arms": {"type": "array", "minItems": 2, "maxItems": 20, "items": ref("ExperimentArm")},
        "status": {"enum": ["running", "stopped", "promoted"]},
        "promoted_arm": nullable(_NAME),
    },
}
SCHEMAS["ExperimentPromote"] = {
    "type": "object",
    "required": ["arm"],
    "additionalProperties": False,
    "properties": {"arm": _NAME},
}
assert set(SCHEMAS["KeyCreate"]["properties"]) == admin.KEY_CREATE_FIELDS
assert set(SCHEMAS["KeyUpdate"]["properties"]) == admin.KEY_UPDATE_FIELDS
assert set(SCHEMAS["TeamPut"]["properties"]) == admin.TEAM_FIELDS
assert set(SCHEMAS["ExperimentPut"]["properties"]) == set(ExperimentConfig.model_fields)
assert set(SCHEMAS["ExperimentArm"]["anyOf"][0]["properties"]) | {
    "model",
    "route",
    "router_model",
    "constraints",
} == set(ExperimentArmConfig.model_fields)


def _op(
    op_id: str,
    summary: str,
    ok: Schema,
    *,
    body: str | None = None,
    status: str = "200",
    body_required: bool = True,
    **kw: Any,
) -> Schema:
    op: Schema = {
        "operationId": op_id,
        "summary": summary,
        "security": [{"masterKey": []}],
        "responses": {
            status: {"description": "OK", "content": {"application/json": {"schema": ok}}},
            "default": ref_response("OpenAIError"),
        },
        **kw,
    }
    if body is not None:
        op["requestBody"] = {"required": body_required, "content": {"application/json": {"schema": ref(body)}}}
    return op


def ref_response(name: str) -> Schema:
    return {
        "description": "An error, in the envelope of this API",
        "content": {"application/json": {"schema": ref(name)}},
    }


# Durations ago (1h, 7d, 30m) or epoch seconds; an ISO 8601 time is accepted too (not fuzzed).
_WHEN = {"type": "string", "pattern": r"^[0-9]{1,9}(\.[0-9]{1,3})?(s|m|min|h|d|w)?$"}
_WHEN_TEXT = "A duration ago like 1h, 7d or 30m, epoch seconds, or an ISO 8601 time like 2026-01-31T12:00:00Z."
_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
_TEAM = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}]
_EXP = _TEAM  # a path name, like a team's
_KEY_LINKS = {
    name: {"operationId": op, "parameters": {"id": "$response.body#/id"}}
    for name, op in (
        ("GetKey", "getKey"),
        ("UpdateKey", "updateKey"),
        ("RevokeKey", "revokeKey"),
        ("RotateKey", "rotateKey"),
    )
}


def _experiment_paths() -> dict[str, Any]:
    """The policy experiments' admin and analytics routes."""
    return {
        "/admin/experiments": {"get": _op("listExperiments", "Every policy experiment in force", {"type": "object"})},
        "/admin/experiments/{name}": {
            "put": _op(
                "putExperiment",
                "Create or replace an experiment",
                {"type": "object"},
                body="ExperimentPut",
                parameters=_EXP,
            ),
            "delete": _op("deleteExperiment", "Delete a stored experiment", {"type": "object"}, parameters=_EXP),
        },
        "/admin/experiments/{name}/stop": {
            "post": _op("stopExperiment", "Stop an experiment", {"type": "object"}, parameters=_EXP)
        },
        "/admin/experiments/{name}/promote": {
            "post": _op(
                "promoteExperiment",
                "Send all traffic to one arm",
                {"type": "object"},
                body="ExperimentPromote",
                parameters=_EXP,
            )
        },
        "/v1/analytics/experiments/{name}": {
            "get": _op(
                "analyticsExperiment",
                "A policy experiment's arms compared, with 95% intervals and a verdict",
                {"type": "object"},
                parameters=[
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "since", "in": "query", "schema": _WHEN, "description": _WHEN_TEXT},
                ],
            )
        },
    }


def admin_paths() -> dict[str, Schema]:
    key, team, lst = ref("Key"), ref("Team"), ref("List")
    create = _op("createKey", "Create a key (the key is shown once)", ref("NewKey"), body="KeyCreate", status="201")
    create["responses"]["201"]["links"] = _KEY_LINKS
    team_q = [{"name": "team", "in": "query", "required": False, "schema": {"type": "string"}}]
    scope_q = [
        {"name": f, "in": "query", "required": False, "schema": {"type": "string"}} for f in sorted(admin.RESET_FIELDS)
    ]
    return {
        "/admin/keys": {"get": _op("listKeys", "List keys", lst, parameters=team_q), "post": create},
        "/admin/keys/{id}": {
            "get": _op("getKey", "One key", key, parameters=_ID),
            "patch": _op("updateKey", "Change a key", key, body="KeyUpdate", body_required=False, parameters=_ID),
        },
        "/admin/keys/{id}/revoke": {"post": _op("revokeKey", "Revoke a key", key, parameters=_ID)},
        "/admin/keys/{id}/rotate": {"post": _op("rotateKey", "Rotate a key", ref("NewKey"), parameters=_ID)},
        "/admin/teams": {"get": _op("listTeams", "List teams", lst)},
        "/admin/teams/{name}": {
            "get": _op("getTeam", "One team", team, parameters=_TEAM),
            "put": _op(
                "putTeam", "Create or change a team", team, body="TeamPut", body_required=False, parameters=_TEAM
            ),
            "delete": _op("deleteTeam", "Delete a team", {"type": "object"}, parameters=_TEAM),
        },
        "/admin/limits": {"get": _op("getLimits", "Configured limits and limit-store counters", {"type": "object"})},
        "/admin/usage": {
            "get": _op("getUsage", "Usage of one scope's counters", {"type": "object"}, parameters=scope_q)
        },
        "/admin/resets": {"post": _op("resetCounters", "Clear one scope's counters", {"type": "object"}, body="Scope")},
        "/v1/health/deployments": {"get": _op("deploymentsHealth", "Each deployment's circuit and last error", lst)},
        "/v1/analytics/summary": {
            "get": _op(
                "analyticsSummary",
                "Spend, latency and quality over the request log",
                {"type": "object"},
                parameters=[
                    {"name": "since", "in": "query", "schema": _WHEN, "description": _WHEN_TEXT},
                    {"name": "until", "in": "query", "schema": _WHEN, "description": _WHEN_TEXT},
                    {"name": "group_by", "in": "query", "schema": GROUP_BY},
                    {"name": "baseline", "in": "query", "schema": {"type": "string"}},
                ],
            )
        },
        **_experiment_paths(),
    }
