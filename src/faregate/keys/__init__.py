"""Gateway keys: generation, hashed storage, teams, allow-lists, expiry, revoke, rotate."""

from .secret import generate_key, hash_key
from .store import KeyRecord, KeyResolver, KeyStore, ResolvedKey, TeamRecord

__all__ = ["generate_key", "hash_key", "KeyRecord", "KeyResolver", "KeyStore", "ResolvedKey", "TeamRecord"]
