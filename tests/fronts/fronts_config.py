"""The config the fronts tests serve: the three chat fakes (``helpers.fake_config``) plus
embedding models on the OpenAI and Gemini fakes and Azure-layout models on the OpenAI fake."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from helpers import GATEWAY_KEY, Fake, fake_config

EMBED_PRICES = {"fake-embed": 0.02, "fake-gemini-embed": 0.15}
AZURE_KEY = "azure-resource-key"
AZURE_VERSION = "2024-10-21"


def fronts_models(upstreams: dict[str, Fake]) -> list[dict[str, Any]]:
    openai_root = upstreams["openai"].root
    timeouts = {"connect": 2, "ttfb": 10, "idle": 5, "total": 20}
    return [
        {
            "name": "fake-embed",
            "provider": "openai",
            "model": "text-embedding-3-small",
            "mode": "embedding",
            "base_url": upstreams["openai"].model_base_url,
            "api_key": "sk-upstream-embed",
            "prices": {"input": EMBED_PRICES["fake-embed"]},
            "max_attempts": 1,
            "timeouts": timeouts,
        },
        {
            "name": "fake-gemini-embed",
            "provider": "gemini",
            "model": "gemini-embedding-001",
            "mode": "embedding",
            "base_url": upstreams["gemini"].model_base_url,
            "api_key": "gemini-upstream-embed",
            "prices": {"input": EMBED_PRICES["fake-gemini-embed"]},
            "max_attempts": 1,
            "timeouts": timeouts,
        },
        {
            "name": "fake-azure",
            "provider": "azure",
            "model": "my-gpt4o-deployment",
            "base_url": openai_root,
            "api_key": AZURE_KEY,
            "azure": {"api_version": AZURE_VERSION},
            "prices": {"input": 2.5, "output": 10.0},
            "max_attempts": 1,
            "timeouts": timeouts,
        },
        {
            "name": "fake-azure-embed",
            "provider": "azure",
            "model": "my-embedding-deployment",
            "mode": "embedding",
            "base_url": openai_root,
            "api_key": "entra-id-token",
            "azure": {"api_version": AZURE_VERSION, "auth": "bearer"},
            "prices": {"input": 0.02},
            "max_attempts": 1,
            "timeouts": timeouts,
        },
    ]


def fronts_config(upstreams: dict[str, Fake], **extra: Any) -> dict[str, Any]:
    cfg = fake_config(upstreams, keys=[GATEWAY_KEY])
    cfg["models"] += fronts_models(upstreams)
    cfg.update(extra)
    return cfg


def post(srv: Any, path: str, body: Any, *, key: str = GATEWAY_KEY) -> tuple[int, Any, dict[str, str]]:
    """POST ``body`` (JSON; bytes as they are) to faregate's ``/v1`` + ``path``: (status, JSON, headers)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
    req = urllib.request.Request(srv.base_url + path, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read()), {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null"), {k.lower(): v for k, v in err.headers.items()}
