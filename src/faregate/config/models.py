"""The ``models:`` and ``routes:`` sections: what clients can name and how faregate reaches it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, WithJsonSchema, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ..adapters.registry import PROVIDERS
from ..core.durations import parse_duration
from ..core.usage import Prices
from .base import CAPABILITIES, Capability, _Frozen
from .cache import RouteCacheConfig
from .failover import FailoverConfig, UpstreamCapsConfig


def _known_provider(name: str) -> str:
    if name not in PROVIDERS:
        names = [repr(n) for n in PROVIDERS]
        expected = ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]
        raise PydanticCustomError("literal_error", "Input should be {expected}", {"expected": expected})
    return name


# A provider named in adapters/registry.py (the one place a provider is added).
ProviderName = Annotated[str, AfterValidator(_known_provider), WithJsonSchema({"enum": list(PROVIDERS)})]


class PricesConfig(_Frozen):
    """USD per million tokens."""

    input: float = Field(0.0, ge=0, description="USD per million input tokens.")
    output: float = Field(0.0, ge=0, description="USD per million output tokens.")
    cached_input: float | None = Field(None, ge=0, description="Cached input tokens; null: priced as input.")
    cache_write: float | None = Field(
        None, ge=0, description="Input tokens written to the provider's prompt cache; null: priced as input."
    )

    def prices(self) -> Prices:
        return Prices(self.input, self.output, self.cached_input, self.cache_write)


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
    cooldown_s: float = Field(2.0, gt=0, description="Seconds open before half-open (doubles per re-open).")
    max_cooldown_s: float = Field(
        10.0, gt=0, description="Cap on the doubled cooldown (seconds): a recovered deployment is back within it."
    )
    half_open_probes: int = Field(1, ge=1, description="Calls let through at a time while half-open.")
    success_threshold: int = Field(2, ge=1, description="Successful probes in a row that close the circuit.")
    probe_interval_s: float | None = Field(None, gt=0, description="Active probes every N s; null: off.")


class DeploymentConfig(_Frozen):
    """One place a model is served: endpoint, credentials, upstream id, weight."""

    name: str | None = Field(None, description="Label in headers and health; default `<model>#<index>`.")
    provider: ProviderName | None = Field(None, description="Default: the model's.")
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


class AzureConfig(_Frozen):
    """How a ``provider: azure`` model reaches its Azure OpenAI resource: ``base_url`` is the
    resource endpoint (``https://<resource>.openai.azure.com``), ``model`` the deployment name."""

    api_version: str = Field("2024-10-21", min_length=1, description="The `api-version` query parameter of every call.")
    auth: Literal["api-key", "bearer"] = Field(
        "api-key",
        description="How `api_key` is sent: the `api-key` header, or `Authorization: Bearer` (a Microsoft Entra ID token).",
    )


BatchMode = Literal["auto", "provider", "self"]


class ModelConfig(_Frozen):
    """A model clients can name, and how faregate reaches it."""

    name: str = Field(description="The name clients send as `model` (`auto` is reserved).", min_length=1)
    provider: ProviderName = Field("openai", description="Wire format: a name in adapters/registry.py.")
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
    guardrails: list[str] = Field(default_factory=list, description="Guardrails run on requests naming this model.")
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
    quality_priors: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=dict,
        description="Prior quality per task family (`chat`, `code`, ..., `default`), used when no trained router "
        "knows the model; filled from the catalogue unless the config sets `quality` or this.",
    )
    credentials: str | None = Field(
        None, description="Named provider credentials (`/admin/providers`): base_url, api_key and headers."
    )
    failover: FailoverConfig = Field(
        default_factory=FailoverConfig, description="Short waits, quick retries, hedging, tolerant streams."
    )
    stream_resume: bool = Field(
        False, description="Resume a stream cut after content reached the client on the next candidate (prefill)."
    )
    upstream_caps: UpstreamCapsConfig = Field(
        default_factory=UpstreamCapsConfig, description="How much of an upstream's answer is read."
    )
    mode: Literal["chat", "embedding"] = Field(
        "chat",
        description="`chat` (chat, messages, completions, routing) or `embedding` (only `/v1/embeddings`; "
        "never a routing candidate or fallback of a chat model).",
    )
    azure: AzureConfig = Field(default_factory=AzureConfig, description="Azure OpenAI settings (`provider: azure`).")
    responses_api: bool | None = Field(
        None,
        description="The upstream serves OpenAI's Responses API (`/v1/responses`): `/v1/responses` is passed "
        "through instead of translated to chat. null: true for a provider that has it at its public endpoint "
        "(OpenAI), false for another base URL (most OpenAI-compatible servers serve chat only).",
    )
    batch: BatchMode | None = Field(
        None,
        description="How `/v1/batches` lines for this model run: `provider` (the provider's own batch API: "
        "OpenAI Batch, Anthropic Message Batches), `self` (faregate sends each line itself), `auto` (the "
        "provider's batch API on its public endpoint, else self). null: the gateway's `batch`.",
    )
    batch_discount: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Share off the list price for lines run by the provider's batch API (0.5: half price; "
        "0: none, and no batch tier for the router). null: the catalogue's, else none.",
    )

    @model_validator(mode="before")
    @classmethod
    def _name_from_model(cls, data: object) -> object:
        # `- model: gpt-4o-mini` alone names the model after its upstream id (the catalogue fills the rest).
        if isinstance(data, dict) and "name" not in data and isinstance(data.get("model"), str):
            return {**data, "name": data["model"]}
        return data

    @model_validator(mode="after")
    def _azure_endpoint(self) -> ModelConfig:
        uses = self.provider == "azure" or any(d.provider == "azure" for d in self.deployments)
        every_deployment = bool(self.deployments) and all(d.base_url for d in self.deployments)
        if uses and not (self.base_url or self.credentials or every_deployment):
            raise ValueError(
                "provider azure needs base_url: the resource endpoint, e.g. https://<resource>.openai.azure.com"
            )
        return self

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if not v or v == "auto":
            raise ValueError("must be a non-empty name other than 'auto' (reserved for routing)")
        return v


