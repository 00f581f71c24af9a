"""Guardrails as configured: one compiled ``GuardrailSpec`` per ``guardrails:`` entry, applied to a request's messages.

A guardrail inspects text and either passes it, masks what it found (placeholders kept in a
per-request ``Vault`` so the answer can be restored) or blocks the request with a 400 that
names the guardrail and never echoes the text. Every decision records the classes matched and
how many, never the matched text, so it can go into the request log and metrics as it is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..config.guardrails import GuardrailSpec
from ..core.errors import InvalidRequest
from . import json_text, pii, walk
from .masking import Vault, mask, redact


@dataclass(frozen=True, slots=True)
class Decision:
    """What a guardrail did, safe to log: no matched text, only classes and a count."""

    guardrail: str
    action: str  # "pass" | "mask" | "block"
    stage: str  # "request" | "response"
    kinds: tuple[str, ...] = ()
    count: int = 0


class GuardrailBlocked(InvalidRequest):
    """A guardrail refused the request: 400, names the guardrail, never quotes the text."""

    code = "guardrail_blocked"

    def __init__(self, decision: Decision) -> None:
        what = ", ".join(decision.kinds) or "content"
        fix = "remove it and try again" if decision.stage == "request" else "the answer was withheld"
        super().__init__(f"blocked by guardrail {decision.guardrail!r} ({what} found in the {decision.stage}); {fix}")
        self.decision = decision


class Guardrail:
    """A compiled spec: ``find`` spans, then mask or block."""

    def __init__(self, spec: GuardrailSpec) -> None:
        self.spec = spec
        self._patterns = [re.compile(p) for p in spec.patterns]

    @property
    def name(self) -> str:
        return self.spec.name

    def find(self, text: str) -> list[pii.Match]:
        if self.spec.type == "pii":
            return pii.find(text, self.spec.kinds)
        return pii.find_patterns(text, self._patterns)

    def _decide(self, kinds: set[str], count: int, stage: str) -> Decision:
        """The decision over what was found; raises ``GuardrailBlocked`` on a block."""
        if not count:
            return Decision(self.name, "pass", stage)
        decision = Decision(self.name, self.spec.action, stage, tuple(sorted(kinds)), count)
        if self.spec.action == "block":
            raise GuardrailBlocked(decision)
        return decision

    def inspect(self, text: str, vault: Vault, stage: str) -> tuple[str, Decision]:
        """The text to pass on and the decision; raises ``GuardrailBlocked`` on a block."""
        matches = self.find(text)
        decision = self._decide({m.kind for m in matches}, len(matches), stage)
        return (mask(text, matches, vault) if matches else text), decision

    def inspect_json(self, raw: str, vault: Vault, stage: str) -> tuple[str, Decision]:
        """``inspect`` for JSON text (tool-call arguments): values masked inside it, still valid JSON."""
        found = json_text.find(raw, self.find)
        decision = self._decide({f.kind for f in found}, len(found), stage)
        return (json_text.mask(raw, found, vault) if found else raw), decision

    def inspect_output(self, text: str, matches: list[pii.Match]) -> tuple[str, Decision]:
        """An answer's text with new values redacted, or ``GuardrailBlocked``; ``matches`` from ``find``."""
        decision = self._decide({m.kind for m in matches}, len(matches), "response")
        return (redact(text, matches) if matches else text), decision

    def inspect_output_json(self, raw: str, found: list[json_text.Found]) -> tuple[str, Decision]:
        """``inspect_output`` for JSON text; ``found`` from ``json_text.find``."""
        decision = self._decide({f.kind for f in found}, len(found), "response")
        return (json_text.redact(raw, found) if found else raw), decision


def merge(prev: Decision | None, d: Decision) -> Decision:
    """One decision per guardrail and stage: the strongest action, classes and counts summed."""
    if prev is None or prev.action == "pass":
        return d
    if d.action == "pass":
        return prev
    kinds = tuple(sorted(set(prev.kinds) | set(d.kinds)))
    return Decision(d.guardrail, d.action, d.stage, kinds, prev.count + d.count)


def guard_messages(
    guards: Sequence[Guardrail], messages: list[dict[str, Any]], vault: Vault
) -> tuple[list[dict[str, Any]], list[Decision]]:
    """New messages with every text (content, text parts, tool results) and every tool call's
    arguments passed through the guards."""
    decisions: dict[str, Decision] = {}
    text, args = request_fns(guards, vault, decisions)
    return [walk.map_message(m, text, args) for m in messages], list(decisions.values())


def request_fns(
    guards: Sequence[Guardrail], vault: Vault, decisions: dict[str, Decision]
) -> tuple[walk.TextFn, walk.TextFn]:
    """The (text, arguments) functions of the request stage, recording into ``decisions``."""

    def text(t: str) -> str:
        for g in guards:
            t, d = g.inspect(t, vault, "request")
            decisions[g.name] = merge(decisions.get(g.name), d)
        return t

    def args(raw: str) -> str:
        if not json_text.is_json(raw):  # not JSON after all: guarded as the text it is
            return text(raw)
        for g in guards:
            raw, d = g.inspect_json(raw, vault, "request")
            decisions[g.name] = merge(decisions.get(g.name), d)
        return raw

    return text, args


def redacted_fns(guards: Sequence[Guardrail]) -> tuple[walk.TextFn, walk.TextFn]:
    """(text, arguments) functions that redact whatever any of ``guards`` finds, mask or block
    alike: what a blocked request's log shows instead of the text it refused."""

    def text(t: str) -> str:
        for g in guards:
            t = redact(t, g.find(t))
        return t

    def args(raw: str) -> str:
        if not json_text.is_json(raw):
            return text(raw)
        for g in guards:
            raw = json_text.redact(raw, json_text.find(raw, g.find))
        return raw

    return text, args
