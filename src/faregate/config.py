"""Typed, frozen configuration: one YAML file plus ``FAREGATE_*`` environment variables.

Loaded and validated once at start; errors name the key path and what is wrong. Credentials
are references (``${ANTHROPIC_API_KEY}``) resolved from the environment here, so no secret
needs to sit in the file, and nothing a client sends can supply one.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .core.usage import Prices

PROVIDERS = ("openai", "anthropic", "gemini")
_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


Capability = Literal["tools", "json", "vision", "streaming"]
CAPABILITIES: tuple[Capability, ...] = ("tools", "json", "vision", "streaming")


class ConfigError(ValueError):
    """The configuration is invalid; the message names each key path at fault."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PricesConfig(_Frozen):
    """USD per million tokens."""

    input: float = Field(0.0, ge=0, description="USD per million input tokens.")
    output: float = Field(0.0, ge=0, description="USD per million output tokens.")
    cached_input: float | None = Field(None, ge=0, description="Cached input tokens; null: priced as input.")

    def prices(self) -> Prices:
        return Prices(self.input, self.output, self.cached_input)


class TimeoutsConfig(_Frozen):
    """Seconds. ``ttfb``: until the first byte of the answer; ``idle``: longest gap between chunks."""

    connect: float = Field(5.0, gt=0, description="Opening the TCP/TLS connection.")
    ttfb: float = Field(60.0, gt=0, description="Until the first content event (or the answer's start).")
    idle: float = Field(30.0, gt=0, description="The longest gap between two chunks (a stall).")
    total: float = Field(600.0, gt=0, description="The whole request, every attempt and fallback.")


class BreakerConfig(_Frozen):
    """Circuit breaker of each deployment of a model (see ``endpoints/breaker.py``).

    CLOSED -> OPEN after ``failure_threshold`` consecutive failures, or when at least
    ``min_requests`` calls in the last ``window_s`` seconds failed at ``error_rate`` or more.
    OPEN -> HALF_OPEN after ``cooldown_s`` (doubled on each re-open, up to ``max_cooldown_s``);
    HALF_OPEN lets ``half_open_probes`` calls through at a time and closes after
    ``success_threshold`` successes in a row (one failure re-opens it).
    ``probe_interval_s``: actively probe OPEN and HALF_OPEN deployments with a one-token
    request that often (off by default: a probe is a billed request).
    """

    enabled: bool = Field(True, description="false: no circuit breaker for this model's deployments.")
    failure_threshold: int = Field(5, ge=1, description="Consecutive failures that open the circuit.")
    error_rate: float = Field(0.5, gt=0, le=1, description="Or this share of failures in the window.")
    window_s: float = Field(60.0, gt=0, description="Seconds of calls that `error_rate` is measured over.")
    min_requests: int = Field(20, ge=1, description="Calls in the window needed before `error_rate` applies.")
    cooldown_s: float = Field(30.0, gt=0, description="Seconds open before half-open (doubles per re-open).")
    max_cooldown_s: float = Field(300.0, gt=0, description="Cap on the doubled cooldown, in seconds.")
    half_open_probes: int = Field(1, ge=1, description="Calls let through at a time while half-open.")
    success_threshold: int = Field(2, ge=1, description="Successful probes in a row that close the circuit.")
    probe_interval_s: float | None = Field(None, gt=0, description="Active probes every N s; null: off.")


class DeploymentConfig(_Frozen):
    """One place a model is served: endpoint, credentials, upstream id, weight."""

    name: str | None = Field(None, description="Label in headers and health; default `<model>#<index>`.")
    provider: Literal["openai", "anthropic", "gemini"] | None = Field(None, description="Default: the model's.")
    model: str | None = None  # upstream model id; defaults to the model's
    base_url: str | None = Field(None, description="Endpoint; default: the model's, else the provider's API.")
    api_key: str | None = Field(None, description="Credential (a `${VAR}` reference); default: the model's.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra upstream headers, added to the model's.")
    weight: float = Field(1.0, gt=0, description="Relative share of traffic under `strategy: weighted`.")
    priority: int = Field(0, description="Order under `strategy: priority` (lowest first).")
    prices: PricesConfig | None = Field(None, description="Prices of this deployment; default: the model's.")


