import numpy as np
import pytest

from faregate.routing.cascade import Arm, json_valid, normalise_answer, run_agreement, simulate
from faregate.routing.data import OutcomeTable


@pytest.mark.parametrize(
    "raw,norm",
    [
        ("B", "B"),
        ("B\n", "B"),
        ("(c) the moon", "C"),
        ("Answer: D", "D"),
        ("  Hello   World ", "hello world"),
        ("", None),
        (None, None),
    ],
)
def test_normalise_answer(raw, norm):
    assert normalise_answer(raw) == norm


def test_run_agreement():
    assert run_agreement(["A", "a) yes"])
    assert not run_agreement(["A", "B"])
    assert run_agreement(["A", "B", "B\n"])


def test_json_judge():
    assert json_valid('{"a": 1}')
    assert not json_valid("{'a': 1}")
    schema = {"type": "json_schema", "json_schema": {"schema": {"type": "object", "required": ["name"]}}}
    assert json_valid('{"name": "x"}', schema)
    assert not json_valid('{"nom": "x"}', schema)
    assert not json_valid("[1]", {"type": "object"})


def test_simulate_scores_cost_of_every_call_and_quality_of_the_last():
    # Row 0: cheap models agree (right) -> stop after two. Row 1: they disagree -> strong answers.
    t = OutcomeTable(
        ["a", "b", "s"],
        np.array([[1, 1, 1], [0, 1, 0.0]]),
        np.array([[1, 2, 10], [1, 2, 10.0]]),
        [["B", "B", "B"], ["A", "C", "D"]],
    )
    q, c, reached = simulate(Arm(("a", "b", "s"), "agree"), t)
    assert q.tolist() == [1, 0] and c.tolist() == [3, 13]
    assert reached.tolist() == [[1, 1, 0], [1, 1, 1]]
    q, c, _ = simulate(Arm(("b",)), t)
    assert q.tolist() == [1, 1] and c.tolist() == [2, 2]
    assert Arm.from_key(Arm(("a", "b", "s"), "agree").key) == Arm(("a", "b", "s"), "agree")


def test_simulate_scorer_judge_accepts_confident_answers_only():
    t = OutcomeTable(
        ["a", "s"],
        np.array([[1, 1], [0, 1.0], [1, 0.0]]),
        np.array([[1, 10], [1, 10], [1, 10.0]]),
        [["A", "A"], ["B", "A"], ["C", "D"]],
    )
    scores = {"a": np.array([0.9, 0.2, 0.6])}
    q, c, reached = simulate(Arm(("a", "s"), "scorer@0.7"), t, scores)
    assert q.tolist() == [1, 1, 0] and c.tolist() == [1, 11, 11]
    assert reached.tolist() == [[1, 0], [1, 1], [1, 1]]
    assert Arm.from_key("scorer@0.7:a>s") == Arm(("a", "s"), "scorer@0.7")
