"""The compiled config: one immutable snapshot of everything a request runs on.

``compile_runtime`` turns a validated ``GatewayConfig`` into the objects requests use
(deployments with their adapter, endpoint and profile; the step chain bound to this config's
models, routes and limits; the upstream secrets to redact). The ``Gateway`` holds one snapshot
at a time and swaps it atomically when the config changes: a request keeps the snapshot it
started with, and nothing mutates a snapshot in place. Deployments whose endpoint did not
change carry their live state (breaker, latency estimate, in-flight count) into the new one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from ..catalogue import apply_catalogue
from ..config import GatewayConfig, ModelConfig
from ..core.redact import Redactor
from ..endpoints.deployments import DeploymentRegistry
from ..endpoints.health import DeploymentHealth
from .auth_step import AllowList
from .cache_step import CacheStep
from .executor import Executor
from .guardrail_step import GuardrailStep
from .limits_step import LimitsStep
from .observe_step import ObserveStep
from .policy import policy_version
from .request_log_step import RequestLogStep
from .resolve import ResolveModel
from .routing_step import RoutingStep
from .services import Services
from .step import Next, Step, build_chain


@dataclass(frozen=True, slots=True)
class Runtime:
    """One compiled config snapshot (see the module docstring)."""

    config: GatewayConfig
    version: int
    models: Mapping[str, ModelConfig]
    deployments: DeploymentRegistry
    steps: tuple[Step, ...]
    executor: Next  # the terminal step: an ``Executor``, or a stand-in given by a test
    chain: Next
    routing: RoutingStep | None
    secrets: frozenset[str]
    redactor: Redactor  # the one redaction of upstream errors, built from ``secrets``
    policy: str = ""  # the policy version (``pipeline/policy.py``), shown and logged per request

    def model(self, name: str) -> ModelConfig | None:
        return self.models.get(name)


StepsFactory = Callable[[GatewayConfig, Services, DeploymentRegistry], Sequence[Step]]


def upstream_secrets(config: GatewayConfig) -> frozenset[str]:
    """Every upstream credential in the config: no error a caller sees may contain one."""
    values: list[str | None] = []
    for m in config.models:
        values += [m.api_key, *m.headers.values()]
        for d in m.deployments:
            values += [d.api_key, *d.headers.values()]
    return frozenset(v for v in values if v)


def default_steps(config: GatewayConfig, services: Services, deployments: DeploymentRegistry) -> list[Step]:
    """The default chain, outermost first: observe (metrics, access log, traces), request log (so
    every request is logged once), auth, the model allow-list, limits, model resolution,
    guardrails, the response cache, routing."""
    steps: list[Step] = [ObserveStep(config, services, deployments, secrets=upstream_secrets(config))]
    if services.request_log is not None:
        steps.append(
            RequestLogStep(
                services.request_log,
                log_bodies=config.server.log_bodies,
                owns_writer=False,
                log_body_max_chars=config.server.log_body_max_chars,
            )
        )
    steps.append(services.auth)
    steps.append(AllowList({"auto", *(r.name for r in config.routes)}))
    steps.append(
        LimitsStep(
            config.limits, config.models, store=services.limit_store, keys=services.auth, stats=services.limit_stats
        )
    )
    steps.append(ResolveModel(config.models, [r.name for r in config.routes]))
    steps.append(GuardrailStep(config, services.pool))  # a key without guardrails: one check, a tail call
    steps.append(CacheStep(config.cache, services.cache, {r.name: r.cache for r in config.routes}))
    steps.append(RoutingStep(config, deployments, learning=services.learner, calibration=services.calibration))
    return steps


def compile_runtime(
    config: GatewayConfig,
    services: Services,
    *,
    previous: Runtime | None = None,
    steps: StepsFactory | Sequence[Step] | None = None,
    executor: Next | None = None,
) -> Runtime:
    """Build a snapshot; ``steps``/``executor`` replace the defaults (tests and embedders).

    ``steps`` is a list used as is, or a factory called like ``default_steps`` for each snapshot.
    Models are first completed from the model catalogue (prices, limits and the router then see
    the filled-in values); a price in the wrong unit raises ``ConfigError``."""
    config = apply_catalogue(config)
    policy = policy_version(config)  # the learner's state is folded in per request (Gateway.handle)
    deployments = DeploymentRegistry(config.models, previous=previous.deployments if previous is not None else None)
    if steps is None:
        chain_steps = default_steps(config, services, deployments)
    elif callable(steps):
        chain_steps = list(steps(config, services, deployments))
    else:
        chain_steps = list(steps)
    secrets = upstream_secrets(config)
    redactor = Redactor.of(secrets)
    ex = executor or Executor(
        config.models,
        deployments,
        services.pool,
        retry=config.retry,
        probes=config.probes,
        health=DeploymentHealth(redactor, events=services.events),
        routes=config.routes,
    )
    routing = next((s for s in chain_steps if isinstance(s, RoutingStep)), None)
    return Runtime(
        config=config,
        version=(previous.version + 1) if previous is not None else 1,
        models=MappingProxyType({m.name: m for m in config.models}),
        deployments=deployments,
        steps=tuple(chain_steps),
        executor=ex,
        chain=build_chain(chain_steps, ex),
        routing=routing,
        secrets=secrets,
        redactor=redactor,
        policy=policy,
    )
