"""Loading: one YAML file, ``${VAR}`` references and ``FAREGATE_*`` overrides, validated once.

The environment is read here and nowhere else in the gateway.

An error names the file, the line (for YAML syntax) or the key path, and what to fix; it never
quotes the file: a YAML error gives the problem and its line and column, not yaml's snippet,
and a key that is not a plain name (``root:*:19000:...`` from a file that is not a config) is
not repeated. A file none of whose top-level keys is a config section is "not a faregate
config", in one line.
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


_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_MAX_LISTED = 10


def _loc(parts: tuple[Any, ...]) -> str:
    """A key path, with any part that is not a plain name left out (it could be file content)."""
    shown = [str(p) if isinstance(p, int) or _NAME.fullmatch(str(p)) else "<a key that is not a name>" for p in parts]
    return ".".join(shown) or "(top level)"


def format_errors(err: ValidationError, source: str = "") -> str:
    errors = err.errors()
    lines = [f"{_loc(tuple(e['loc']))}: {e['msg']}" for e in errors[:_MAX_LISTED]]
    if len(errors) > _MAX_LISTED:
        lines.append(f"... and {len(errors) - _MAX_LISTED} more")
    return f"invalid configuration{source}:\n  " + "\n  ".join(lines)


def _read_yaml(p: Path) -> Any:
    """The parsed file; ``ConfigError`` (never quoting the file) when it cannot be read or parsed."""
    name = repr(str(p))
    if not p.is_file():
        raise ConfigError(f"config file {name} does not exist")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"config file {name} is not a text file (not UTF-8): pass a YAML config") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {name}: {exc.strerror or exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "not valid YAML"
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"config file {name} is not valid YAML: {problem}{where}") from None


def _not_a_config(loaded: dict[Any, Any]) -> bool:
    """None of the top-level keys is a config section: some other file was passed."""
    return bool(loaded) and not any(str(k) in GatewayConfig.model_fields for k in loaded)


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
        loaded = _read_yaml(p)
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {str(p)!r}: the top level must be a mapping of config sections")
        if _not_a_config(loaded):
            raise ConfigError(
                f"config file {str(p)!r} is not a faregate config: none of its top-level keys is a config "
                "section (models, keys, limits, routes, ...)"
            )
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
    if env.get("FAREGATE_REPLICA_ID"):
        section = raw.get("server")
        raw["server"] = {**(section if isinstance(section, dict) else {}), "replica_id": env["FAREGATE_REPLICA_ID"]}
    if overrides:
        raw.update(overrides)
    try:
        return GatewayConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc)) from None