class LatencyPrior(_Frozen):
    """Prior latency profile, refined by live statistics."""

    ttft_ms: float = Field(500.0, ge=0, description="Time to first token (ms) until measured.")
    tokens_per_s: float = Field(80.0, gt=0, description="Output speed, tokens per second.")


class ModelConfig(_Frozen):
    """A model clients can name, and how faregate reaches it."""

    name: str = Field(description="The name clients send as `model` (`auto` is reserved).")
    provider: Literal["openai", "anthropic", "gemini"] = Field("openai", description="Wire format.")
    model: str | None = None  # the provider's model id; defaults to ``name``
    base_url: str | None = Field(None, description="Endpoint; default: the provider's public API.")
    api_key: str | None = Field(None, description="Upstream credential (a `${VAR}` reference).")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra headers sent upstream.")
    prices: PricesConfig = Field(default_factory=PricesConfig, description="List prices.")
    context_window: int = Field(128_000, gt=0, description="Largest prompt, in tokens.")
    max_output_tokens: int | None = Field(None, gt=0, description="Largest answer (tokens); not enforced.")
    capabilities: list[Capability] = Field(
        default_factory=lambda: list(CAPABILITIES), description="What the model supports."
    )
    deployments: list[DeploymentConfig] = Field(default_factory=list, description="Endpoints/keys/regions of it.")
    strategy: Literal["weighted", "round_robin", "least_busy", "latency", "cost", "priority"] = Field(
        "weighted", description="How deployments are ordered per request."
    )
    fallbacks: list[str] = Field(default_factory=list, description="Models tried next, in order.")
    context_fallback: str | None = Field(None, description="Model tried first when the prompt is too long.")
    timeouts: TimeoutsConfig = Field(default_factory=TimeoutsConfig, description="Timeouts in seconds.")
    max_attempts: int = Field(3, ge=1, le=20, description="Upstream calls per model in one request.")
    # After a transient failure, with every deployment of this model failed in this request:
    # false (default) goes to the next fallback at once; true first retries this model (after
    # backoff) up to max_attempts, which may be cheaper when the fallback costs more.
    retry_before_fallback: bool = False
    breaker: BreakerConfig = Field(default_factory=BreakerConfig, description="Each deployment's circuit.")
    latency: LatencyPrior = Field(default_factory=LatencyPrior, description="Latency priors for routing.")
    # The name this model has in routing-outcomes data, when it differs (e.g. "gpt-4-1106-preview").
    router_name: str | None = None
    # Prior probability that an answer meets the floor, used when no trained router knows the model.
    quality: float = Field(0.8, ge=0, le=1)

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if not v or v == "auto":
            raise ValueError("must be a non-empty name other than 'auto' (reserved for routing)")
        return v

    @model_validator(mode="after")
    def _reachable(self) -> ModelConfig:
        if not self.deployments and not self.base_url and self.provider == "openai":
            # OpenAI itself is the default base URL for provider openai.
            pass
        return self


class RouteConfig(_Frozen):
    """A named route: clients send ``model: <route name>`` and the router picks among candidates."""

    name: str = Field(description="The name clients send as `model` to use this route.")
    candidates: list[str] = Field(default_factory=list, description="Models to choose among; empty: every model.")
    router_model: str | None = None  # path of a file from ``faregate train``
    min_quality: float | None = Field(None, ge=0, le=1, description="Quality floor unless a request sets one.")
    max_latency_ms: float | None = Field(None, gt=0, description="Latency ceiling (ms, predicted p95).")
    max_cost_usd: float | None = Field(None, gt=0, description="Cost ceiling per request (USD).")
    task: str | None = Field(None, description="The route's task; default: inferred from the prompt.")
    # Gradual rollout: share of traffic routed; the rest goes to ``control_model``.
    rollout: float = Field(1.0, ge=0, le=1)
    control_model: str | None = Field(None, description="Where the control arm of a rollout goes.")


# --- limits and budgets (issue 6: keys, limits, budgets) -----------------------------------


