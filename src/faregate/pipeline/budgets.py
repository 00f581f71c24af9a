"""The budget a key, team or model has now, for the ``budget`` alert rule.

A key's budget is the config's default key limits overlaid by its own: a config key's
``limits:``, or a database key's limits set through the admin API or ``faregate keys``. A
team's is the config's ``limits.teams`` entry overlaid by the team record in the key database.
The same merge as the limits step (``limits_step.merged``), so the alert and the refusal agree.
"""

from __future__ import annotations

import logging
from typing import Any

from ..config import GatewayConfig
from ..keys.secret import hash_key
from ..keys.store import KeyStore
from .limits_step import merged

log = logging.getLogger("faregate.alerts")


def _budget(limits: dict[str, Any]) -> tuple[float, str] | None:
    if limits.get("budget_usd_month") is not None:
        return float(limits["budget_usd_month"]), "month"
    if limits.get("budget_usd_day") is not None:
        return float(limits["budget_usd_day"]), "day"
    return None


def _config_key_limits(config: GatewayConfig, key_id: str) -> dict[str, Any]:
    for k in config.keys:
        if k.limits is not None and f"cfg_{hash_key(k.key)[:12]}" == key_id:
            return k.limits.model_dump(exclude_none=True)
    return {}


async def _stored_limits(store: KeyStore | None, scope: str, value: str) -> dict[str, Any]:
    if store is None or not store.exists():
        return {}
    try:
        await store.open()
        rec = await store.get_key(value) if scope == "key" else await store.get_team(value)
    except Exception as exc:  # noqa: BLE001 - the database is down: the config's budgets still count
        log.warning("key store unreachable while reading the budget of %s %s: %s", scope, value, exc)
        return {}
    return dict(rec.limits) if rec is not None else {}


async def budget_of(config: GatewayConfig, store: KeyStore | None, scope: str, value: str) -> tuple[float, str] | None:
    """(USD, "month" | "day") of ``scope`` (``key`` by id, ``team``, ``model``); None: no budget."""
    lc = config.limits
    if scope == "model":
        return _budget(merged(lc.models.get(value)))
    if scope == "key":
        own = {**_config_key_limits(config, value), **await _stored_limits(store, scope, value)}
        return _budget(merged(lc.keys, own))
    if scope == "team":
        return _budget(merged(lc.teams.get(value), await _stored_limits(store, scope, value)))
    return None
