"""The semantic index: per group (scope + model + parameters), the prompts answered so far.

A lookup embeds the last user turn with the router's embedder and narrows a group's rows in
three stages, each dearer per row than the one before but run on fewer rows:

1. **Sign bits** (``BITS`` random hyperplanes of the full embedding, packed in ``uint64``
   columns): the share of differing bits estimates the angle between two prompts
   (P(differ) = angle / pi), so a row whose Hamming distance is above what the threshold's
   angle allows plus ``Z`` standard deviations cannot reach the threshold and is dropped
   after an XOR and a popcount (32 bytes a row instead of a 256-byte float scan).
2. **Projections** of the survivors (``PROJ_DIM`` floats, normalised) keep those within
   ``MARGIN`` of the threshold, at most ``CANDIDATES``, nearest first.
3. Those candidates' text is re-embedded and the decision taken on the exact cosine: the
   decision is the embedder's own.

A candidate whose numbers or named entities differ from the query's is never a hit ("refund
order 1234" is not "refund order 1235", however close the vectors).
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field

import numpy as np

from ..routing.embed import Embedder

PROJ_DIM = 64
BITS = 256  # sign bits a row, in BITS // 64 uint64 words
WORDS = BITS // 64
Z = 5.0  # standard deviations of slack on the Hamming bound: a true hit is dropped ~1 in 3 million
CANDIDATES = 8
MARGIN = 0.15
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"[^\W\d_][\w'-]*")


def hamming_bound(threshold: float, bits: int = BITS) -> int:
    """The largest Hamming distance over ``bits`` sign bits at which a prompt may still be at
    ``threshold`` cosine or above (the expected distance at that angle plus ``Z`` sigmas)."""
    p = math.acos(max(-1.0, min(1.0, threshold))) / math.pi
    return int(bits * p + Z * math.sqrt(bits * p * (1 - p)) + 1)


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
    vecs: np.ndarray  # (capacity, PROJ_DIM) float32, the first len(keys) rows live
    bits: np.ndarray  # (WORDS, capacity) uint64: column-major, so one word of every row is contiguous
    keys: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    expires: list[float] = field(default_factory=list)

    @classmethod
    def empty(cls, capacity: int) -> _Group:
        return cls(np.zeros((capacity, PROJ_DIM), dtype=np.float32), np.zeros((WORDS, capacity), dtype=np.uint64))

    def grow(self, capacity: int) -> None:
        n = len(self.keys)
        vecs = np.zeros((capacity, PROJ_DIM), dtype=np.float32)
        vecs[:n] = self.vecs[:n]
        bits = np.zeros((WORDS, capacity), dtype=np.uint64)
        bits[:, :n] = self.bits[:, :n]
        self.vecs, self.bits = vecs, bits

    def put(self, i: int, vec: np.ndarray, bits: np.ndarray, key: str, text: str, exp: float) -> None:
        self.vecs[i], self.bits[:, i] = vec, bits
        if i == len(self.keys):
            self.keys.append(key)
            self.texts.append(text)
            self.expires.append(exp)
        else:
            self.keys[i], self.texts[i], self.expires[i] = key, text, exp


@dataclass(frozen=True, slots=True)
class SemanticHit:
    key: str
    similarity: float


class SemanticIndex:
    """Per group, the prompts answered so far (see the module docstring)."""

    def __init__(self, embedder: Embedder, *, max_entries: int = 200_000, seed: int = 7) -> None:
        self.embedder = embedder
        self.max_entries = max_entries
        dim = int(getattr(embedder, "dim", 0) or embedder.embed(["x"]).shape[1])
        rng = np.random.default_rng(seed)
        # One matrix for both codes: PROJ_DIM projection columns, then BITS hyperplanes.
        self._proj = (rng.standard_normal((dim, PROJ_DIM + BITS)) / np.sqrt(PROJ_DIM)).astype(np.float32)
        self._groups: dict[str, _Group] = {}

    def __len__(self) -> int:
        return sum(len(g.keys) for g in self._groups.values())

    def group_size(self, group: str) -> int:
        g = self._groups.get(group)
        return 0 if g is None else len(g.keys)

    def keys(self) -> set[str]:
        return {k for g in self._groups.values() for k in g.keys}

    def _encode(self, full: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(normalised projections ``(n, PROJ_DIM)``, sign bits ``(n, WORDS)`` uint64)."""
        both = full.astype(np.float32) @ self._proj
        p = both[:, :PROJ_DIM]
        norms = np.linalg.norm(p, axis=-1, keepdims=True)
        signs = np.packbits(both[:, PROJ_DIM:] > 0, axis=1, bitorder="little")
        return p / np.where(norms == 0, 1, norms), np.ascontiguousarray(signs).view("<u8").astype(np.uint64)

    def add(self, group: str, key: str, text: str, ttl_s: float) -> None:
        self.add_many(group, [(key, text)], ttl_s)

    def add_many(
        self, group: str, items: list[tuple[str, str]], ttl_s: float, *, expires: list[float] | None = None
    ) -> None:
        """Index ``(entry key, prompt text)`` pairs (batched: one embedding call); ``expires``
        (unix seconds, one per item) overrides ``ttl_s`` (a rebuild after a restart)."""
        if not items:
            return
        vecs, bits = self._encode(self.embedder.embed([t for _, t in items]))
        g = self._groups.get(group)
        if g is None:
            g = self._groups[group] = _Group.empty(min(self.max_entries, max(16, len(items))))
        default = time.time() + ttl_s
        for j, (key, text) in enumerate(items):
            exp = expires[j] if expires is not None else default
            n = len(g.keys)
            if n >= self.max_entries:  # full: the soonest to expire makes room
                g.put(int(np.argmin(g.expires)), vecs[j], bits[j], key, text, exp)
                continue
            if n == g.vecs.shape[0]:
                g.grow(min(self.max_entries, n * 2))
            g.put(n, vecs[j], bits[j], key, text, exp)

    def remove(self, group: str, i: int) -> None:
        g = self._groups[group]
        last = len(g.keys) - 1
        if i != last:
            g.put(i, g.vecs[last], g.bits[:, last].copy(), g.keys[last], g.texts[last], g.expires[last])
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

    def _near_bits(self, g: _Group, qbits: np.ndarray, threshold: float) -> np.ndarray:
        """Row numbers whose Hamming distance to the query is within the threshold's bound:
        first on half the words of every row (with the bound for that many bits), then on
        all the words of the rows still in (a true hit is lost only if either test's
        ``Z``-sigma slack is exceeded)."""
        n, half = len(g.keys), WORDS // 2
        bound, first = hamming_bound(threshold), hamming_bound(threshold, half * 64)
        if bound >= BITS:
            return np.arange(n)
        dist = np.bitwise_count(g.bits[0, :n] ^ qbits[0])
        for w in range(1, half):
            dist += np.bitwise_count(g.bits[w, :n] ^ qbits[w])
        near = np.flatnonzero(dist <= first)
        if near.size == 0:
            return near
        rest = dist[near].astype(np.uint16)
        for w in range(half, WORDS):
            rest += np.bitwise_count(g.bits[w, near] ^ qbits[w])
        return near[rest <= bound]

    def nearest(self, group: str, text: str, threshold: float) -> SemanticHit | None:
        """The most similar live prompt of ``group`` at ``threshold`` or above with the same
        numbers and named entities, or None."""
        g = self._groups.get(group)
        if g is None or not g.keys:
            return None
        full = self.embedder.embed([text])
        qvec, qbits = self._encode(full)
        near = self._near_bits(g, qbits[0], threshold)
        if near.size == 0:
            return None
        # einsum, not ``@``: a mat-vec through multi-threaded BLAS stalls on a busy machine
        # (its threads spin for cores the event loop and the other processes hold).
        scores = np.einsum("ij,j->i", g.vecs[near], qvec[0])
        # The projection estimates a similarity near 0.9 with a spread of about 0.025 (measured
        # on near-duplicate prompts, worst of 3000 pairs 0.11 low): only rows within ``MARGIN``
        # of the threshold are candidates.
        keep = scores >= threshold - MARGIN
        near, scores = near[keep], scores[keep]
        if near.size == 0:
            return None
        if near.size > CANDIDATES:
            top_k = np.argpartition(scores, near.size - CANDIDATES)[-CANDIDATES:]
            near, scores = near[top_k], scores[top_k]
        now = time.time()
        live = [int(i) for i in near[np.argsort(-scores)] if g.expires[int(i)] > now]
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
