"""The policy version: a short hash of everything that decides how a request is answered.

Computed once per compiled snapshot from the validated config's canonical dump (so reordered
YAML keys, comments or ``${VAR}`` spelling do not count), the models added at run time (merged
into that config), the bytes of the router model and calibration files it names, and the
learner's snapshot id. The first three are fixed per snapshot (``Runtime.policy``); the learner
moves with every feedback, so ``with_learner`` folds its current snapshot id in for each request
(``Gateway.handle``), and the version a request records names the learned state it was routed
with. Left out, because they change where or for
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
    """What the hash covers (also handy to diff two policies); ``learner`` enters through ``with_learner``."""
    dump = config.model_dump(mode="json", exclude=_OPERATIONAL)
    dump["models"] = _scrub(dump.get("models") or [])
    files = {"router_model": _file_digest(config.router_model), "calibration": _file_digest(config.calibration_file)}
    for r in config.routes:
        if r.router_model:
            files[f"routes.{r.name}.router_model"] = _file_digest(r.router_model)
    return {"config": dump, "files": files, "learner": learner_snapshot}


def policy_version(config: GatewayConfig, *, learner_snapshot: str | None = None) -> str:
    inputs = policy_inputs(config)
    del inputs["learner"]
    raw = orjson.dumps(inputs, option=orjson.OPT_SORT_KEYS)
    return with_learner(hashlib.sha256(raw).hexdigest()[:SHORT], learner_snapshot)


def with_learner(base: str, learner_snapshot: str | None) -> str:
    """The policy version of a snapshot whose version is ``base`` with the learner in this state
    (``base`` itself without a learner, so a gateway that does not learn keeps one version)."""
    if not learner_snapshot or not base:
        return base
    return hashlib.sha256(f"{base}/{learner_snapshot}".encode()).hexdigest()[:SHORT]
