"""Gateway keys: generation, hashed storage, teams, allow-lists, expiry, revoke, rotate."""

from .records import KeyRecord, TeamRecord
from .resolver import KeyResolver, ResolvedKey
from .secret import generate_key, hash_key
from .store import KeyStore

__all__ = ["generate_key", "hash_key", "KeyRecord", "KeyResolver", "KeyStore", "ResolvedKey", "TeamRecord"]
