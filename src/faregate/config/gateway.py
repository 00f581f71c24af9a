"""``GatewayConfig``: the whole configuration, validated once at start."""

from __future__ import annotations

from pydantic import Field, model_validator

from .base import _Frozen
from .batch_tier import BatchTierConfig
from .bounds import BoundsConfig
from .cache import CacheConfig
from .catalogue import RuntimeConfigSection
from .dashboard import DashboardConfig
from .experiments import ExperimentConfig
from .guardrails import GuardrailSpec, TeamConfig
from .limits import KeyConfig, LimitsConfig
from .models import BatchMode, ModelConfig, RouteConfig
from .observability import AccessLogConfig, AlertsConfig, MetricsConfig, TracingConfig
from .sections import (
    HttpPoolConfig,
    LearningConfig,
    LogWriterConfig,
    ProberConfig,
    RetryConfig,
    RoutingEstimatesConfig,
    ServerConfig,
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
    default_confidence: float = Field(
        0.9, gt=0, le=1, description="Required probability that an answer meets its floor (the chance constraint)."
    )
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
    catalogue_file: str | None = Field(
        None, description="A model catalogue (JSON) used instead of the one shipped with faregate."
    )
    runtime_config: RuntimeConfigSection = Field(
        default_factory=RuntimeConfigSection, description="Models and providers added through the admin API."
    )
    secret_key: str | None = Field(
        None, description="Encrypts stored provider credentials (set FAREGATE_SECRET_KEY rather than the file)."
    )
    bounds: BoundsConfig = Field(default_factory=BoundsConfig, description="Caps on one request's structure.")
    metrics: MetricsConfig = Field(default_factory=MetricsConfig, description="Prometheus metrics.")
    tracing: TracingConfig = Field(default_factory=TracingConfig, description="OpenTelemetry traces.")
    access_log: AccessLogConfig = Field(default_factory=AccessLogConfig, description="A line per request.")
    alerts: AlertsConfig = Field(default_factory=AlertsConfig, description="Alert rules and channels.")
    cache: CacheConfig = Field(default_factory=CacheConfig, description="The response cache.")
    batch_tier: BatchTierConfig = Field(
        default_factory=BatchTierConfig, description="Requests with a deadline planned onto the batch tier."
    )
    dashboard: DashboardConfig = Field(default_factory=DashboardConfig, description="The web dashboard at /dashboard.")
    experiments: list[ExperimentConfig] = Field(
        default_factory=list, description="Policy experiments: arms of routing policies sharing a route's traffic."
    )
    guardrails: list[GuardrailSpec] = Field(
        default_factory=list,
        description="Named guardrails; keys, teams, routes and models switch them on with `guardrails: [NAME]`.",
    )
    teams: dict[str, TeamConfig] = Field(default_factory=dict, description="Settings per team name (guardrails).")
    batch: BatchMode = Field(
        "auto",
        description="How `/v1/batches` runs its lines, unless a model says otherwise: `auto` (a model on "
        "OpenAI's or Anthropic's public endpoint through that provider's batch API, at its batch discount; "
        "anything else by faregate itself), `provider` (the batch API wherever the provider has one), `self`.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> GatewayConfig:
        names = [m.name for m in self.models]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"models: duplicate model name(s) {sorted(dup)}")
        known = set(names)
        mode = {m.name: m.mode for m in self.models}
        for i, m in enumerate(self.models):
            for f in m.fallbacks + ([m.context_fallback] if m.context_fallback else []):
                if f not in known:
                    raise ValueError(f"models.{i}.fallbacks: unknown model {f!r}; known: {sorted(known)}")
                if mode[f] != m.mode:
                    raise ValueError(
                        f"models.{i}.fallbacks: {f!r} is a model of mode {mode[f]}, {m.name!r} of mode {m.mode}: "
                        "a fallback must serve the same kind of request"
                    )
        for i, r in enumerate(self.routes):
            if r.name in known:
                raise ValueError(f"routes.{i}.name: {r.name!r} is also a model name")
            for c in r.candidates:
                if c not in known:
                    raise ValueError(f"routes.{i}.candidates: unknown model {c!r}; known: {sorted(known)}")
                if mode[c] != "chat":
                    raise ValueError(
                        f"routes.{i}.candidates: {c!r} is an embedding model; routes choose among chat models"
                    )
            if r.control_model and r.control_model not in known:
                raise ValueError(f"routes.{i}.control_model: unknown model {r.control_model!r}")
            if r.control_model and mode[r.control_model] != "chat":
                raise ValueError(f"routes.{i}.control_model: {r.control_model!r} is an embedding model")
        self._check_experiments(known)
        self._check_guardrails()
        return self

    def _check_experiments(self, known: set[str]) -> None:
        routes = {r.name for r in self.routes} | {"auto"}
        seen: set[str] = set()
        for i, e in enumerate(self.experiments):
            if e.name in seen:
                raise ValueError(f"experiments.{i}.name: duplicate experiment {e.name!r}")
            seen.add(e.name)
            for a in e.arms:
                if a.model is not None and a.model not in known:
                    raise ValueError(f"experiments.{i}: arm {a.name!r} names unknown model {a.model!r}")
                if a.route is not None and a.route not in routes:
                    raise ValueError(f"experiments.{i}: arm {a.name!r} names unknown route {a.route!r}")

    def _check_guardrails(self) -> None:
        names = [g.name for g in self.guardrails]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"guardrails: duplicate name(s) {sorted(dup)}")
        users: list[tuple[str, list[str]]] = [(f"keys.{i}", k.guardrails or []) for i, k in enumerate(self.keys)]
        users += [(f"teams.{t}", c.guardrails) for t, c in self.teams.items()]
        users += [(f"routes.{i}", r.guardrails) for i, r in enumerate(self.routes)]
        users += [(f"models.{i}", m.guardrails) for i, m in enumerate(self.models)]
        for where, listed in users:
            for g in listed:
                if g not in names:
                    raise ValueError(f"{where}.guardrails: unknown guardrail {g!r}; known: {sorted(names)}")

    def model(self, name: str) -> ModelConfig | None:
        for m in self.models:
            if m.name == name:
                return m
        return None
