"""The auth step: a raw gateway key -> ``Principal``, and the model allow-list.

The key is checked by its sha256 (see ``keys/secret.py``), looked up in the config keys and the
key store (cached, ``limits.key_cache_ttl_s``), never logged and never echoed: every refusal
is the same fixed 401 message whatever was sent (SQL-shaped strings, NUL bytes, 1 MB, unicode).
With no key anywhere (none in the config, none ever created in the database) the gateway is
open, as before keys existed; the first key created closes it within the cache TTL.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable
from typing import Any

from ..config import GatewayConfig
from ..core.errors import AuthenticationFailed, GatewayError, PermissionDenied
from ..keys.resolver import KeyResolver, ResolvedKey
from ..keys.store import KeyStore
from .context import Principal, Reply, RequestContext
from .step import Next, Step

log = logging.getLogger("faregate.auth")

MISSING = "Missing API key: send `Authorization: Bearer <gateway key>`."
INCORRECT = "Incorrect API key provided."
KEYS_UNAVAILABLE = (
    "The gateway's key store is unavailable (a storage failure on the gateway, not a problem with "
    "your key); keys used in the last minute still work. Retry shortly."
)
KEYS_RETRY_AFTER_S = 5


class KeysUnavailable(GatewayError):
    status = 503
    type = "server_error"
    code = "keys_unavailable"


class KeyAuth(Step):
    """``authenticate(raw)`` for the server; ``handle`` also enforces the model allow-list."""

    def __init__(self, config: GatewayConfig, resolver: KeyResolver | None = None) -> None:
        store: KeyStore | None = None
        if resolver is None:
            store = KeyStore(config.database_url) if config.database_url else None
            resolver = KeyResolver(config, store)
        elif isinstance(resolver.store, KeyStore):
            store = resolver.store
        self._store = store  # the key database, for the admin API; None with config keys only
        self.resolver = resolver
        self.open = False
        self._resolved: OrderedDict[str, ResolvedKey] = OrderedDict()

    @property
    def store(self) -> KeyStore | None:
        return self._store

    async def start(self) -> None:
        self.open = not await self.resolver.any_keys()

    async def close(self) -> None:
        if self._store is not None:
            await self._store.close()

    async def authenticate(self, credential: str | None) -> Principal | None:
        """The principal for a raw key; ``None`` while the gateway is open. 401 otherwise."""
        if self.open:
            self.open = not await self.resolver.any_keys()
            if self.open:
                return None
        if not credential:
            raise AuthenticationFailed(MISSING)
        try:
            rk = await self.resolver.resolve(credential)
        except Exception as exc:  # noqa: BLE001 - the database is down and nothing is cached
            log.warning("key store unavailable (%s); refusing a key not seen recently", exc)
            raise KeysUnavailable(KEYS_UNAVAILABLE, headers={"retry-after": str(KEYS_RETRY_AFTER_S)}) from None
        if rk is None:
            raise AuthenticationFailed(INCORRECT)
        return self._principal(rk)

    def known(self, credential: str | None) -> Principal | None:
        """The principal of a config key, found without awaiting anything; ``None`` means ask
        ``authenticate`` (a store key, an unknown one, no key, an open gateway)."""
        if self.open or not credential:
            return None
        rk = self.resolver.config_key(credential)
        return self._principal(rk) if rk is not None else None

    def _principal(self, rk: ResolvedKey) -> Principal:
        # Bounded LRU: evicting one entry at a time never drops the limits of the keys in use.
        self._resolved[rk.key_id] = rk
        self._resolved.move_to_end(rk.key_id)
        if len(self._resolved) > 100_000:
            self._resolved.popitem(last=False)
        return Principal(
            key_id=rk.key_id,
            name=rk.name,
            team=rk.team,
            models=rk.models,
            key_prefix=rk.prefix,
            idempotent=rk.idempotent,
            mode=rk.mode,
            guardrails=rk.guardrails,
        )

    def limits_for(self, principal: Principal | None) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the key's own limits, its team's limits from the store) as last resolved."""
        rk = self._resolved.get(principal.key_id) if principal is not None else None
        return (rk.limits, rk.team_limits) if rk is not None else ({}, {})

    def handle(self, ctx: RequestContext, call_next: Next) -> Awaitable[Reply]:
        if ctx.principal is None:  # in-process calls; the HTTP server authenticates before the body
            return self._authenticate_then(ctx, call_next)
        ctx.credential = None
        return call_next(ctx)

    async def _authenticate_then(self, ctx: RequestContext, call_next: Next) -> Reply:
        ctx.principal = await self.authenticate(ctx.credential)
        ctx.credential = None
        return await call_next(ctx)


class AllowList(Step):
    """403 for a model the key may not use, before any limit is reserved.

    ``routes``: the route names of this config snapshot. A key's allow-list applies to the
    models a route picks (the routing step routes only among the key's models), not to the
    route's name."""

    def __init__(self, routes: set[str] | frozenset[str]) -> None:
        self._routes = frozenset(routes)

    def handle(self, ctx: RequestContext, call_next: Next) -> Awaitable[Reply]:
        p = ctx.principal
        if (
            p is not None
            and p.models is not None
            and not p.is_admin
            and ctx.request.model not in p.models
            and ctx.request.model not in self._routes
        ):
            raise PermissionDenied(f"This key may not use model {ctx.request.model[:200]!r}.", param="model")
        return call_next(ctx)
