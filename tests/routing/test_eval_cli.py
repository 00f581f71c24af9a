"""``faregate eval`` refuses bad options and unwritable outputs up front, with a message saying
what to fix and exit status 2 (never a traceback, never after the evaluation ran)."""

import orjson
import pytest
from click.testing import CliRunner

from faregate.routing import evaluate
from faregate.routing.commands import eval_cmd, train_cmd


def synthetic_rows(path, n: int) -> list[dict]:
    """The first ``n`` rows of the ``synthetic_file`` fixture (tests/routing/conftest.py)."""
    return [orjson.loads(line) for line in path.read_bytes().splitlines()[:n]]


def _write(path, rows):
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    return path


def _refused(args, *needles):
    """Exit status 2, a usage error (not an exception), and every needle in the message."""
    res = CliRunner().invoke(eval_cmd, [str(a) for a in args])
    assert res.exit_code == 2, res.output
    assert isinstance(res.exception, SystemExit), res.exception
    for needle in needles:
        assert needle in res.output, res.output
    return res


@pytest.fixture
def no_evaluation(monkeypatch):
    """Fail the test if an evaluation starts: the checks must come first."""

    def boom(*args, **kwargs):
        raise AssertionError("the evaluation ran before the options were checked")

    monkeypatch.setattr(evaluate, "cross_validate", boom)
    monkeypatch.setattr(evaluate, "train_test", boom)


@pytest.mark.parametrize("k", ["1", "0", "-2"])
def test_cv_below_two_is_refused(synthetic_file, k, no_evaluation):
    # --cv 1 used to crash in the fit (no training rows), -2 in the sweep, 0 ran 5 folds silently.
    _refused([synthetic_file, "--cv", k], "'--cv'", "from 2 up to the number of rows")


def test_cv_above_the_rows_is_refused_naming_the_count(synthetic_file, tmp_path, no_evaluation):
    _refused([synthetic_file, "--cv", "121"], "121 folds for the 120 rows", "number of rows (120)")
    four = _write(tmp_path / "four.jsonl", synthetic_rows(synthetic_file, 4))
    _refused([four], "5 folds (the default) for the 4 rows", "(4)")


def test_cv_that_leaves_a_training_fold_too_small_is_refused(synthetic_file, tmp_path, no_evaluation):
    three = _write(tmp_path / "three.jsonl", synthetic_rows(synthetic_file, 3))
    _refused([three, "--cv", "2"], "training fold would have 1 row", "use --cv 3")
    two = _write(tmp_path / "two.jsonl", synthetic_rows(synthetic_file, 2))
    _refused([two, "--cv", "2"], "needs at least 3 rows")


def test_cv_up_to_the_rows_runs(synthetic_file, tmp_path):
    three = _write(tmp_path / "three.jsonl", synthetic_rows(synthetic_file, 3))
    res = CliRunner().invoke(eval_cmd, [str(three), "--cv", "3", "--no-cascades"])
    assert res.exit_code == 0, res.output
    assert "AIQ" in res.output


def test_cv_with_train_test_is_refused_even_when_zero(synthetic_file, no_evaluation):
    _refused(["--train", synthetic_file, "--test", synthetic_file, "--cv", "0"], "'--cv'")
    _refused(["--train", synthetic_file, "--test", synthetic_file, "--cv", "3"], "no --cv")
    _refused([synthetic_file, "--train", synthetic_file], "go together")


def test_train_and_test_with_different_models_name_them(synthetic_file, tmp_path, no_evaluation):
    rows = synthetic_rows(synthetic_file, 120)
    test = [
        {
            **r,
            "outcomes": {
                "cheap": r["outcomes"]["cheap"],
                "strong": r["outcomes"]["strong"],
                "other": r["outcomes"]["mid"],
            },
        }
        for r in rows[80:]
    ]
    a = _write(tmp_path / "a.jsonl", rows[:80])
    b = _write(tmp_path / "b.jsonl", test)
    # Used to be a KeyError traceback from the test file's outcome table.
    _refused(
        ["--train", a, "--test", b],
        "must have the same models",
        "--test lacks mid",
        "--train lacks other",
        "--models cheap,strong",
    )


def test_train_and_test_on_the_models_both_have_runs(synthetic_file, tmp_path):
    rows = synthetic_rows(synthetic_file, 120)
    test = [{**r, "outcomes": {m: r["outcomes"][m] for m in ("cheap", "strong")}} for r in rows[80:]]
    a = _write(tmp_path / "a.jsonl", rows[:80])
    b = _write(tmp_path / "b.jsonl", test)
    res = CliRunner().invoke(eval_cmd, ["--train", str(a), "--test", str(b), "--models", "cheap,strong"])
    assert res.exit_code == 0, res.output
    assert "cost to match strong" in res.output


def test_train_file_of_one_row_is_refused(synthetic_file, tmp_path, no_evaluation):
    one = _write(tmp_path / "one.jsonl", synthetic_rows(synthetic_file, 1))
    _refused(["--train", one, "--test", synthetic_file], "'--train'", "1 row(s)", "at least 2")


@pytest.mark.parametrize("flag", ["--decisions", "--plot", "--reliability"])
def test_unwritable_output_is_refused_before_evaluating(synthetic_file, tmp_path, flag, no_evaluation):
    missing = tmp_path / "no" / "such" / "out.file"
    _refused(
        [synthetic_file, "--cv", "3", flag, missing], f"'{flag}'", f"{missing.parent} is not an existing directory"
    )
    _refused(["--train", synthetic_file, "--test", synthetic_file, flag, missing], f"'{flag}'")
    d = tmp_path / "sets"
    d.mkdir()
    _write(d / "s.jsonl", synthetic_rows(synthetic_file, 30))
    _refused(["--all", d, "--cv", "3", flag, missing], f"'{flag}'", "out.s.file")


def test_train_refuses_an_unwritable_model_file_and_a_single_row(synthetic_file, tmp_path):
    res = CliRunner().invoke(train_cmd, [str(synthetic_file), "-o", str(tmp_path / "no" / "r.model")])
    assert res.exit_code == 2 and "'--output'" in res.output and "not an existing directory" in res.output
    one = _write(tmp_path / "one.jsonl", synthetic_rows(synthetic_file, 1))
    res = CliRunner().invoke(train_cmd, [str(one), "-o", str(tmp_path / "r.model")])
    assert res.exit_code == 2 and "at least 2" in res.output, res.output
