"""Guardrail text processing: detectors with checksums, masking and restore, stream windows."""

from __future__ import annotations

import pytest

from faregate.guardrails import pii
from faregate.guardrails.engine import Guardrail, GuardrailBlocked, GuardrailSpec, guard_messages
from faregate.guardrails.masking import MAX_PLACEHOLDER_LEN, Vault, mask, placeholders, restore
from faregate.guardrails.window import StreamWindow

CARD = "4111 1111 1111 1111"
IBAN = "GB82 WEST 1234 5698 7654 32"
EMAIL = "ada.lovelace@example.com"
SECRET = "sk-abcdefghijklmnop1234"
VALUES = {
    "card": CARD,
    "iban": IBAN,
    "email": EMAIL,
    "ip": "192.168.1.20",
    "phone": "+1 415 555 0100",
    "secret": SECRET,
}


@pytest.mark.parametrize("kind", sorted(VALUES))
def test_each_class_is_found_with_its_kind(kind: str) -> None:
    text = f"hello, mine is {VALUES[kind]} thanks"
    found = pii.find(text)
    assert [(text[m.start : m.end], m.kind) for m in found] == [(VALUES[kind], kind)]


def test_checksums_reject_lookalikes() -> None:
    assert pii.luhn_ok("4111111111111111") and not pii.luhn_ok("4111111111111112")
    assert pii.iban_ok("DE89370400440532013000") and not pii.iban_ok("DE89370400440532013001")
    assert not [
        m for m in pii.find("order 4111 1111 1111 1112 and GB82 WEST 1234 5698 7654 33") if m.kind in ("card", "iban")
    ]
    assert pii.find("version 999.1.1.1 is out") == []


def test_mask_then_restore_round_trips_and_reuses_placeholders() -> None:
    text = f"write to {EMAIL}, again {EMAIL}, card {CARD}"
    vault = Vault()
    masked = mask(text, pii.find(text), vault)
    assert EMAIL not in masked and CARD not in masked
    assert masked == "write to [EMAIL_1], again [EMAIL_1], card [CARD_1]"
    assert restore(masked, vault) == text
    assert restore("unknown [EMAIL_9] stays", vault) == "unknown [EMAIL_9] stays"


def _stream(window: StreamWindow, text: str, cuts: list[int]) -> str:
    out, pos = [], 0
    for c in [*cuts, len(text)]:
        out.append(window.feed(text[pos:c]))
        pos = c
    out.append(window.flush())
    return "".join(out)


def test_a_value_split_across_chunks_is_masked_at_every_split_point() -> None:
    text = f"my card is {CARD} and my mail {EMAIL} ok"
    start = text.index(CARD)
    for cut in range(start + 1, start + len(CARD)):
        vault = Vault()
        w = StreamWindow(pii.find, lambda t, ms, v=vault: mask(t, ms, v), hold=pii.MAX_VALUE_LEN)
        got = _stream(w, text, [cut, cut + 7])
        assert got == "my card is [CARD_1] and my mail [EMAIL_1] ok", cut


def test_restore_works_across_chunk_boundaries_and_memory_stays_bounded() -> None:
    vault = Vault()
    mask(EMAIL, pii.find(EMAIL), vault)
    w = StreamWindow(placeholders, lambda t, _ms: restore(t, vault), hold=MAX_PLACEHOLDER_LEN)
    answer = "Sure, I wrote to [EMAIL_1] today. " * 50
    pieces = [answer[i : i + 5] for i in range(0, len(answer), 5)]
    out = []
    for p in pieces:
        out.append(w.feed(p))
        assert len(w._buf) <= 2 * MAX_PLACEHOLDER_LEN + 5  # hold-back plus one value straddling the cut
    out.append(w.flush())
    assert "".join(out) == answer.replace("[EMAIL_1]", EMAIL)


def test_block_names_the_guardrail_and_never_echoes_the_text() -> None:
    g = Guardrail(GuardrailSpec(name="no-cards", type="pii", action="block", kinds=["card"]))
    with pytest.raises(GuardrailBlocked) as e:
        guard_messages([g], [{"role": "user", "content": f"charge {CARD}"}], Vault())
    assert e.value.status == 400 and "no-cards" in e.value.message
    assert CARD not in str(e.value.envelope()) and "1111" not in e.value.message
    assert e.value.decision.kinds == ("card",)


def test_messages_are_masked_in_strings_and_parts_and_decisions_hold_no_text() -> None:
    guards = [
        Guardrail(GuardrailSpec(name="pii", type="pii")),
        Guardrail(GuardrailSpec(name="codes", type="regex", patterns=[r"PROJECT-\d+"])),
    ]
    messages = [
        {"role": "system", "content": "be nice"},
        {"role": "user", "content": [{"type": "text", "text": f"I am {EMAIL} on PROJECT-42"}]},
    ]
    out, decisions = guard_messages(guards, messages, Vault())
    assert out[0] == messages[0]
    assert out[1]["content"][0]["text"] == "I am [EMAIL_1] on [PATTERN_1]"
    assert messages[1]["content"][0]["text"].startswith("I am ada")  # the caller's copy is untouched
    by_name = {d.guardrail: d for d in decisions}
    assert (by_name["pii"].action, by_name["pii"].kinds, by_name["codes"].kinds) == ("mask", ("email",), ("pattern",))
    assert EMAIL not in repr(decisions) and "PROJECT-42" not in repr(decisions)


def test_bad_specs_say_what_to_fix() -> None:
    with pytest.raises(ValueError, match="unknown pii kinds"):
        GuardrailSpec(name="x", type="pii", kinds=["ssn"])
    with pytest.raises(ValueError, match="does not compile"):
        GuardrailSpec(name="x", type="regex", patterns=["("])


def test_config_lists_the_classes_the_detectors_know() -> None:
    from faregate.config.guardrails import PII_KINDS

    assert set(PII_KINDS) == set(pii.KINDS)
