"""The security suite's index: the attacks that were refused before the hardening pass, and the
test in ``tests/security`` that keeps each one refused (the harnesses they share with their
modules' suites are in ``tests/keys_harness.py`` and ``tests/limits_services.py``). This test
fails if any of them is removed, renamed or moved out of ``tests/security``;
``docs/security.md`` lists the same table."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SECURITY = Path(__file__).resolve().parent

INDEX = {
    "SQL-shaped, oversized and malformed keys get the same 401, nothing echoed": [
        "test_keys_security.py::test_hostile_keys_get_the_same_401_at_the_auth_step",
        "test_keys_security.py::test_hostile_keys_over_http_are_refused_with_nothing_echoed",
    ],
    "timing of bad keys (constant-time digest compare, same refusal any length)": [
        "test_master_key.py::test_wrong_keys_are_refused_alike_through_the_digest_compare",
        "test_master_key.py::test_same_and_different_length_give_the_same_message_on_each_route_group",
    ],
    "canary keys never in responses, logs or request-log rows": [
        "test_keys_security.py::test_a_canary_key_never_leaks",
    ],
    "mass assignment on the admin API": [
        "test_keys_security.py::test_mass_assignment_refused_on_create",
        "test_keys_security.py::test_mass_assignment_refused_on_update",
        "test_keys_security.py::test_a_key_cannot_raise_its_own_limits_through_the_data_plane",
    ],
    "route inventory: every route but the public ones needs a key": [
        "test_keys_security.py::test_route_inventory_every_route_needs_a_key",
        "test_openapi.py::test_every_route_of_the_app_is_described_and_nothing_else",
    ],
    "exact rpm under concurrency": [
        "test_limits_concurrency.py::test_concurrent_hits_admit_exactly_the_limit",
        "test_limits_exactness.py::test_three_replicas_admit_exactly_100_of_1000",
    ],
    "oversized bodies, 100k messages, bad fields": [
        "test_bad_input.py::test_oversized_body_is_413_whether_or_not_its_length_is_announced",
        "test_bad_input.py::test_hundred_thousand_messages_are_refused_and_memory_stays_bounded",
        "test_bad_input.py::test_each_bad_body_gets_a_400_that_names_the_fault",
    ],
}


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        n.name
        for n in tree.body
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name.startswith("test_")
    }


@pytest.mark.parametrize("attack", list(INDEX))
def test_every_indexed_defence_still_has_its_test(attack):
    for node in INDEX[attack]:
        file, _, name = node.partition("::")
        path = SECURITY / file
        assert path.exists(), f"{attack}: {file} is gone"
        assert name in _test_names(path), f"{attack}: {node} is gone (update the index and docs/security.md)"


def test_no_attack_test_lives_outside_the_security_suite():
    """The suite has one home: no security test module elsewhere under ``tests``."""
    strays = [
        p.relative_to(SECURITY.parent).as_posix()
        for p in SECURITY.parent.rglob("test_*.py")
        if p.parent != SECURITY and any(w in p.stem for w in ("security", "master_key", "bad_input", "exactness"))
    ]
    assert strays == [], f"move these into tests/security: {strays}"
