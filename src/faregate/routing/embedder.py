"""The embedder interface every text embedder implements, and the row normalisation they share.

Extension point: subclass ``Embedder`` and implement ``embed(texts) -> np.ndarray`` returning
``(len(texts), dim)`` float32 rows, each L2-normalised; give it a ``name`` that records the
embedder and its settings (a trained router refuses another embedder at load time).
"""

from __future__ import annotations

import numpy as np


class Embedder:
    """A text embedder: ``name`` identifies it and its settings, ``dim`` is its vector size."""

    name: str = "embedder"
    dim: int = 0

    def embed(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - interface
        """Return ``(len(texts), dim)`` float32, each row L2-normalised (all-zero for empty text)."""
        raise NotImplementedError


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Each row scaled to unit length (all-zero rows stay zero), as float32."""
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(n > 0, n, 1.0)).astype(np.float32)
