"""The policy version: a short hash of everything that decides how a request is answered.

Computed once per compiled snapshot from the validated config's canonical dump (so reordered
YAML keys, comments or ``${VAR}`` spelling do not count), the models added at run time (merged
into that config), the bytes of the router model and calibration files it names, and the
learner's snapshot id when the learner exposes one. Left out, because they change where or for
whom faregate runs but not what it answers: the server section, database and Redis URLs, the
master key, gateway keys, the log writer, the HTTP pool, the runtime-config poll, upstream API
keys (a rotated key is the same policy) and the command line (e.g. the log level).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson

from ..config import GatewayConfig

_OPERATIONAL = {
    "server",
    "database_url",
    "redis_url",
    "master_key",
    "keys",
    "log_writer",
    "http_pool",
    "runtime_config",
    "secret_key",
    "catalogue_file",  # the catalogue's effect is in the filled-in models
}
SHORT = 12  # hex digits shown in ``x-faregate-policy`` and stored in the log


def _file_digest(path: str | None) -> str | None:
    if not path:
        return None
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return "unreadable"


def _scrub(models: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for m in models:
        m.pop("api_key", None)
        for d in m.get("deployments") or []:
            d.pop("api_key", None)
    return models


def policy_inputs(config: GatewayConfig, *, learner_snapshot: str | None = None) -> dict[str, Any]:
    """What the hash covers (also handy to diff two policies)."""
    dump = config.model_dump(mode="json", exclude=_OPERATIONAL)
    dump["models"] = _scrub(dump.get("models") or [])
    files = {"router_model": _file_digest(config.router_model), "calibration": _file_digest(config.calibration_file)}
    for r in config.routes:
        if r.router_model:
            files[f"routes.{r.name}.router_model"] = _file_digest(r.router_model)
    return {"config": dump, "files": files, "learner": learner_snapshot}


def policy_version(config: GatewayConfig, *, learner_snapshot: str | None = None) -> str:
    raw = orjson.dumps(policy_inputs(config, learner_snapshot=learner_snapshot), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(raw).hexdigest()[:SHORT]
