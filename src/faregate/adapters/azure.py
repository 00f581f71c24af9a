"""Azure OpenAI: the OpenAI wire at Azure's endpoint layout.

    {base_url}/openai/deployments/{deployment}/{chat/completions|embeddings|completions}?api-version=...

``base_url`` is the resource endpoint (``https://<resource>.openai.azure.com``), the model's
``model`` the deployment name, ``azure.api_version`` the ``api-version`` query parameter. The
credential goes in the ``api-key`` header, or as ``Authorization: Bearer`` with ``azure.auth:
bearer`` (a Microsoft Entra ID token). Bodies and answers are OpenAI's (Azure ignores the
body's ``model``: the deployment in the path decides).
"""

from __future__ import annotations

from urllib.parse import quote

from .base import Target
from .openai import OpenAIAdapter

DEFAULT_API_VERSION = "2024-10-21"


class AzureOpenAIAdapter(OpenAIAdapter):
    """``OpenAIAdapter`` with Azure's URL and credential header."""

    protocol = "azure"

    def url(self, target: Target, path: str) -> str:
        base = target.base_url.rstrip("/").removesuffix("/openai")
        deployment = quote(target.upstream_model, safe="")
        version = quote(target.options.get("api_version") or DEFAULT_API_VERSION, safe="")
        return f"{base}/openai/deployments/{deployment}/{path}?api-version={version}"

    def headers(self, target: Target) -> dict[str, str]:
        headers = {"content-type": "application/json", **target.headers}
        if target.api_key:
            if target.options.get("auth") == "bearer":
                headers["authorization"] = f"Bearer {target.api_key}"
            else:
                headers["api-key"] = target.api_key
        return headers
