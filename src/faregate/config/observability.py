"""Observability sections: Prometheus metrics, OpenTelemetry traces, the access log, alerts."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import _Frozen

AlertKind = Literal[
    "spend",
    "budget",
    "error_rate",
    "fallback_rate",
    "constraint_unmet_rate",
    "latency_p95",
    "breaker_open",
    "log_spill",
]
ChannelType = Literal["webhook", "slack", "email"]


class MetricsConfig(_Frozen):
    """``GET /metrics`` in the Prometheus text format."""

    enabled: bool = Field(True, description="Serve `GET /metrics` and count requests.")
    port: int | None = Field(
        None, ge=0, le=65535, description="Serve metrics on this separate port instead of the main one; 0: any free."
    )
    require_master_key: bool = Field(False, description="Require `Authorization: Bearer <master key>` to scrape.")


class TracingConfig(_Frozen):
    """OpenTelemetry traces over OTLP/HTTP, following the GenAI semantic conventions."""

    enabled: bool = Field(
        False, description="Export one trace per request (off by default: ~13% of a request's CPU at sample_ratio 1)."
    )
    otlp_endpoint: str = Field(
        "http://127.0.0.1:4318/v1/traces", description="The OTLP/HTTP traces endpoint (protobuf)."
    )
    sample_ratio: float = Field(1.0, ge=0, le=1, description="Share of new traces sampled (parent decisions win).")
    service_name: str = Field("faregate", description="The `service.name` resource attribute.")
    capture_content: bool = Field(
        False, description="Add the prompt and the answer (redacted) to the request span as events."
    )
    export_timeout_s: float = Field(5.0, gt=0, description="Timeout of one export request.")


class AccessLogConfig(_Frozen):
    """One line per finished request on stdout."""

    enabled: bool = Field(
        True, description="Write a line per request at info level (`faregate serve --log-format text|json`)."
    )


class ChannelConfig(_Frozen):
    """Where alerts go."""

    id: str = Field(..., min_length=1, max_length=100, description="The channel's name, referenced by rules.")
    type: ChannelType = Field(..., description="`webhook` (signed JSON), `slack` (incoming webhook) or `email`.")
    url: str | None = Field(None, description="Webhook or Slack incoming-webhook URL.")
    secret: str | None = Field(None, description="Webhook HMAC-SHA256 secret for `X-Faregate-Signature`.")
    smtp_host: str | None = Field(None, description="SMTP server host (email).")
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP server port (email).")
    starttls: bool = Field(True, description="Upgrade the SMTP connection with STARTTLS (email).")
    username: str | None = Field(None, description="SMTP user (email); none: no authentication.")
    password: str | None = Field(None, description="SMTP password (email).")
    sender: str | None = Field(None, description="From address (email).")
    to: list[str] = Field(default_factory=list, description="Recipients (email).")

    @model_validator(mode="after")
    def _complete(self) -> ChannelConfig:
        if self.type in ("webhook", "slack") and not self.url:
            raise ValueError(f"channel {self.id!r}: a {self.type} channel needs url")
        if self.type == "email" and not (self.smtp_host and self.sender and self.to):
            raise ValueError(f"channel {self.id!r}: an email channel needs smtp_host, sender and to")
        return self


class RuleConfig(_Frozen):
    """One alert condition, checked every evaluation interval."""

    id: str = Field(..., min_length=1, max_length=100, description="The rule's name.")
    kind: AlertKind = Field(..., description="What is checked.")
    threshold: float = Field(0.0, ge=0, description="USD (spend), percent (budget), rate 0-1, or ms (latency_p95).")
    period: Literal["day", "week", "month"] = Field("day", description="Spend period (calendar, UTC).")
    scope: Literal["all", "key", "team", "model", "route"] = Field(
        "all", description="What the rule looks at (team: spend and budget rules only)."
    )
    value: str | None = Field(None, description="The key id, team, model or route when scope is not `all`.")
    window_s: float = Field(
        3600.0, gt=0, le=31 * 86400, description="Window of the rate and latency rules (at most 31 days)."
    )
    min_requests: int = Field(10, ge=0, le=10**9, description="Rates need at least this many requests in the window.")
    channels: list[str] = Field(default_factory=list, description="Channel ids; empty: every channel.")

    @model_validator(mode="after")
    def _scoped(self) -> RuleConfig:
        if self.scope != "all" and not self.value:
            raise ValueError(f"rule {self.id!r}: scope {self.scope!r} needs value")
        if self.scope == "team" and self.kind not in ("spend", "budget"):
            # The rollups behind the rate and latency rules have no team dimension.
            raise ValueError(f"rule {self.id!r}: scope 'team' applies to spend and budget rules only")
        return self


class AlertsConfig(_Frozen):
    """Alert rules and channels, evaluated in the background from the request log."""

    enabled: bool = Field(True, description="Evaluate the rules in the background (needs the request log).")
    interval_s: float = Field(60.0, gt=0, description="Seconds between evaluations.")
    channels: list[ChannelConfig] = Field(default_factory=list, description="Where alerts are sent.")
    rules: list[RuleConfig] = Field(default_factory=list, description="What is alerted on.")
    daily_summary: bool = Field(False, description="Send a daily summary (spend, savings, requests, top models).")
    retries: int = Field(3, ge=0, le=10, description="Retries of a failed send (exponential backoff).")
    retry_backoff_s: float = Field(0.5, ge=0, description="First retry delay; doubled each retry.")
    send_timeout_s: float = Field(10.0, gt=0, description="Timeout of one send.")
