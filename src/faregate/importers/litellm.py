"""A LiteLLM proxy ``config.yaml`` as a faregate config.

Translated: ``model_list`` (entries sharing a ``model_name`` become one model with several
deployments; ``litellm_params.model`` ``provider/name``, ``api_base``, ``api_key``
(``os.environ/VAR`` becomes ``${VAR}``), ``rpm``/``tpm`` as limits, ``input_cost_per_token`` /
``output_cost_per_token`` as USD per million); ``router_settings`` and ``litellm_settings``
(``routing_strategy``, ``fallbacks``, ``context_window_fallbacks``, ``num_retries``,
``timeout``/``request_timeout``, ``cooldown_time``, ``allowed_fails``) and
``general_settings.master_key``. Everything else is listed in ``Translation.skipped`` with the
reason, never dropped silently.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

# LiteLLM provider prefix -> (faregate wire format, base URL or None for the format's own API).
PROVIDERS: dict[str, tuple[str, str | None]] = {
    "openai": ("openai", None),
    "text-completion-openai": ("openai", None),
    "anthropic": ("anthropic", None),
    "gemini": ("gemini", None),
    "groq": ("openai", "https://api.groq.com/openai/v1"),
    "mistral": ("openai", "https://api.mistral.ai/v1"),
    "deepseek": ("openai", "https://api.deepseek.com/v1"),
    "xai": ("openai", "https://api.x.ai/v1"),
    "together_ai": ("openai", "https://api.together.xyz/v1"),
    "fireworks_ai": ("openai", "https://api.fireworks.ai/inference/v1"),
    "openrouter": ("openai", "https://openrouter.ai/api/v1"),
    "perplexity": ("openai", "https://api.perplexity.ai"),
    "deepinfra": ("openai", "https://api.deepinfra.com/v1/openai"),
    "hosted_vllm": ("openai", None),
    "vllm": ("openai", None),
    "ollama_chat": ("openai", "http://localhost:11434/v1"),
    "ollama": ("openai", "http://localhost:11434/v1"),
    "lm_studio": ("openai", "http://localhost:1234/v1"),
}
STRATEGIES = {
    "simple-shuffle": "weighted",
    "least-busy": "least_busy",
    "latency-based-routing": "latency",
    "cost-based-routing": "cost",
}
_ENV = re.compile(r"^os\.environ/([A-Za-z_][A-Za-z0-9_]*)$")
# Keys of litellm_params that are request defaults faregate leaves to the client.
_REQUEST_PARAMS = {"temperature", "max_tokens", "top_p", "stop", "seed", "stream_timeout", "max_retries"}


@dataclass
class Translation:
    config: dict[str, Any]
    skipped: list[str] = field(default_factory=list)  # "where: why"


def env_ref(value: Any) -> Any:
    """``os.environ/VAR`` -> ``${VAR}``; anything else unchanged."""
    if isinstance(value, str):
        m = _ENV.match(value.strip())
        if m:
            return "${" + m.group(1) + "}"
    return value


def translate(doc: dict[str, Any]) -> Translation:
    out = Translation(config={})
    settings = {**(doc.get("litellm_settings") or {}), **(doc.get("router_settings") or {})}
    models, limits = _models(doc.get("model_list") or [], out)
    _router(settings, models, out)
    cfg: dict[str, Any] = {"models": list(models.values())}
    if limits:
        cfg["limits"] = {"models": limits}
    general = doc.get("general_settings") or {}
    if general.get("master_key"):
        cfg["master_key"] = env_ref(general["master_key"])
    for k in sorted(set(general) - {"master_key"}):
        out.skipped.append(f"general_settings.{k}: no faregate equivalent is translated (LiteLLM server setting)")
    if doc.get("environment_variables"):
        out.skipped.append("environment_variables: set them in faregate's environment; the file holds references")
    for k in sorted(set(doc) - {"model_list", "router_settings", "litellm_settings", "general_settings",
                                "environment_variables"}):  # fmt: skip
        out.skipped.append(f"{k}: unknown top-level section")
    out.config = cfg
    return out


def _deployment(entry: dict[str, Any], where: str, out: Translation) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(faregate deployment fields, limits) of one model_list entry, or None if it cannot be served."""
    params = dict(entry.get("litellm_params") or {})
    target = str(params.pop("model", "") or "")
    prefix, _, upstream = target.partition("/") if "/" in target else ("openai", "", target)
    if prefix not in PROVIDERS:
        out.skipped.append(f"{where}: provider {prefix!r} ({target}) has no faregate adapter; model left out")
        return None
    wire, base = PROVIDERS[prefix]
    d: dict[str, Any] = {"provider": wire, "model": upstream}
    base = env_ref(params.pop("api_base", None)) or base
    if base:
        d["base_url"] = base
    if params.get("api_key"):
        d["api_key"] = env_ref(params.pop("api_key"))
    if params.get("extra_headers"):
        d["headers"] = {k: env_ref(v) for k, v in params.pop("extra_headers").items()}
    prices = {}
    for src, dst in (("input_cost_per_token", "input"), ("output_cost_per_token", "output")):
        if params.get(src) is not None:
            prices[dst] = round(float(params.pop(src)) * 1_000_000, 6)
    if params.get("cache_read_input_token_cost") is not None:
        prices["cached_input"] = round(float(params.pop("cache_read_input_token_cost")) * 1_000_000, 6)
    if prices:
        d["prices"] = prices
    if params.get("weight") is not None:
        d["weight"] = float(params.pop("weight"))
    if params.get("order") is not None:
        d["priority"] = int(params.pop("order"))
    lim = {k: int(params.pop(k)) for k in ("rpm", "tpm") if params.get(k) is not None}
    for k in ("rpm", "tpm"):
        if entry.get(k) is not None:
            lim[k] = int(entry[k])
    for k in sorted(params):
        reason = "a request default; clients set it per request" if k in _REQUEST_PARAMS else "not translated"
        out.skipped.append(f"{where}.litellm_params.{k}: {reason}")
    for k in sorted(set(entry) - {"model_name", "litellm_params", "model_info", "rpm", "tpm"}):
        out.skipped.append(f"{where}.{k}: not translated")
    return d, lim


