"""What the Responses API tests share: the models served (``MODELS``), a second key, the config
and an ``openai`` client of a faregate."""

from __future__ import annotations

import copy

import openai

from helpers import GATEWAY_KEY, fake_config

OTHER_KEY = "fg-test-other-key"
# (model name, the fake that serves it, the path the fake must see)
MODELS = [
    ("fake-openai-responses", "openai", "/v1/responses"),
    ("fake-openai", "openai", "/v1/chat/completions"),
    ("fake-anthropic", "anthropic", "/v1/messages"),
    ("fake-gemini", "gemini", None),
]


def responses_config(upstreams, **extra) -> dict:
    cfg = fake_config(upstreams, keys=[GATEWAY_KEY, OTHER_KEY], **extra)
    passthrough = copy.deepcopy(next(m for m in cfg["models"] if m["name"] == "fake-openai"))
    passthrough.update(name="fake-openai-responses", responses_api=True)
    cfg["models"].append(passthrough)
    cfg.setdefault("routes", [{"name": "cheap", "candidates": ["fake-openai", "fake-gemini"]}])
    return cfg


def client(srv, key: str = GATEWAY_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.base_url, api_key=key, max_retries=0, timeout=15)