class LimitSet(_Frozen):
    """Limits of one key, team or model; ``None`` means no limit of that kind.

    Requests per minute/hour/day, tokens per minute, cost (USD) per hour/day, UTC calendar
    budgets per day/month (``budget_soft: true`` only alerts), concurrent requests.
    """

    rpm: int | None = Field(None, ge=0, description="Requests per minute (sliding window).")
    rph: int | None = Field(None, ge=0, description="Requests per hour (sliding window).")
    rpd: int | None = Field(None, ge=0, description="Requests per day (sliding window).")
    tpm: int | None = Field(None, ge=0, description="Tokens per minute, prompt and answer.")
    cost_usd_hour: float | None = Field(None, ge=0, description="USD per rolling hour.")
    cost_usd_day: float | None = Field(None, ge=0, description="USD per rolling 24 hours.")
    budget_usd_day: float | None = Field(None, ge=0, description="USD per UTC calendar day.")
    budget_usd_month: float | None = Field(None, ge=0, description="USD per UTC calendar month.")
    budget_soft: bool = Field(False, description="true: budgets only alert (logged, counted, a header).")
    max_concurrent: int | None = Field(None, ge=0, description="Requests in flight at once.")


class LimitsConfig(_Frozen):
    """Where counters live (``redis_url``; memory without it) and what happens when Redis is down."""

    enabled: bool = Field(True, description="Not read today: limits apply wherever they are set.")
    redis_failure_policy: Literal["open", "closed"] = Field("open", description="Redis down: open serves; closed: 503.")
    redis_timeout_ms: float = Field(100.0, gt=0, le=5000, description="Bound on every Redis call (ms).")
    default_max_tokens: int = Field(1024, ge=1)  # output estimate when a request sets no max_tokens
    concurrency_lease_s: float = Field(600.0, gt=0, description="Lease of a `max_concurrent` slot (s).")
    key_cache_ttl_s: float = Field(5.0, ge=0, description="Seconds each replica caches key lookups.")
    keys: LimitSet = Field(default_factory=LimitSet)  # every key without limits of its own
    teams: dict[str, LimitSet] = Field(default_factory=dict, description="Limits per team name.")
    models: dict[str, LimitSet] = Field(default_factory=dict)  # per model / deployment name


# --- end of the limits block -----------------------------------------------------------------


class KeyConfig(_Frozen):
    """A gateway key given in config (the key system in the database adds more)."""

    key: str = Field(description="The key itself (a `${VAR}` reference).")
    name: str = Field("config", description="A label for people, in logs and analytics.")
    team: str | None = Field(None, description="Team the key belongs to (its limits and models apply too).")
    models: list[str] | None = Field(None, description="Allow-list of models; null: every model.")
    limits: LimitSet | None = Field(None, description="This key's own limits and budgets.")


class ServerConfig(_Frozen):
    """The HTTP server of `faregate serve`."""

    host: str = Field("127.0.0.1", description="Bind address (`FAREGATE_HOST`, `--host`).")
    port: int = Field(8080, ge=0, le=65535, description="Port (`FAREGATE_PORT`, `--port`).")
    max_body_bytes: int = Field(8 * 1024 * 1024, gt=0, description="Largest request body; 413 above.")
    log_bodies: bool = Field(False, description="Log prompt and answer text (secrets redacted).")


class LearningConfig(_Frozen):
    """Online learning from feedback and implicit signals."""

    enabled: bool = Field(True, description="Learn from feedback and implicit signals.")
    explore_rate: float = Field(0.05, ge=0, le=1)  # share of routed requests that may explore
    retry_window_s: float = Field(300.0, gt=0)  # a near-duplicate prompt within it is a retry


class RoutingEstimatesConfig(_Frozen):
    """The planner's token and latency estimates (``routing/estimate.py``)."""

    output_tokens_by_task: dict[str, int] = Field(
        default_factory=lambda: {
            "classify": 16,
            "extract_json": 150,
            "summarize": 200,
            "chat": 250,
            "generate": 500,
            "code": 400,
            "multiple_choice": 8,
        },
        description="Typical answer length in tokens per task, for cost and latency when max_tokens is not given.",
    )
    default_output_tokens: int = Field(
        256, gt=0, description="Answer length in tokens for a task missing from output_tokens_by_task."
    )
    p95_factor: float = Field(
        1.5, gt=0, description="p95 time to first token over its moving mean (or over the configured prior)."
    )


