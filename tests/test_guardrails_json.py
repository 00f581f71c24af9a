"""Guardrails inside JSON (tool-call arguments): values masked, redacted and restored inside
string values (a number widened to a quoted string), the JSON always still valid, and the same
over a stream of argument pieces cut anywhere."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from faregate.guardrails import json_text, pii
from faregate.guardrails.engine import Guardrail, GuardrailSpec, guard_messages
from faregate.guardrails.masking import Vault

EMAIL = "ada.lovelace@example.com"
CARD = "4111111111111111"
PHONE = "+44 20 7946 0958"
RAW = json.dumps({"to": EMAIL, "card": int(CARD), "note": f"call\n{PHONE}", "ok": True, "n": [1, 2], "x": 1.5e3})


def test_values_are_masked_inside_strings_and_numbers_become_quoted_placeholders() -> None:
    vault = Vault()
    masked = json_text.mask(RAW, json_text.find(RAW, pii.find), vault)
    assert json.loads(masked) == {
        "to": "[EMAIL_1]",
        "card": "[CARD_1]",
        "note": "call\n[PHONE_1]",
        "ok": True,
        "n": [1, 2],
        "x": 1.5e3,
    }
    restored = json.loads(json_text.restore(masked, vault))
    assert restored["to"] == EMAIL and restored["note"] == f"call\n{PHONE}" and restored["card"] == CARD


def test_redact_keeps_valid_json_and_never_matches_across_strings() -> None:
    out = json.loads(json_text.redact(RAW, json_text.find(RAW, pii.find)))
    assert out["to"] == "[EMAIL_REDACTED]" and out["card"] == "[CARD_REDACTED]"
    # four numbers in an array read as one card in the view, but they are four values: left alone
    spread = "[4111,1111,1111,1111]"
    assert json_text.find(spread, pii.find) == []


def test_restore_escapes_what_the_value_holds() -> None:
    spec = GuardrailSpec(name="quotes", type="regex", patterns=[r'say "\w+"'])
    vault = Vault()
    masked, _d = Guardrail(spec).inspect('please say "hi"', vault, "request")
    raw = json.dumps({"text": masked})
    assert json.loads(json_text.restore(raw, vault)) == {"text": 'please say "hi"'}


def test_a_value_touching_an_escape_is_not_cut_into() -> None:
    raw = json.dumps({"a": f"x\u00e9{EMAIL}"}, ensure_ascii=True)  # \u00e9 right before the address
    out = json_text.redact(raw, json_text.find(raw, pii.find))
    assert json.loads(out) == {"a": "x\u00e9[EMAIL_REDACTED]"}


def _stream(raw: str, cuts: list[int]) -> str:
    window = json_text.JsonWindow(pii.find, json_text.redact, hold=pii.MAX_VALUE_LEN)
    bounds = [0, *sorted(set(cuts)), len(raw)]
    out = [window.feed(raw[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
    return "".join(out) + window.flush()


def test_the_window_gives_the_whole_answer_wherever_the_pieces_are_cut() -> None:
    whole = json_text.redact(RAW, json_text.find(RAW, pii.find))
    for cut in range(1, len(RAW)):
        assert _stream(RAW, [cut]) == whole, cut
    assert _stream(RAW, list(range(1, len(RAW)))) == whole  # one character at a time


_value = st.one_of(
    st.sampled_from([EMAIL, PHONE, "GB82 WEST 1234 5698 7654 32", "10.0.0.7", "plain words", 'say "x"\\']),
    st.integers(-(10**17), 10**17),
    st.booleans(),
    st.none(),
)
_doc = st.recursive(_value, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3))


@settings(max_examples=150, deadline=None)
@given(doc=st.dictionaries(st.text(max_size=5), _doc, max_size=4), cuts=st.lists(st.integers(1, 400), max_size=6))
def test_any_document_stays_valid_json_streamed_or_whole(doc, cuts) -> None:
    raw = json.dumps(doc)
    whole = json_text.redact(raw, json_text.find(raw, pii.find))
    json.loads(whole)
    assert EMAIL not in whole and PHONE not in whole
    assert _stream(raw, [c for c in cuts if c < len(raw)]) == whole


def test_tool_calls_and_tool_results_of_a_conversation_are_masked() -> None:
    messages = [
        {"role": "user", "content": "mail my friend"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "mail", "arguments": f'{{"to": "{EMAIL}"}}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": f"sent to {EMAIL}"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c2", "function": {"name": "x", "arguments": EMAIL}}],
        },
    ]
    out, decisions = guard_messages([Guardrail(GuardrailSpec(name="pii", type="pii"))], messages, Vault())
    assert EMAIL not in json.dumps(out)
    assert json.loads(out[1]["tool_calls"][0]["function"]["arguments"]) == {"to": "[EMAIL_1]"}
    assert out[2]["content"] == "sent to [EMAIL_1]"
    assert out[3]["tool_calls"][0]["function"]["arguments"] == "[EMAIL_1]"  # not JSON: masked as text
    assert [(d.guardrail, d.action, d.kinds) for d in decisions] == [("pii", "mask", ("email",))]
