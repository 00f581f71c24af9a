"""The cache's pure parts: canonical keys, directives, the semantic index's guards, entry size."""

from __future__ import annotations

import sys

import pytest

from faregate.cache.directives import Directives, parse
from faregate.cache.entry import CachedAnswer
from faregate.cache.keys import make_key, scope_of
from faregate.cache.semantic import SemanticIndex, salient
from faregate.core.errors import InvalidRequest
from faregate.core.types import ChatRequest, ChatResponse
from faregate.routing.embed import HashEmbedder


def req(content, **kw) -> ChatRequest:
    return ChatRequest(model="m", messages=[{"role": "user", "content": content}], **kw)


def test_key_ignores_what_cannot_change_the_answer_and_keeps_what_can():
    base = make_key(req("hi", temperature=0), "team:a").key
    assert (
        make_key(
            req([{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}], temperature=0), "team:a"
        ).key
        == base
    )
    assert make_key(req("hi", temperature=0, stream=True, user="u1"), "team:a").key == base
    for other in (req("hi", temperature=0.5), req("hi", temperature=0, max_tokens=5), req("hi!", temperature=0)):
        assert make_key(other, "team:a").key != base
    assert make_key(req("hi", temperature=0), "team:b").key != base
    tool = {"type": "function", "function": {"name": "f"}}
    with_tool = make_key(req("hi", temperature=0, tools=[tool]), "team:a").key
    assert with_tool != base
    marked = make_key(req("hi", temperature=0, tools=[tool | {"cache_control": {"type": "ephemeral"}}]), "team:a")
    assert marked.key == with_tool  # a prompt-caching marker changes the bill, not the answer
    assert make_key(req("hi", temperature=0.0), "team:a").key == base  # 0 and 0.0 are one temperature


def test_scope_defaults_to_the_team_else_the_key():
    assert scope_of("team", "k1", "red") == "team:red"
    assert scope_of("team", "k1", None) == "key:k1"
    assert scope_of("key", "k1", "red") == "key:k1"
    assert scope_of("global", "k1", "red") == "global"


def test_directives_from_header_and_body():
    assert parse("no-store, ttl=30, semantic=0.85") == Directives(no_store=True, ttl_s=30, semantic=0.85)
    assert parse({"no_cache": True, "sampled": True}) == Directives(no_cache=True, sampled=True)
    for bad in ("forever", "ttl=-1", "semantic=2", {"ttl": "x"}, {"colour": 1}, 5):
        with pytest.raises(InvalidRequest):
            parse(bad)


def test_salient_numbers_and_entities():
    assert salient("What is the status of order 1234?") == {"1234"}
    assert salient("Book a flight to Paris for Anna") == {"paris", "anna"}
    assert salient("Hello there") == frozenset()  # a sentence's first word is not an entity


def test_semantic_index_threshold_and_entities():
    idx = SemanticIndex(HashEmbedder())
    idx.add("g", "k1", "How do I reset my password for the portal?", 60)
    idx.add("g", "k2", "Refund order 1234 please", 60)
    hit = idx.nearest("g", "How do I reset my password for the portal please?", 0.8)
    assert hit is not None and hit.key == "k1" and 0.8 <= hit.similarity < 1
    assert idx.nearest("g", "How do I reset my password for the portal please?", 0.999) is None
    assert idx.nearest("g", "Refund order 1235 please", 0.5) is None  # a different number
    assert idx.nearest("other", "Refund order 1234 please", 0.5) is None  # another group
    idx.add("g", "k3", "Expired prompt about the weather", -1)
    assert idx.nearest("g", "Expired prompt about the weather", 0.5) is None


def test_entry_bytes_are_exactly_sized():
    resp = ChatResponse(id="x", model="m", content="short")
    raw = CachedAnswer.of(resp, model="m", cost_usd=0.0, request_id="r", prompt="").to_bytes()
    assert sys.getsizeof(raw) < len(raw) + 64


def test_semantic_index_finds_what_an_exhaustive_scan_finds():
    """The bit and projection prefilters lose no hit: on near-duplicates of indexed prompts (a
    word added, dropped or swapped) the index answers exactly what scoring every row does."""
    import random

    import numpy as np

    words = "refund order invoice password reset account shipping weather report budget travel hotel".split()
    rng = random.Random(5)
    emb = HashEmbedder()
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(5, 10))) + "?" for _ in range(2000)]
    idx = SemanticIndex(emb, max_entries=5000)
    idx.add_many("g", [(f"k{i}", t) for i, t in enumerate(texts)], 60)
    full = emb.embed(texts)
    found = 0
    for threshold in (0.8, 0.9):
        for _ in range(100):
            q = rng.choice(texts).rstrip("?").split()
            q.insert(rng.randrange(len(q) + 1), rng.choice(words)) if rng.random() < 0.5 else q.pop()
            query = " ".join(q) + "?"
            sims = full @ emb.embed([query])[0]
            want = next(
                (texts[i] for i in np.argsort(-sims) if sims[i] >= threshold and salient(texts[i]) == salient(query)),
                None,
            )
            hit = idx.nearest("g", query, threshold)
            assert (texts[int(hit.key[1:])] if hit else None) == want, query  # texts: equal ones tie
            found += want is not None
    assert found > 50  # the queries really are near-duplicates: most have a hit
