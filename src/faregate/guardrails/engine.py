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
from . import pii
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

    def inspect(self, text: str, vault: Vault, stage: str) -> tuple[str, Decision]:
        """The text to pass on and the decision; raises ``GuardrailBlocked`` on a block."""
        matches = self.find(text)
        if not matches:
            return text, Decision(self.name, "pass", stage)
        kinds = tuple(sorted({m.kind for m in matches}))
        decision = Decision(self.name, self.spec.action, stage, kinds, len(matches))
        if self.spec.action == "block":
            raise GuardrailBlocked(decision)
        return mask(text, matches, vault), decision

    def inspect_output(self, text: str, matches: list[pii.Match]) -> tuple[str, Decision]:
        """An answer's text with new values redacted, or ``GuardrailBlocked``; ``matches`` from ``find``."""
        if not matches:
            return text, Decision(self.name, "pass", "response")
        kinds = tuple(sorted({m.kind for m in matches}))
        decision = Decision(self.name, self.spec.action, "response", kinds, len(matches))
        if self.spec.action == "block":
            raise GuardrailBlocked(decision)
        return redact(text, matches), decision


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
    """New messages with every text (string content and text parts) passed through the guards."""
    decisions: dict[str, Decision] = {}
    out = [_guard_message(guards, msg, vault, decisions) for msg in messages]
    return out, list(decisions.values())


def _guard_message(
    guards: Sequence[Guardrail], msg: dict[str, Any], vault: Vault, decisions: dict[str, Decision]
) -> dict[str, Any]:
    content = msg.get("content")
    if isinstance(content, str):
        return {**msg, "content": _guard_text(guards, content, vault, decisions)}
    if isinstance(content, list):
        parts = [
            {**p, "text": _guard_text(guards, p["text"], vault, decisions)}
            if isinstance(p, dict) and isinstance(p.get("text"), str)
            else p
            for p in content
        ]
        return {**msg, "content": parts}
    return msg


def _guard_text(guards: Sequence[Guardrail], text: str, vault: Vault, decisions: dict[str, Decision]) -> str:
    for g in guards:
        text, d = g.inspect(text, vault, "request")
        decisions[g.name] = merge(decisions.get(g.name), d)
    return text
