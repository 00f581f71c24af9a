"""Clients of the providers' own batch APIs: OpenAI Batch, Anthropic Message Batches and
Gemini batch mode.

Each takes lines already in the provider's wire format (the adapter's ``request_for``: the URL,
headers with the credential, and the body of a normal call) and speaks the batch API next to
that URL: submit, poll, fetch results, cancel. A result comes back per line as ``LineResult``:
the provider's own answer body (status 200) or error body (status >= 400), or ``lost`` (the
line was cancelled or expired before it ran). The provider's line ids are ours (``l<n>``):
Anthropic allows only ``[A-Za-z0-9_-]{1,64}``, so a client's custom_id never goes upstream.

Adding a provider is one subclass of ``BatchAPI`` and an entry in ``APIS``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from ..adapters.base import UpstreamRequest
from ..core.errors import UpstreamError

TIMEOUT = aiohttp.ClientTimeout(total=120, connect=10)
_ANTHROPIC_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


@dataclass(frozen=True, slots=True)
class LineResult:
    """One line's outcome: ``status`` 200 with the answer body, >= 400 with the error body, or
    0 with ``lost`` = "cancelled" | "expired" (nothing ran, nothing is charged)."""

    status: int
    body: bytes = b""
    lost: str | None = None


class BatchAPI(ABC):
    """One provider's batch API, addressed by a line's upstream request (URL and headers)."""

    def __init__(self, session: aiohttp.ClientSession, sample: UpstreamRequest) -> None:
        self.session, self.sample = session, sample

    async def _call(self, method: str, url: str, **kw: Any) -> bytes:
        headers = {k: v for k, v in self.sample.headers.items() if k.lower() != "content-type"}
        async with self.session.request(method, url, headers=headers, timeout=TIMEOUT, **kw) as resp:
            body = await resp.read()
            if resp.status >= 400:
                text = body[:300].decode("utf-8", "replace")
                raise UpstreamError(
                    f"batch API {method} {url} returned {resp.status}: {text}",
                    kind="transient"
                    if resp.status >= 500
                    else "credential"
                    if resp.status in (401, 403, 429)
                    else "client",
                    provider_status=resp.status,
                )
            return body

    @abstractmethod
    async def submit(self, lines: list[tuple[str, UpstreamRequest]]) -> str:
        """Create the provider's batch from ``(line id, request)`` pairs; its id."""

    @abstractmethod
    async def poll(self, batch_id: str) -> dict[str, Any] | None:
        """The batch's status object once it ended (results ready), else ``None``."""

    @abstractmethod
    async def results(self, batch_id: str, status: dict[str, Any]) -> dict[str, LineResult]:
        """Line id -> its result, for an ended batch (lines missing from it were not run)."""

    @abstractmethod
    async def cancel(self, batch_id: str) -> None:
        """Ask the provider to stop the batch (lines already done still come back)."""


class OpenAIBatch(BatchAPI):
    """``/v1/files`` + ``/v1/batches`` next to the chat (or embeddings) URL."""

    def _base(self) -> str:
        url = self.sample.url
        for tail in ("/chat/completions", "/embeddings", "/responses", "/completions"):
            if url.endswith(tail):
                return url[: -len(tail)]
        return url.rsplit("/", 1)[0]

    def endpoint(self) -> str:
        """The batch's ``endpoint`` (``/v1/chat/completions``...): the URL after the base."""
        return "/v1" + self.sample.url[len(self._base()) :]

    async def submit(self, lines: list[tuple[str, UpstreamRequest]]) -> str:
        endpoint = self.endpoint()
        rows = [
            orjson.dumps({"custom_id": lid, "method": "POST", "url": endpoint, "body": orjson.loads(up.body)})
            for lid, up in lines
        ]
        form = aiohttp.FormData()
        form.add_field("purpose", "batch")
        form.add_field("file", b"\n".join(rows) + b"\n", filename="faregate-batch.jsonl")
        file = orjson.loads(await self._call("POST", f"{self._base()}/files", data=form))
        body = {"input_file_id": file["id"], "endpoint": endpoint, "completion_window": "24h"}
        created = orjson.loads(await self._call("POST", f"{self._base()}/batches", json=body))
        return str(created["id"])

    async def poll(self, batch_id: str) -> dict[str, Any] | None:
        status = orjson.loads(await self._call("GET", f"{self._base()}/batches/{batch_id}"))
        return status if status.get("status") in ("completed", "failed", "expired", "cancelled") else None

    async def results(self, batch_id: str, status: dict[str, Any]) -> dict[str, LineResult]:
        out: dict[str, LineResult] = {}
        for key in ("output_file_id", "error_file_id"):
            if not status.get(key):
                continue
            content = await self._call("GET", f"{self._base()}/files/{status[key]}/content")
            for raw in content.splitlines():
                if raw.strip():
                    out.update([_openai_line(orjson.loads(raw))])
        return out

    async def cancel(self, batch_id: str) -> None:
        await self._call("POST", f"{self._base()}/batches/{batch_id}/cancel")


