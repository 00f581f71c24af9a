"""Rate limits, token and cost limits, budgets and concurrency: one store chosen by URL."""

from .base import USD, Check, Grant, Limit, LimitStore, open_limit_store

__all__ = ["USD", "Check", "Grant", "Limit", "LimitStore", "open_limit_store"]
