"""Typed, frozen configuration: one YAML file plus ``FAREGATE_*`` environment variables.

Loaded and validated once at start; errors name the key path and what is wrong. Credentials
are references (``${ANTHROPIC_API_KEY}``) resolved from the environment here, so no secret
needs to sit in the file, and nothing a client sends can supply one. The gateway compiles the
validated config into a runtime snapshot (``pipeline/runtime.py``).
"""

from .base import CAPABILITIES, Capability, ConfigError
from .cache import CacheConfig, RouteCacheConfig
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
    "CAPABILITIES",
    "BreakerConfig",
    "CacheConfig",
    "Capability",
    "ConfigError",
    "DeploymentConfig",
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
    "ProberConfig",
    "RetryConfig",
    "RouteCacheConfig",
    "RouteConfig",
    "RoutingEstimatesConfig",
    "ServerConfig",
    "TimeoutsConfig",
    "load_config",
]
