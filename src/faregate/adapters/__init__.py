"""Adapters: pure translators between the canonical types and each provider's wire (see ``base``)."""