class RetryConfig(_Frozen):
    """How long the attempt loop waits (see ``pipeline/retry_policy.py``).

    Gateway-wide rather than per model: these numbers pace calls to a provider endpoint, and
    the cooldown is state of a deployment that every request shares, so one setting keeps the
    pacing the same whichever model a request names. How many calls a model gets
    (``max_attempts``) and whether it retries before its fallbacks (``retry_before_fallback``)
    are choices about that model's cost and quality, so they stay in ``ModelConfig``.
    """

    backoff_start_s: float = Field(
        0.1, gt=0, description="Bound of the first full-jitter backoff (uniform in 0..bound); doubles per retry."
    )
    backoff_cap_s: float = Field(10.0, gt=0, description="Largest backoff bound, however many retries.")
    cooldown_start_s: float = Field(
        1.0, gt=0, description="First cooldown of a deployment after a credential error without Retry-After."
    )
    cooldown_cap_s: float = Field(
        300.0, gt=0, description="Longest such cooldown; it doubles on each repeated credential error."
    )


class ProberConfig(_Frozen):
    """How often the active health prober wakes (the probe interval itself is ``breaker.probe_interval_s``)."""

    tick_share: float = Field(
        0.5, gt=0, le=1, description="The prober wakes every this share of the shortest probe_interval_s."
    )
    min_tick_s: float = Field(0.05, gt=0, description="The prober never wakes more often than this (seconds).")


class HttpPoolConfig(_Frozen):
    """The shared upstream HTTP connection pool (see ``endpoints/http.py``)."""

    limit: int = Field(1000, ge=0, description="Most open connections in all (0: no limit).")
    limit_per_host: int = Field(0, ge=0, description="Most open connections to one host (0: no limit).")
    keepalive_s: float = Field(30.0, gt=0, description="How long an idle connection is kept for reuse (seconds).")
    dns_cache_s: int = Field(300, ge=0, description="How long a resolved address is cached (seconds).")


class LogWriterConfig(_Frozen):
    """The request-log writer's pacing: batches, queue bound, retries and bulk-write slicing."""

    batch_size: int = Field(500, ge=1, description="Records written per database transaction.")
    flush_interval_s: float = Field(
        0.25, gt=0, description="Seconds between writes when fewer than batch_size records are queued."
    )
    max_queue: int = Field(
        50_000, ge=1, description="Records held in memory; past it the oldest tenth goes to the spill file."
    )
    retry_interval_s: float = Field(1.0, gt=0, description="Seconds to wait after a failed write before retrying.")
    recent_ids: int = Field(
        100_000, ge=1, description="Recent request ids remembered, so feedback on a queued request is accepted."
    )
    lookup_chunk: int = Field(
        500, ge=1, description="Ids per query when checking which records of a retried batch are stored already."
    )
    prepare_slice: int = Field(
        128, ge=1, description="Records turned into rows per event-loop slice before the loop is served again."
    )
    loop_slice_rows: int = Field(32, ge=1, description="SQLite: rows inserted per event-loop slice of a bulk write.")
    checkpoint_every_batches: int = Field(
        8, ge=1, description="SQLite: a passive WAL checkpoint after this many bulk writes."
    )
    busy_give_up_s: float = Field(
        10.0, gt=0, description="SQLite: seconds a bulk write waits for another connection's write lock."
    )
    close_timeout_s: float = Field(
        20.0, gt=0, description="Seconds the shutdown flush may take before the rest goes to the spill file."
    )


