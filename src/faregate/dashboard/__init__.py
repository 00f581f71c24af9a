"""The web dashboard at ``/dashboard``: server-rendered pages over the analytics, cache, limits,
keys and alerts services the APIs use (see docs/dashboard.md)."""
