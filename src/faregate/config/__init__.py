"""Typed, frozen configuration: one YAML file plus ``FAREGATE_*`` environment variables.

Loaded and validated once at start; errors name the key path and what is wrong. Credentials
are references (``${ANTHROPIC_API_KEY}``) resolved from the environment here, so no secret
needs to sit in the file, and nothing a client sends can supply one. The gateway compiles the
validated config into a runtime snapshot (``pipeline/runtime.py``).
"""

from .base import CAPABILITIES, Capability, ConfigError
from .batch_tier import BatchTierConfig
from .bounds import BoundsConfig
from .cache import CacheConfig, RouteCacheConfig
from .catalogue import ProviderCredentials, RuntimeConfigSection
from .failover import FailoverConfig, UpstreamCapsConfig
from .gateway import GatewayConfig
from .limits import KeyConfig, LimitsConfig, LimitSet
from .loading import load_config
from .models import (
    BreakerConfig,
    DeploymentConfig,
    LatencyPrior,
    ModelConfig,
    PricesConfig,
    RouteConfig,
    TimeoutsConfig,
)
from .observability import (
    AccessLogConfig,
    AlertsConfig,
    ChannelConfig,
    MetricsConfig,
    RuleConfig,
    TracingConfig,
)
from .runtime_merge import merge_runtime
from .sections import (
    HttpPoolConfig,
    LearningConfig,
    LogWriterConfig,
    ProberConfig,
    RetryConfig,
    RoutingEstimatesConfig,
    ServerConfig,
)

__all__ = [
    "AccessLogConfig",
    "AlertsConfig",
    "ChannelConfig",
    "MetricsConfig",
    "RuleConfig",
    "TracingConfig",
    "CAPABILITIES",
    "BatchTierConfig",
    "BoundsConfig",
    "BreakerConfig",
    "CacheConfig",
    "Capability",
    "ConfigError",
    "DeploymentConfig",
    "FailoverConfig",
    "GatewayConfig",
    "HttpPoolConfig",
    "KeyConfig",
    "LatencyPrior",
    "LearningConfig",
    "LimitSet",
    "LimitsConfig",
    "LogWriterConfig",
    "ModelConfig",
    "PricesConfig",
    "ProviderCredentials",
    "ProberConfig",
    "RetryConfig",
    "RouteCacheConfig",
    "RouteConfig",
    "RuntimeConfigSection",
    "RoutingEstimatesConfig",
    "ServerConfig",
    "TimeoutsConfig",
    "UpstreamCapsConfig",
    "load_config",
    "merge_runtime",
]
