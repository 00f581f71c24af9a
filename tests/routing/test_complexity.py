"""The complexity class: the text heuristic, and the trained router's difficulty where it has one."""

from __future__ import annotations

from faregate.routing import features as F
from faregate.routing.complexity import complexity, heuristic_score


def feats(text: str, tools: list | None = None) -> F.RequestFeatures:
    return F.extract([{"role": "user", "content": text}], tools)


def test_heuristic_classes():
    assert complexity(feats("What is the capital of France?")) == ("simple", "heuristic")
    medium = "Write a python function that reverses a linked list. " + "Be careful with edge cases. " * 60
    assert complexity(feats(medium))[0] == "medium"
    hard = (
        "Prove that the algorithm terminates, derive its time complexity step by step, and compare the "
        "trade-offs of the design against a heap. ```def f(x): ...``` Why does it fail on empty input? "
        "What about duplicates? And cycles?"
    )
    assert complexity(feats(hard))[0] == "complex"
    assert heuristic_score(feats(hard)) > heuristic_score(feats(medium)) > heuristic_score(feats("Hi"))


def test_tools_raise_the_score():
    t = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    assert heuristic_score(feats("Book a table", t)) > heuristic_score(feats("Book a table"))


def test_router_difficulty_wins_over_the_text():
    f = feats("Hi")  # trivial text, but the router expects every model to do badly
    assert complexity(f, {"a": 0.3, "b": 0.5}) == ("complex", "router")
    assert complexity(f, {"a": 0.7, "b": 0.75}) == ("medium", "router")
    assert complexity(f, {"a": 0.95}) == ("simple", "router")
    assert complexity(f, {}) == ("simple", "heuristic")  # a router that knows none of the models