class RouteConfig(_Frozen):
    """A named route: clients send ``model: <route name>`` and the router picks among candidates."""

    name: str = Field(description="The name clients send as `model` to use this route.")
    candidates: list[str] = Field(default_factory=list, description="Models to choose among; empty: every model.")
    router_model: str | None = None  # path of a file from ``faregate train``
    min_quality: float | None = Field(None, ge=0, le=1, description="Quality floor unless a request sets one.")
    confidence: float | None = Field(
        None, gt=0, le=1, description="Required probability of meeting the floor unless a request sets one."
    )
    max_latency_ms: float | None = Field(None, gt=0, description="Latency ceiling (ms, predicted p95).")
    max_cost_usd: float | None = Field(None, gt=0, description="Cost ceiling per request (USD).")
    task: str | None = Field(None, description="The route's task; default: inferred from the prompt.")
    # Gradual rollout: share of traffic routed; the rest goes to ``control_model``.
    rollout: float = Field(1.0, ge=0, le=1)
    control_model: str | None = Field(None, description="Where the control arm of a rollout goes.")
    failover: FailoverConfig | None = Field(
        None, description="Replaces the candidates' own `failover:` for requests sent to this route."
    )
    stream_resume: bool | None = Field(
        None, description="Replaces the candidates' own `stream_resume` for this route; null: theirs."
    )
    cache: RouteCacheConfig | None = Field(None, description="This route's response-cache overrides.")
    mode: Literal["cost", "latency", "quality", "balanced"] | None = Field(
        None, description="Optimisation mode of this route's requests (a request's or key's own wins); null: cost."
    )
    guardrails: list[str] = Field(default_factory=list, description="Guardrails run on requests sent to this route.")
    deadline: str | None = Field(
        None,
        description="How long this route's requests may wait for their answer (`30m`, `2h`, `24h`, `1d`) unless a "
        "request sets `faregate.deadline`; opens the batch tier (docs/batch.md).",
    )

    @field_validator("deadline")
    @classmethod
    def _deadline_ok(cls, v: str | None) -> str | None:
        if v is not None:
            parse_duration(v)  # a ValueError names the accepted form
        return v

    @property
    def deadline_s(self) -> float | None:
        return parse_duration(self.deadline) if self.deadline is not None else None
