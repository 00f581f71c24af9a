"""The OpenAPI operations of the runtime-config admin routes (``/admin/models``, ``/admin/providers``,
``/admin/audit``). Their bodies are validated by the config file's own pydantic models, so their
schemas are those models' JSON Schema (nested sections become components of their own)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ..config import ModelConfig, ProviderCredentials
from .openapi_schemas import Schema, ref

_TEMPLATE = "#/components/schemas/{model}"
_NAME = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}]


def pydantic_schemas(model: type[BaseModel]) -> dict[str, Schema]:
    """``model``'s JSON Schema and its nested sections, as components."""
    schema = model.model_json_schema(ref_template=_TEMPLATE)
    defs = schema.pop("$defs", {})
    return {model.__name__: schema, **defs}


def runtime_schemas() -> dict[str, Schema]:
    """``ModelConfig`` (a model entry as in the config file), ``ProviderCredentials`` and their sections."""
    return {**pydantic_schemas(ModelConfig), **pydantic_schemas(ProviderCredentials)}


def admin_op(op_id: str, summary: str, *, body: str | None = None, status: str = "200", **kw: Any) -> Schema:
    """A master-key operation answering a JSON object, with its body component named ``body``."""
    op: Schema = {
        "operationId": op_id,
        "summary": summary,
        "security": [{"masterKey": []}],
        "responses": {
            status: {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}},
            "default": {
                "description": "An error in OpenAI's envelope",
                "content": {"application/json": {"schema": ref("OpenAIError")}},
            },
        },
        **kw,
    }
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(body)}}}
    return op


def runtime_paths() -> dict[str, Schema]:
    out: dict[str, Schema] = {}
    for plural, body, what in (("models", "ModelConfig", "model"), ("providers", "ProviderCredentials", "provider")):
        cap = what.capitalize()
        out[f"/admin/{plural}"] = {
            "get": admin_op(f"listRuntime{cap}s", f"Runtime {what} entries (secrets never returned)"),
            "post": admin_op(f"createRuntime{cap}", f"Add a {what} at run time", body=body, status="201"),
        }
        out[f"/admin/{plural}/{{name}}"] = {
            "get": admin_op(f"getRuntime{cap}", f"One runtime {what} entry", parameters=_NAME),
            "patch": admin_op(
                f"updateRuntime{cap}",
                f"Change a runtime {what} entry: the fields given are merged into it, then validated whole",
                parameters=_NAME,
                requestBody={"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
            ),
            "delete": admin_op(f"deleteRuntime{cap}", f"Remove a runtime {what} entry", parameters=_NAME),
        }
    out["/admin/audit"] = {"get": admin_op("listAudit", "Every runtime configuration change (without secrets)")}
    return out
