"""The provider registry: which adapter speaks which provider's wire format, and its defaults.

Adding a provider is one adapter module (see ``adapters/base.py``) and one ``ProviderSpec``
entry here: the config validates ``provider:`` against these names, and deployments take
their adapter and default base URL from the entry. OpenAI-compatible servers (Groq, vLLM,
Ollama, llama.cpp...) need no entry of their own: they are ``openai`` with another base URL.
Azure OpenAI is the OpenAI adapter with Azure's endpoint layout (``adapters/azure.py``).

``kinds``: the request kinds (``core.types.REQUEST_KINDS``) the provider has an endpoint for;
a request of another kind to one of its models is a 400 before any upstream call.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from .base import Adapter


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """One provider: its adapter (imported on first use) and its public endpoint.

    ``responses_api``: its public endpoint also serves OpenAI's Responses API, so
    ``/v1/responses`` is passed through to it (a model's ``responses_api`` overrides this for
    another base URL); the adapter then speaks that wire too (``adapters/openai_responses``).
    """

    name: str
    adapter: str  # "module:Class" inside faregate.adapters
    default_base_url: str
    kinds: frozenset[str] = frozenset({"chat"})
    responses_api: bool = False

    def load(self) -> Adapter:
        module, _, cls = self.adapter.partition(":")
        return getattr(importlib.import_module(f"{__package__}.{module}"), cls)()


_OPENAI_KINDS = frozenset({"chat", "embedding", "completion"})
_CHAT_AND_EMBED = frozenset({"chat", "embedding"})

PROVIDERS: dict[str, ProviderSpec] = {
    spec.name: spec
    for spec in (
        ProviderSpec("openai", "openai:OpenAIAdapter", "https://api.openai.com/v1", _OPENAI_KINDS, responses_api=True),
        ProviderSpec("anthropic", "anthropic:AnthropicAdapter", "https://api.anthropic.com"),
        ProviderSpec("gemini", "gemini:GeminiAdapter", "https://generativelanguage.googleapis.com", _CHAT_AND_EMBED),
        # No public default: every Azure resource has its own endpoint (``base_url`` is required).
        ProviderSpec("azure", "azure:AzureOpenAIAdapter", "", _OPENAI_KINDS),
    )
}


def provider_spec(provider: str) -> ProviderSpec:
    spec = PROVIDERS.get(provider)
    if spec is None:
        raise ValueError(f"unknown provider {provider!r}; expected one of {', '.join(PROVIDERS)}")
    return spec


def adapter_for(provider: str) -> Adapter:
    """A new adapter instance for ``provider``."""
    return provider_spec(provider).load()
