"""The request log's recent ids: bounded, oldest forgotten first, exact for any id."""

from __future__ import annotations

from faregate.core.ids import new_request_id
from faregate.storage.recent_ids import RecentIds


def test_keeps_the_newest_ids_up_to_its_cap_with_their_owners():
    recent = RecentIds(3)
    ids = [new_request_id() for _ in range(5)]
    for i, rid in enumerate(ids):
        recent.add(rid, f"key{i}" if i % 2 else None)
    assert len(recent) == 3
    assert [rid in recent for rid in ids] == [False, False, True, True, True]
    assert recent[ids[3]] == "key3" and recent[ids[4]] is None


def test_ids_not_of_the_gateways_form_are_kept_as_they_are_and_never_confused():
    recent = RecentIds(10)
    own = "req_00000000001f" + "0" * 12
    recent.add(own, "a")
    for other in ("req_0x000000001f" + "0" * 12, own.upper(), own + "0", "client-id-1", own[:-1] + "_"):
        assert other not in recent
    recent.add("client-id-1", "b")
    assert recent["client-id-1"] == "b" and recent[own] == "a"
    recent.clear()
    assert own not in recent and len(recent) == 0
