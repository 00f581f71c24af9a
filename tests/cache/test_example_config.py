"""``examples/cache.yaml`` serves hits at once: the fake providers with the cache on."""

from __future__ import annotations

import openai

from faregate.config import load_config
from helpers import REPO


def test_example_cache_config_shows_hits(start_server, upstreams, tmp_path):
    cfg = load_config(str(REPO / "examples" / "cache.yaml"))
    assert cfg.cache.enabled and cfg.cache.layers == ["memory://", "database"]
    models = [m.model_copy(update={"base_url": upstreams[m.provider].model_base_url}) for m in cfg.models]
    srv = start_server(cfg.model_copy(update={"models": models, "database_url": f"sqlite:///{tmp_path / 'c.db'}"}))
    client = openai.OpenAI(base_url=srv.base_url, api_key="fg-demo-key", max_retries=0, timeout=10)
    seen = []
    for _ in range(2):
        raw = client.chat.completions.with_raw_response.create(
            model="fake-openai", temperature=0, messages=[{"role": "user", "content": "hi"}]
        )
        seen.append(raw.headers["x-faregate-cache"])
    assert seen == ["miss", "hit"]
    assert len(upstreams["openai"].requests()) == 1
