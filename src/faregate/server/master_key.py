"""The one master-key check of the admin, analytics and health routes.

The bearer and the master key are each hashed with sha256 and the digests compared with
``hmac.compare_digest``: equal-length inputs, so the time taken tells nothing about the key,
not even its length. Each route group keeps its own wording of the two refusals.
"""

from __future__ import annotations

import hashlib
import hmac

from aiohttp import web

from ..core.errors import AuthenticationFailed
from ..pipeline.gateway import Gateway
from .http import bearer


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def is_master_key(given: str | None, master: str | None) -> bool:
    """True when ``given`` is the (configured, non-empty) master key; constant time."""
    if not master:
        return False
    same = hmac.compare_digest(_digest(given or ""), _digest(master))
    return bool(given) and same


def require_master_key(gw: Gateway, request: web.Request, *, unset: str, refused: str) -> None:
    """401 unless the request's bearer is the master key.

    ``unset``: the message when no master key is configured (every such route then answers 401);
    ``refused``: the message for any other credential, or none."""
    master = gw.config.master_key
    if not master:
        raise AuthenticationFailed(unset)
    if not is_master_key(bearer(request), master):
        raise AuthenticationFailed(refused)


ADMIN_UNSET = (
    "The admin API needs a master key: set `master_key` in the config or "
    "FAREGATE_MASTER_KEY, and send `Authorization: Bearer <master key>`."
)
ADMIN_REFUSED = "The admin API needs `Authorization: Bearer <master key>`; gateway keys are not accepted here."


def require_admin(gw: Gateway, request: web.Request) -> None:
    """The check of the admin API and the analytics summary, in the admin API's words."""
    require_master_key(gw, request, unset=ADMIN_UNSET, refused=ADMIN_REFUSED)
