"""The semantic index: per group (scope + model + parameters), the prompts answered so far.

A lookup embeds the last user turn with the router's embedder, scans a float32 matrix of
random projections (``PROJ_DIM`` wide, normalised) for the rows that may reach the threshold
(at most ``CANDIDATES``, nearest first), then re-embeds those candidates' text and decides on
the exact cosine similarity: the scan stays a few
hundred microseconds per 10k rows, the decision is the embedder's own. A candidate whose
numbers or named entities differ from the query's is never a hit ("refund order 1234" is not
"refund order 1235", however close the vectors).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import numpy as np

from ..routing.embed import Embedder

PROJ_DIM = 64
CANDIDATES = 8
MARGIN = 0.15
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"[^\W\d_][\w'-]*")


def salient(text: str) -> frozenset[str]:
    """Numbers and named entities (capitalised words not opening a sentence, all-caps words)."""
    out = set(_NUMBER.findall(text))
    sentence_start = True
    for m in re.finditer(r"[^\W\d_][\w'-]*|[.!?]", text):
        w = m.group(0)
        if w in ".!?":
            sentence_start = True
            continue
        if (w[0].isupper() and not sentence_start) or (len(w) > 1 and w.isupper()):
            out.add(w.lower())
        sentence_start = False
    return frozenset(out)


@dataclass(slots=True)
class _Group:
    vecs: np.ndarray
    keys: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    expires: list[float] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SemanticHit:
    key: str
    similarity: float


class SemanticIndex:
    def __init__(self, embedder: Embedder, *, max_entries: int = 200_000, seed: int = 7) -> None:
        self.embedder = embedder
        self.max_entries = max_entries
        dim = int(getattr(embedder, "dim", 0) or embedder.embed(["x"]).shape[1])
        rng = np.random.default_rng(seed)
        self._proj = (rng.standard_normal((dim, PROJ_DIM)) / np.sqrt(PROJ_DIM)).astype(np.float32)
        self._groups: dict[str, _Group] = {}

    def __len__(self) -> int:
        return sum(len(g.keys) for g in self._groups.values())

    def group_size(self, group: str) -> int:
        g = self._groups.get(group)
        return 0 if g is None else len(g.keys)

    def _project(self, full: np.ndarray) -> np.ndarray:
        p = full.astype(np.float32) @ self._proj
        norms = np.linalg.norm(p, axis=-1, keepdims=True)
        return p / np.where(norms == 0, 1, norms)

    def add(self, group: str, key: str, text: str, ttl_s: float) -> None:
        self.add_many(group, [(key, text)], ttl_s)

    def add_many(self, group: str, items: list[tuple[str, str]], ttl_s: float) -> None:
        """Index ``(entry key, prompt text)`` pairs (batched: one embedding call)."""
        if not items:
            return
        vecs = self._project(self.embedder.embed([t for _, t in items]))
        g = self._groups.get(group)
        if g is None:
            g = self._groups[group] = _Group(np.zeros((max(16, len(items)), PROJ_DIM), dtype=np.float32))
        exp = time.time() + ttl_s
        for (key, text), v in zip(items, vecs):
            n = len(g.keys)
            if n >= self.max_entries:  # full: the soonest to expire makes room
                i = int(np.argmin(g.expires))
                g.vecs[i], g.keys[i], g.texts[i], g.expires[i] = v, key, text, exp
                continue
            if n == g.vecs.shape[0]:
                grown = np.zeros((min(self.max_entries, n * 2), PROJ_DIM), dtype=np.float32)
                grown[:n] = g.vecs[:n]
                g.vecs = grown
            g.vecs[n] = v
            g.keys.append(key)
            g.texts.append(text)
            g.expires.append(exp)

    def remove(self, group: str, i: int) -> None:
        g = self._groups[group]
        last = len(g.keys) - 1
        if i != last:
            g.vecs[i], g.keys[i], g.texts[i], g.expires[i] = g.vecs[last], g.keys[last], g.texts[last], g.expires[last]
        g.keys.pop()
        g.texts.pop()
        g.expires.pop()

    def drop_keys(self, doomed: set[str]) -> None:
        for group, g in self._groups.items():
            for i in range(len(g.keys) - 1, -1, -1):
                if g.keys[i] in doomed:
                    self.remove(group, i)

    def clear(self) -> None:
        self._groups.clear()

    def nearest(self, group: str, text: str, threshold: float) -> SemanticHit | None:
        """The most similar live prompt of ``group`` at ``threshold`` or above with the same
        numbers and named entities, or None."""
        g = self._groups.get(group)
        if g is None or not g.keys:
            return None
        n = len(g.keys)
        full = self.embedder.embed([text])
        # einsum, not ``@``: a mat-vec through multi-threaded BLAS stalls on a busy machine
        # (its threads spin for cores the event loop and the other processes hold).
        scores = np.einsum("ij,j->i", g.vecs[:n], self._project(full)[0])
        # The projection estimates a similarity near 0.9 with a spread of about 0.025 (measured
        # on near-duplicate prompts, worst of 3000 pairs 0.11 low): only rows within ``MARGIN``
        # of the threshold are candidates, and for most lookups there are none.
        near = np.flatnonzero(scores >= threshold - MARGIN)
        if near.size == 0:
            return None
        if near.size > CANDIDATES:
            near = near[np.argpartition(scores[near], near.size - CANDIDATES)[-CANDIDATES:]]
        top = near[np.argsort(-scores[near])]
        now = time.time()
        live = [int(i) for i in top if g.expires[int(i)] > now]
        if not live:
            return None
        exact = self.embedder.embed([g.texts[i] for i in live]) @ full[0]
        want = salient(text)
        for i, sim in sorted(zip(live, exact), key=lambda p: -p[1]):
            if sim < threshold:
                break
            if salient(g.texts[i]) == want:
                return SemanticHit(g.keys[i], float(min(1.0, sim)))
        return None