def _models(model_list: list[Any], out: Translation) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    groups: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for i, entry in enumerate(model_list):
        where = f"model_list.{i}"
        if not isinstance(entry, dict) or not entry.get("model_name"):
            out.skipped.append(f"{where}: no model_name")
            continue
        mode = (entry.get("model_info") or {}).get("mode")
        if mode not in (None, "chat", "completion"):
            out.skipped.append(f"{where}: mode {mode!r}; faregate serves chat models only")
            continue
        if str(entry["model_name"]).endswith("*"):
            out.skipped.append(f"{where}: wildcard model_name {entry['model_name']!r}; list the models by name")
            continue
        got = _deployment(entry, where, out)
        if got is not None:
            groups.setdefault(str(entry["model_name"]), []).append(got)
    models: dict[str, dict[str, Any]] = {}
    limits: dict[str, Any] = {}
    for name, deps in groups.items():
        if len(deps) == 1:
            d, lim = deps[0]
            models[name] = {"name": name, **d}
            if lim:
                limits[name] = lim
            continue
        first = deps[0][0]
        m: dict[str, Any] = {"name": name, "provider": first["provider"], "model": first["model"], "deployments": []}
        for j, (d, lim) in enumerate(deps):
            dep_name = f"{name}#{j}"
            m["deployments"].append({"name": dep_name, **d})
            if lim:
                limits[dep_name] = lim
        models[name] = m
    return models, limits


def _fallback_map(value: Any, key: str, out: Translation) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for item in value or []:
        if isinstance(item, dict):
            for src, dsts in item.items():
                result.setdefault(str(src), []).extend(str(d) for d in (dsts or []))
        else:
            out.skipped.append(f"{key}: entry {item!r} is not a {{model: [fallbacks]}} mapping")
    return result


def _router(settings: dict[str, Any], models: dict[str, dict[str, Any]], out: Translation) -> None:
    per_model: dict[str, Any] = {}
    strategy = settings.pop("routing_strategy", None)
    if strategy is not None:
        if strategy in STRATEGIES:
            per_model["strategy"] = STRATEGIES[strategy]
        else:
            out.skipped.append(f"routing_strategy: {strategy!r} has no faregate equivalent (weighted is used)")
    if settings.get("num_retries") is not None:
        per_model["max_attempts"] = max(1, min(20, int(settings.pop("num_retries")) + 1))
    timeout = settings.pop("timeout", None) or settings.pop("request_timeout", None)
    settings.pop("request_timeout", None)
    if timeout is not None:
        per_model["timeouts"] = {"total": float(timeout)}
    breaker = {}
    if settings.get("cooldown_time") is not None:
        breaker["cooldown_s"] = float(settings.pop("cooldown_time"))
    if settings.get("allowed_fails") is not None:
        breaker["failure_threshold"] = max(1, int(settings.pop("allowed_fails")))
    if breaker:
        per_model["breaker"] = breaker
    fallbacks = _fallback_map(settings.pop("fallbacks", None), "fallbacks", out)
    context = _fallback_map(settings.pop("context_window_fallbacks", None), "context_window_fallbacks", out)
    for m in models.values():
        m.update({k: copy.deepcopy(v) for k, v in per_model.items() if k not in m})
    for kind, mapping in (("fallbacks", fallbacks), ("context_window_fallbacks", context)):
        for src, dsts in mapping.items():
            known = [d for d in dsts if d in models]
            for d in dsts:
                if d not in models:
                    out.skipped.append(f"{kind}: {src} -> {d}: {d!r} is not a translated model")
            if src not in models:
                out.skipped.append(f"{kind}: {src!r} is not a translated model")
            elif known and kind == "fallbacks":
                models[src]["fallbacks"] = known
            elif known:
                models[src]["context_fallback"] = known[0]
                if len(known) > 1:
                    out.skipped.append(f"{kind}: {src}: faregate has one context fallback; kept {known[0]!r}")
    for k in sorted(settings):
        out.skipped.append(f"{k}: not translated (no faregate equivalent, or a LiteLLM runtime setting)")
