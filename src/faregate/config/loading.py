"""Loading: one YAML file, ``${VAR}`` references and ``FAREGATE_*`` overrides, validated once.

The environment is read here and nowhere else in the gateway.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .base import ConfigError
from .gateway import GatewayConfig

_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


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


def format_errors(err: ValidationError) -> str:
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
        ("secret_key", "FAREGATE_SECRET_KEY"),
    ):
        if env.get(var):
            raw[key] = env[var]
    if env.get("FAREGATE_LOG_SPILL"):
        section = raw.get("log_writer")
        raw["log_writer"] = {**(section if isinstance(section, dict) else {}), "spill_path": env["FAREGATE_LOG_SPILL"]}
    if overrides:
        raw.update(overrides)
    try:
        return GatewayConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc)) from None
