"""Authentication against the gateway keys listed in the config file."""

from __future__ import annotations

import hashlib

from ..config import GatewayConfig
from ..core.errors import AuthenticationFailed
from .context import Principal, Reply, RequestContext
from .step import Next, Step


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class ConfigKeyAuth(Step):
    """Checks ``Authorization: Bearer <key>`` against config keys (compared by hash, never echoed).

    With no keys configured at all, the gateway is open (a warning is logged at start).
    """

    def __init__(self, config: GatewayConfig) -> None:
        self._by_digest = {key_digest(k.key): Principal(key_id=key_digest(k.key)[:16], name=k.name, team=k.team,
                                                        models=tuple(k.models) if k.models else None,
                                                        key_prefix=k.key[:6])
                           for k in config.keys}
        self.open = not self._by_digest

    async def authenticate(self, credential: str | None) -> Principal | None:
        """The principal for a raw key; ``None`` when the gateway is open. Raises 401 otherwise."""
        if self.open:
            return None
        if not credential:
            raise AuthenticationFailed("Missing API key: send `Authorization: Bearer <gateway key>`.")
        principal = self._by_digest.get(key_digest(credential)) if len(credential) <= 512 else None
        if principal is None:
            raise AuthenticationFailed("Incorrect API key provided.")
        return principal

    async def handle(self, ctx: RequestContext, call_next: Next) -> Reply:
        if ctx.principal is None:
            ctx.principal = await self.authenticate(ctx.credential)
        ctx.credential = None
        return await call_next(ctx)
