"""The security suite's index: attacks refused by defences whose tests live with their module
(they need its harness: the keys app, the limit stores, the master-key check). This test
fails if any of them is removed or renamed, so ``tests/security`` always accounts for the whole
suite; ``docs/security.md`` lists the same table."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent.parent

INDEX = {
    "SQL-shaped, oversized and malformed keys get the same 401, nothing echoed": [
        "keys/test_keys_security.py::test_hostile_keys_get_the_same_401_at_the_auth_step",
        "keys/test_keys_security.py::test_hostile_keys_over_http_are_refused_with_nothing_echoed",
    ],
    "timing of bad keys (constant-time digest compare, same refusal any length)": [
        "server/test_master_key.py::test_wrong_keys_are_refused_alike_through_the_digest_compare",
        "server/test_master_key.py::test_same_and_different_length_give_the_same_message_on_each_route_group",
    ],
    "canary keys never in responses, logs or request-log rows": [
        "keys/test_keys_security.py::test_a_canary_key_never_leaks",
    ],
    "mass assignment on the admin API": [
        "keys/test_keys_security.py::test_mass_assignment_refused_on_create",
        "keys/test_keys_security.py::test_mass_assignment_refused_on_update",
        "keys/test_keys_security.py::test_a_key_cannot_raise_its_own_limits_through_the_data_plane",
    ],
    "route inventory: every route but the public ones needs a key": [
        "keys/test_keys_security.py::test_route_inventory_every_route_needs_a_key",
        "security/test_openapi.py::test_every_route_of_the_app_is_described_and_nothing_else",
    ],
    "exact rpm under concurrency": [
        "limits/test_limits_contract.py::test_concurrent_hits_admit_exactly_the_limit",
        "limits/test_limits_exactness.py::test_three_replicas_admit_exactly_100_of_1000",
    ],
    "oversized bodies, 100k messages, bad fields": [
        "e2e/test_bad_input.py::test_oversized_body_is_413_whether_or_not_its_length_is_announced",
        "e2e/test_bad_input.py::test_hundred_thousand_messages_are_refused_and_memory_stays_bounded",
        "e2e/test_bad_input.py::test_each_bad_body_gets_a_400_that_names_the_fault",
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
        path = TESTS / file
        assert path.exists(), f"{attack}: {file} is gone"
        assert name in _test_names(path), f"{attack}: {node} is gone (update the index and docs/security.md)"
