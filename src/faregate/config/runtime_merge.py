"""The config file plus what the admin API added at run time: one config, validated as a file is."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from .base import ConfigError
from .catalogue import ProviderCredentials
from .gateway import GatewayConfig
from .loading import format_errors


def merge_runtime(
    base: GatewayConfig,
    models: list[dict[str, Any]],
    providers: dict[str, dict[str, Any]],
    experiments: dict[str, dict[str, Any]] | None = None,
) -> GatewayConfig:
    """The config file's ``base`` plus models added at run time, with named credentials applied.

    The file wins: a runtime model may not reuse a file model's name. Validated exactly as a
    config file is (``ConfigError`` naming what is wrong)."""
    creds = {n: ProviderCredentials.model_validate({**p, "name": n}) for n, p in providers.items()}
    raw = base.model_dump(exclude_unset=True)
    file_names = {m.name for m in base.models}
    for m in models:
        if m.get("name") in file_names:
            raise ConfigError(f"model {m.get('name')!r} is declared in the config file, which wins")
    merged = [_with_credentials(m, creds) for m in [*raw.get("models", []), *models]]
    if experiments:  # a stored experiment (stopped, promoted, added) replaces the file's of its name
        exps = [e for e in raw.get("experiments", []) if e.get("name") not in experiments]
        raw["experiments"] = [*exps, *({**e, "name": n} for n, e in experiments.items())]
    try:
        return GatewayConfig.model_validate({**raw, "models": merged})
    except ValidationError as exc:
        raise ConfigError(format_errors(exc)) from None


def _with_credentials(model: dict[str, Any], creds: dict[str, ProviderCredentials]) -> dict[str, Any]:
    ref = model.get("credentials")
    if not ref:
        return model
    c = creds.get(ref)
    if c is None:
        raise ConfigError(f"model {model.get('name')!r}: unknown credentials {ref!r}; known: {sorted(creds)}")
    out = dict(model)
    for k in ("provider", "base_url", "api_key"):
        if out.get(k) is None and getattr(c, k) is not None:
            out[k] = getattr(c, k)
    out["headers"] = {**c.headers, **(out.get("headers") or {})}
    return out
