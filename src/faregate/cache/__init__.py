"""The response cache: canonical keys, storage layers by URL, the semantic index, coalescing.

``keys`` hashes everything that can change an answer, under a tenant scope; ``entry`` is the
canonical answer a hit replays in any front's format; ``memory``/``redis_layer``/``db_layer``
are the storage layers (one contract, ``layer.CacheLayer``); ``semantic`` the per-scope
nearest-prompt index; ``coalesce`` the in-flight table; ``service`` ties them together.
"""