def _openai_line(row: dict[str, Any]) -> tuple[str, LineResult]:
    resp = row.get("response")
    if isinstance(resp, dict):
        return row["custom_id"], LineResult(int(resp.get("status_code") or 500), orjson.dumps(resp.get("body") or {}))
    code = str((row.get("error") or {}).get("code") or "")
    return row["custom_id"], LineResult(0, b"", "expired" if "expired" in code else "cancelled")


class AnthropicBatch(BatchAPI):
    """``/v1/messages/batches`` next to the Messages URL."""

    def _base(self) -> str:
        return self.sample.url + "/batches"

    async def submit(self, lines: list[tuple[str, UpstreamRequest]]) -> str:
        reqs = [{"custom_id": lid, "params": orjson.loads(up.body)} for lid, up in lines]
        created = orjson.loads(await self._call("POST", self._base(), json={"requests": reqs}))
        return str(created["id"])

    async def poll(self, batch_id: str) -> dict[str, Any] | None:
        status = orjson.loads(await self._call("GET", f"{self._base()}/{batch_id}"))
        return status if status.get("processing_status") == "ended" else None

    async def results(self, batch_id: str, status: dict[str, Any]) -> dict[str, LineResult]:
        url = status.get("results_url") or f"{self._base()}/{batch_id}/results"
        out: dict[str, LineResult] = {}
        for raw in (await self._call("GET", url)).splitlines():
            if not raw.strip():
                continue
            row = orjson.loads(raw)
            result = row.get("result") or {}
            kind = result.get("type")
            if kind == "succeeded":
                out[row["custom_id"]] = LineResult(200, orjson.dumps(result.get("message") or {}))
            elif kind == "errored":
                err = result.get("error") or {}
                inner: dict[str, Any] = err["error"] if isinstance(err.get("error"), dict) else err
                status_code = _ANTHROPIC_STATUS.get(str(inner.get("type")), 500)
                out[row["custom_id"]] = LineResult(status_code, orjson.dumps(err))
            else:
                out[row["custom_id"]] = LineResult(0, b"", "expired" if kind == "expired" else "cancelled")
        return out

    async def cancel(self, batch_id: str) -> None:
        await self._call("POST", f"{self._base()}/{batch_id}/cancel")


# google.rpc.Code of a Gemini line's error -> the HTTP status the same call would have had.
_RPC_STATUS = {3: 400, 5: 404, 7: 403, 8: 429, 9: 400, 11: 400, 13: 500, 14: 503, 4: 504, 16: 401}
_GEMINI_ENDED = {
    "BATCH_STATE_SUCCEEDED": "completed",
    "BATCH_STATE_FAILED": "failed",
    "BATCH_STATE_CANCELLED": "cancelled",
    "BATCH_STATE_EXPIRED": "expired",
}


class GeminiBatch(BatchAPI):
    """Gemini batch mode (Developer API): ``models/{model}:batchGenerateContent`` with inlined
    requests, ``batches/{id}`` polled, ``batches/{id}:cancel``; the shapes the official
    ``google-genai`` SDK sends and reads. A line's id travels as its ``metadata.key``."""

    def _model_url(self) -> str:
        return self.sample.url.split("?", 1)[0].rsplit(":", 1)[0]

    def _base(self) -> str:
        return self._model_url().rsplit("/models/", 1)[0]

    async def submit(self, lines: list[tuple[str, UpstreamRequest]]) -> str:
        reqs = [{"request": orjson.loads(up.body), "metadata": {"key": lid}} for lid, up in lines]
        body = {"batch": {"displayName": "faregate", "inputConfig": {"requests": {"requests": reqs}}}}
        created = orjson.loads(await self._call("POST", f"{self._model_url()}:batchGenerateContent", json=body))
        return str(created["name"])  # "batches/<id>"

    async def poll(self, batch_id: str) -> dict[str, Any] | None:
        obj = orjson.loads(await self._call("GET", f"{self._base()}/{batch_id}"))
        meta = obj.get("metadata") or {}
        ended = _GEMINI_ENDED.get(str(meta.get("state")))
        if ended is None:
            return None
        message = str((obj.get("error") or {}).get("message") or "the batch failed")
        return {**obj, "status": ended, "errors": {"data": [{"message": message}]}}

    async def results(self, batch_id: str, status: dict[str, Any]) -> dict[str, LineResult]:
        output = (status.get("metadata") or {}).get("output") or status.get("response") or {}
        out: dict[str, LineResult] = {}
        for row in (output.get("inlinedResponses") or {}).get("inlinedResponses") or []:
            key = str((row.get("metadata") or {}).get("key", ""))
            if isinstance(row.get("error"), dict):
                code = row["error"].get("code")
                out[key] = LineResult(_RPC_STATUS.get(code, 500), orjson.dumps({"error": row["error"]}))
            else:
                out[key] = LineResult(200, orjson.dumps(row.get("response") or {}))
        return out

    async def cancel(self, batch_id: str) -> None:
        await self._call("POST", f"{self._base()}/{batch_id}:cancel")


APIS: dict[str, type[BatchAPI]] = {"openai": OpenAIBatch, "anthropic": AnthropicBatch, "gemini": GeminiBatch}


def backoff_s(polls: int, first: float = 1.0, cap: float = 30.0) -> float:
    """Seconds before poll number ``polls`` (0-based): ``first``, doubling, at most ``cap``."""
    return min(cap, first * (2 ** min(polls, 16)))
