import orjson
import pytest


def synthetic_rows(n: int = 120) -> list[dict]:
    """Three models on two kinds of prompt: `cheap` is right on arithmetic only, `mid` on half
    of the history questions, `strong` always; answers are letters so cascades can agree."""
    rows = []
    for i in range(n):
        arith = i % 2 == 0
        text = (
            f"What is {i} plus {i + 1}?\nA) {2 * i + 1}\nB) {2 * i}\nAnswer:"
            if arith
            else f"In which century did event number {i} of the old kingdom happen?\nA) tenth\nB) ninth\nAnswer:"
        )
        cheap_ok = arith
        mid_ok = arith or i % 4 == 1
        rows.append(
            {
                "id": f"r{i}",
                "task": "arith" if arith else "history",
                "messages": [{"role": "user", "content": text}],
                "outcomes": {
                    "cheap": {"quality": float(cheap_ok), "cost_usd": 1e-4, "response": "A" if cheap_ok else "B"},
                    "mid": {"quality": float(mid_ok), "cost_usd": 3e-4, "response": "A" if mid_ok else "C"},
                    "strong": {"quality": 1.0, "cost_usd": 5e-3, "response": "A"},
                },
            }
        )
    return rows


@pytest.fixture
def synthetic_file(tmp_path):
    p = tmp_path / "synthetic.jsonl"
    p.write_bytes(b"\n".join(orjson.dumps(r) for r in synthetic_rows()) + b"\n")
    return p
