"""Gateway key material: generation, hashing, display prefixes.

A key is ``fg-`` plus 43 URL-safe base64 characters of 32 random bytes (256 bits). Only its
sha256 is stored. A fast unsalted hash is enough here, unlike for passwords: a slow KDF exists
to make guessing a *low-entropy* secret expensive, and nobody can enumerate 2**256 candidates;
sha256 also lets a replica find a key by one indexed lookup, with no per-key salt to try.
The display prefix (``fg-AbCd``, 7 characters, 24 random bits) lets people tell keys apart in
lists and logs without revealing anything usable.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

PREFIX = "fg-"
MAX_KEY_CHARS = 512  # longer credentials are refused before any hashing or lookup


def generate_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def display_prefix(raw: str) -> str:
    return raw[:7]


def plausible(raw: str | None) -> bool:
    """Cheap shape check: printable ASCII without spaces, at most ``MAX_KEY_CHARS``.

    Anything else (NUL bytes, unicode, 1 MB bodies) cannot be a key, so it is refused without
    hashing it. The caller answers the same 401 either way.
    """
    if not raw or len(raw) > MAX_KEY_CHARS:
        return False
    return raw.isascii() and raw.isprintable() and " " not in raw


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def new_key_id() -> str:
    return "key_" + secrets.token_hex(8)
