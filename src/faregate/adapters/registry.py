"""Which adapter speaks which provider's wire format."""

from __future__ import annotations

from .base import Adapter


def adapter_for(provider: str) -> Adapter:
    """The adapter instance for ``provider`` ("openai", "anthropic" or "gemini")."""
    if provider == "openai":
        from .openai import OpenAIAdapter

        return OpenAIAdapter()
    if provider == "anthropic":
        from .anthropic import AnthropicAdapter

        return AnthropicAdapter()
    if provider == "gemini":
        from .gemini import GeminiAdapter

        return GeminiAdapter()
    raise ValueError(f"unknown provider {provider!r}; expected openai, anthropic or gemini")
