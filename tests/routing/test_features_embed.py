import numpy as np

from faregate.routing.embed import HashEmbedder, get_embedder
from faregate.routing.features import extract, infer_task


def test_extract_reads_parts_images_tools_and_json_mode():
    msgs = [
        {"role": "system", "content": "be brief"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is in this picture?"},
                {"type": "image_url", "image_url": {"url": "data:..."}},
            ],
        },
        {"role": "assistant", "content": "a cat"},
        {"role": "user", "content": "x" * 400},
    ]
    f = extract(msgs, tools=[{"type": "function"}], response_format={"type": "json_object"})
    assert f.has_images and f.has_tools and f.json_mode
    assert f.depth == 3
    assert f.task == "extract_json" and not f.task_given
    assert f.input_tokens >= 100
    assert "what is in this picture?" in f.text
    g = extract([{"role": "user", "content": "hi"}], task="classify")
    assert g.task == "classify" and g.task_given and not g.has_images and not g.json_mode


def test_infer_task_keywords():
    assert infer_task("Which is a mammal?\nA) shark\nB) whale\nC) eel\nAnswer:") == "multiple_choice"
    assert infer_task("Write a python function to reverse a list") == "code"
    assert infer_task("Summarize this article in 3 sentences: ...") == "summarize"
    assert infer_task("Classify the sentiment of this review: great!") == "classify"
    assert infer_task("Write a poem about the sea") == "generate"
    assert infer_task("hello, how are you?") == "chat"


def test_hash_embedder_normalised_deterministic_and_similar_for_similar_text():
    e = HashEmbedder(256)
    X = e.embed(["the cat sat on the mat", "the cat sat on a mat", "quantum chromodynamics lattice", ""])
    assert X.shape == (4, 256) and X.dtype == np.float32
    assert np.allclose(np.linalg.norm(X[:3], axis=1), 1.0, atol=1e-5)
    assert np.all(X[3] == 0)
    assert X[0] @ X[1] > 0.6 > abs(X[0] @ X[2])
    assert np.array_equal(get_embedder(e.name).embed(["the cat"]), e.embed(["the cat"]))
