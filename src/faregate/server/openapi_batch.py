"""The OpenAPI description of the Files and Batch API routes (``batch_routes``): OpenAI's
``file`` and ``batch`` objects, the multipart upload, and list pagination (after, limit)."""

from __future__ import annotations

from .openapi_admin import ref_response
from .openapi_schemas import Schema

_ID: Schema = {"type": "string", "minLength": 1}
_FILE: Schema = {
    "type": "object",
    "required": ["id", "object", "bytes", "created_at", "filename", "purpose"],
    "properties": {
        "id": _ID,
        "object": {"const": "file"},
        "bytes": {"type": "integer"},
        "created_at": {"type": "integer"},
        "filename": {"type": "string"},
        "purpose": {"type": "string"},
        "status": {"type": "string"},
    },
}
_BATCH: Schema = {
    "type": "object",
    "required": ["id", "object", "endpoint", "input_file_id", "status", "request_counts", "created_at"],
    "properties": {
        "id": _ID,
        "object": {"const": "batch"},
        "endpoint": {"type": "string"},
        "input_file_id": _ID,
        "completion_window": {"type": "string"},
        "status": {
            "enum": [
                "validating",
                "in_progress",
                "finalizing",
                "completed",
                "failed",
                "expired",
                "cancelling",
                "cancelled",
            ]
        },
        "output_file_id": {"type": ["string", "null"]},
        "error_file_id": {"type": ["string", "null"]},
        "request_counts": {
            "type": "object",
            "properties": {k: {"type": "integer"} for k in ("total", "completed", "failed")},
        },
        "created_at": {"type": "integer"},
    },
}
_DELETED: Schema = {
    "type": "object",
    "required": ["id", "deleted"],
    "properties": {"id": _ID, "deleted": {"type": "boolean"}},
}
_LIST: Schema = {
    "type": "object",
    "required": ["object", "data", "has_more"],
    "properties": {
        "object": {"const": "list"},
        "data": {"type": "array", "items": _BATCH},
        "has_more": {"type": "boolean"},
    },
}
_PATH_ID = [{"name": "id", "in": "path", "required": True, "schema": _ID}]
_UPLOAD = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file", "purpose"],
                "properties": {"file": {"type": "string", "format": "binary"}, "purpose": {"const": "batch"}},
            }
        }
    },
}
_CREATE = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["input_file_id", "endpoint", "completion_window"],
                "properties": {
                    "input_file_id": _ID,
                    "endpoint": {"enum": ["/v1/chat/completions", "/v1/embeddings", "/v1/responses"]},
                    "completion_window": {"const": "24h"},
                    "metadata": {"type": "object"},
                },
            }
        }
    },
}
BATCH_OBJECT = _BATCH  # also the 202 body of a chat request deferred to the batch tier


def _op(op_id: str, summary: str, ok: Schema, content: str = "application/json", **kw: object) -> Schema:
    return {
        "operationId": op_id,
        "summary": summary,
        "security": [{"gatewayKey": []}],
        "responses": {
            "200": {"description": "OK", "content": {content: {"schema": ok}}},
            "default": ref_response("OpenAIError"),
        },
        **kw,
    }


def batch_paths() -> dict[str, Schema]:
    listing = [
        {"name": "after", "in": "query", "required": False, "schema": _ID},
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": 100},
        },
    ]
    return {
        "/v1/files": {"post": _op("uploadFile", "Upload a batch input file (JSONL)", _FILE, requestBody=_UPLOAD)},
        "/v1/files/{id}": {
            "get": _op("getFile", "A file of this key", _FILE, parameters=_PATH_ID),
            "delete": _op("deleteFile", "Delete a file of this key", _DELETED, parameters=_PATH_ID),
        },
        "/v1/files/{id}/content": {
            "get": _op(
                "getFileContent", "A file's content", {"type": "string"}, "application/jsonl", parameters=_PATH_ID
            )
        },
        "/v1/batches": {
            "post": _op("createBatch", "Create a batch from an uploaded file", _BATCH, requestBody=_CREATE),
            "get": _op("listBatches", "This key's batches, newest first", _LIST, parameters=listing),
        },
        "/v1/batches/{id}": {"get": _op("getBatch", "A batch of this key", _BATCH, parameters=_PATH_ID)},
        "/v1/batches/{id}/cancel": {"post": _op("cancelBatch", "Cancel a batch", _BATCH, parameters=_PATH_ID)},
    }
