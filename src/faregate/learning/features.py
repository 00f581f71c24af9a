"""A small, fixed-size feature vector for the online learner (cheap: hashing, no model)."""

from __future__ import annotations

import re
import zlib
from typing import TYPE_CHECKING

from ..core.lazy_import import lazy_module

if TYPE_CHECKING:
    import numpy as np
else:  # loaded on first use: a gateway that never learns never imports numpy
    np = lazy_module("numpy")

TASKS = ("classify", "summarize", "chat", "generate", "extract_json", "code", "multiple_choice", "other")
HASH_DIMS = 48
# Word hashes are weak evidence next to the task: scaled down so they refine rather than dominate.
HASH_WEIGHT = 0.3
DIM = 1 + len(TASKS) + HASH_DIMS + 2
_WORD = re.compile(r"[a-z0-9]+")


def bandit_features(text: str, task: str | None, *, input_tokens: int | None = None) -> np.ndarray:
    """Bias, task one-hot, signed hashed word unigrams and bigrams (L2-normalised), and length.

    Word hashing uses crc32, so the same text gives the same vector in every process.
    """
    x = np.zeros(DIM, dtype=np.float64)
    x[0] = 1.0
    t = task if task in TASKS else "other"
    x[1 + TASKS.index(t)] = 1.0
    words = _WORD.findall(text[:4000].lower())
    h = np.zeros(HASH_DIMS)
    prev = ""
    for w in words:
        for tok in (w, prev + " " + w) if prev else (w,):
            v = zlib.crc32(tok.encode())
            h[v % HASH_DIMS] += 1.0 if (v >> 16) & 1 else -1.0
        prev = w
    n = np.linalg.norm(h)
    if n > 0:
        x[1 + len(TASKS) : 1 + len(TASKS) + HASH_DIMS] = HASH_WEIGHT * h / n
    toks = input_tokens if input_tokens is not None else len(text) // 4
    x[-2] = min(1.0, np.log1p(toks) / 10.0)
    x[-1] = 1.0 if toks > 2000 else 0.0
    return x