class GatewayConfig(_Frozen):
    """The whole configuration, validated once at start."""

    server: ServerConfig = Field(default_factory=ServerConfig, description="The HTTP server.")
    models: list[ModelConfig] = Field(default_factory=list, description="Models clients can name.")
    routes: list[RouteConfig] = Field(default_factory=list, description="Named routes among candidates.")
    keys: list[KeyConfig] = Field(default_factory=list, description="Gateway keys from the config.")
    task_quality_defaults: dict[str, float] = Field(
        default_factory=lambda: {
            "classify": 0.9,
            "summarize": 0.75,
            "chat": 0.85,
            "generate": 0.8,
            "extract_json": 0.95,
        },
        description="Quality floor per task when neither a request nor its route sets one.",
    )
    default_min_quality: float = Field(0.8, ge=0, le=1, description="Floor when nothing else sets one.")
    # The trained router (from `faregate train`) for `model: "auto"`; routes may name their own.
    router_model: str | None = None
    cascades: bool = True  # allow cascade plans (cheap model, judge, escalate)
    # From `faregate calibrate --from-log`: measured latency and per-task quality per model.
    calibration_file: str | None = None
    learning: LearningConfig = Field(default_factory=lambda: LearningConfig(), description="Online learning.")
    database_url: str = Field("sqlite:///faregate.db", description="Request log and keys; empty: no log.")
    redis_url: str | None = Field(None, description="Redis for limits shared across replicas.")
    master_key: str | None = Field(None, description="Key of the admin API and master-key routes.")
    limits: LimitsConfig = Field(default_factory=LimitsConfig, description="Keys, limits and budgets.")
    routing_estimates: RoutingEstimatesConfig = Field(
        default_factory=RoutingEstimatesConfig, description="Token and latency estimates of the router."
    )
    retry: RetryConfig = Field(default_factory=RetryConfig)
    probes: ProberConfig = Field(default_factory=ProberConfig)
    http_pool: HttpPoolConfig = Field(default_factory=HttpPoolConfig)
    log_writer: LogWriterConfig = Field(default_factory=LogWriterConfig)

    @model_validator(mode="after")
    def _consistent(self) -> GatewayConfig:
        names = [m.name for m in self.models]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"models: duplicate model name(s) {sorted(dup)}")
        known = set(names)
        for i, m in enumerate(self.models):
            for f in m.fallbacks + ([m.context_fallback] if m.context_fallback else []):
                if f not in known:
                    raise ValueError(f"models.{i}.fallbacks: unknown model {f!r}; known: {sorted(known)}")
        for i, r in enumerate(self.routes):
            if r.name in known:
                raise ValueError(f"routes.{i}.name: {r.name!r} is also a model name")
            for c in r.candidates:
                if c not in known:
                    raise ValueError(f"routes.{i}.candidates: unknown model {c!r}; known: {sorted(known)}")
            if r.control_model and r.control_model not in known:
                raise ValueError(f"routes.{i}.control_model: unknown model {r.control_model!r}")
        return self

    def model(self, name: str) -> ModelConfig | None:
        for m in self.models:
            if m.name == name:
                return m
        return None


def _expand(value: Any, env: dict[str, str], path: str) -> Any:
    """Resolve ``${VAR}`` and ``${VAR:-default}`` references anywhere in the loaded YAML."""
    if isinstance(value, str):

        def sub(m: re.Match) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(f"{path}: environment variable {name} is not set")

        return _REF.sub(sub, value)
    if isinstance(value, list):
        return [_expand(v, env, f"{path}.{i}") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _expand(v, env, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    return value


def _format_errors(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"{loc}: {e['msg']}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def load_config(
    path: str | os.PathLike | None = None, env: dict[str, str] | None = None, overrides: dict[str, Any] | None = None
) -> GatewayConfig:
    """Load, expand and validate the config; raise ``ConfigError`` naming each bad key path.

    With no file, the config is empty (no models) but valid: the server still starts.
    ``FAREGATE_DATABASE_URL``, ``FAREGATE_REDIS_URL`` and ``FAREGATE_MASTER_KEY`` override the file.
    """
    env = dict(os.environ if env is None else env)
    raw: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {str(p)!r} does not exist")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {str(p)!r} is not valid YAML: {exc}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {str(p)!r}: the top level must be a mapping")
        raw = _expand(loaded, env, "")
    for key, var in (
        ("database_url", "FAREGATE_DATABASE_URL"),
        ("redis_url", "FAREGATE_REDIS_URL"),
        ("master_key", "FAREGATE_MASTER_KEY"),
        ("router_model", "FAREGATE_ROUTER_MODEL"),
    ):
        if env.get(var):
            raw[key] = env[var]
    if overrides:
        raw.update(overrides)
    try:
        return GatewayConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc)) from None
