"""One documented error tree, mapped once to OpenAI's error envelope at the boundary.

Every failure a client can see is a ``GatewayError``: it knows its HTTP status, OpenAI
``type`` and ``code``, and the ``param`` at fault. Upstream failures also carry a
``kind`` that the retry logic classifies on (see ``UpstreamError``).
"""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    """Base of every error faregate returns to a client."""

    status: int = 500
    type: str = "server_error"
    code: str | None = None

    def __init__(
        self, message: str, *, param: str | None = None, code: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.headers: dict[str, str] = dict(headers or {})

    def envelope(self) -> dict[str, Any]:
        """The OpenAI error body: ``{"error": {"message", "type", "param", "code"}}``."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"


class AuthenticationFailed(GatewayError):
    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"


class PermissionDenied(GatewayError):
    status = 403
    type = "permission_error"
    code = "permission_denied"


class ModelNotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "model_not_found"


class NotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class PayloadTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class RateLimited(GatewayError):
    """A faregate limit or budget refused the request (429 with Retry-After)."""

    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after_s: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after_s = retry_after_s
        if retry_after_s is not None:
            self.headers.setdefault("retry-after", str(max(1, int(retry_after_s + 0.999))))


class InternalError(GatewayError):
    """A fault inside faregate (an exception no step expected): 500 in the front's envelope, the
    traceback in the server's log, never in the answer."""

    status = 500
    type = "server_error"
    code = "internal_error"

    @classmethod
    def for_request(cls, request_id: str | None) -> InternalError:
        rid = f" (request id {request_id})" if request_id else ""
        return cls(f"faregate failed unexpectedly while handling this request{rid}; the error is logged. Retry later.")


class UpstreamError(GatewayError):
    """A provider failed. ``kind`` drives the retry policy:

    - ``transient``: 5xx, 529, connection refused/reset, malformed reply; retry with backoff.
    - ``timeout``: connect, first byte, idle gap or total deadline passed; retry.
    - ``credential``: 401/403/429 from the provider; cool the deployment down, move on.
    - ``client``: the provider rejected the request as invalid (400); never retried.
    - ``context_length``: prompt too long; fail over to a larger-context model.
    """

    status = 502
    type = "upstream_error"
    code = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        kind: str = "transient",
        provider_status: int | None = None,
        retry_after_s: float | None = None,
        deployment: str | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.kind = kind
        self.provider_status = provider_status
        self.retry_after_s = retry_after_s
        self.deployment = deployment
        if kind == "client":
            self.status, self.type, self.code = 400, "invalid_request_error", "upstream_rejected"
        elif kind == "context_length":
            self.status, self.type, self.code = 400, "invalid_request_error", "context_length_exceeded"
        elif kind == "timeout":
            self.status, self.code = 504, "upstream_timeout"
        elif kind == "credential" and provider_status == 429:
            self.status, self.type, self.code = 429, "rate_limit_error", "upstream_rate_limited"
        elif kind == "unavailable":
            self.status, self.code = 503, "upstream_unavailable"


def upstream_kind_for_status(status: int, message: str = "") -> str:
    """Classify a provider's HTTP status (and message) into an ``UpstreamError.kind``."""
    low = message.lower()
    if status in (400, 413, 422):
        if (
            "context" in low
            and ("length" in low or "window" in low)
            or "too many tokens" in low
            or "prompt is too long" in low
            or "maximum context" in low
        ):
            return "context_length"
        return "client"
    if status in (401, 403, 429):
        return "credential"
    if status == 404:
        return "client"
    if status in (408, 504):
        return "timeout"
    return "transient"
