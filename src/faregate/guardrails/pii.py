"""PII and secret detectors: one regex per class, plus a checksum where the class has one.

A detector returns spans only; callers decide to mask or block. Checksums (Luhn for card
numbers, ISO 7064 mod-97 for IBANs) keep ordinary digit runs from being taken for values.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Match:
    """One detected value: where it is and its class (never logged with its text)."""

    start: int
    end: int
    kind: str


def luhn_ok(digits: str) -> bool:
    """The Luhn check every payment card number passes."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(iban: str) -> bool:
    """ISO 13616 check: move the first four characters to the end, letters to numbers, mod 97."""
    s = iban.replace(" ", "").upper()
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _ip_ok(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _digits_luhn(text: str) -> bool:
    digits = re.sub(r"[ -]", "", text)
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


_Check = Callable[[str], bool] | None

# Order matters: earlier classes win where spans overlap (a card number is not a phone number).
_PATTERNS: tuple[tuple[str, re.Pattern[str], _Check], ...] = (
    ("email", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"), None),
    (
        "secret",
        re.compile(
            r"\b(?:sk-[A-Za-z0-9_-]{16,}|(?:AKIA|ASIA)[A-Z0-9]{16}|gh[pousr]_[A-Za-z0-9]{30,}"
            r"|xox[abpr]-[A-Za-z0-9-]{10,}|AIza[A-Za-z0-9_-]{35})"
        ),
        None,
    ),
    ("iban", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"), iban_ok),
    ("card", re.compile(r"\b\d(?:[ -]?\d){12,18}\b"), _digits_luhn),
    ("ip", re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b|\b(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{1,4}\b"), _ip_ok),
    ("phone", re.compile(r"(?<![\w+])\+?\d{1,3}?[ .-]?\(?\d{2,4}\)?(?:[ .-]?\d{2,4}){2,4}(?!\w)"), None),
)

KINDS: tuple[str, ...] = tuple(kind for kind, _p, _c in _PATTERNS)

# The longest value worth holding back for in a stream (IBANs with spaces are the longest).
MAX_VALUE_LEN = 64


def _phone_ok(text: str) -> bool:
    return 7 <= sum(ch.isdigit() for ch in text) <= 15


def find(text: str, kinds: Iterable[str] = KINDS) -> list[Match]:
    """Every non-overlapping value of the given classes, in order of position."""
    wanted = set(kinds)
    taken: list[Match] = []
    for kind, pattern, check in _PATTERNS:
        if kind not in wanted:
            continue
        for m in pattern.finditer(text):
            value = m.group(0)
            if check is not None and not check(value):
                continue
            if kind == "phone" and not _phone_ok(value):
                continue
            if not _overlaps(taken, m.start(), m.end()):
                taken.append(Match(m.start(), m.end(), kind))
    return sorted(taken, key=lambda x: x.start)


def find_patterns(text: str, patterns: Sequence[re.Pattern[str]], kind: str = "pattern") -> list[Match]:
    """Matches of configured regexes (the ``regex`` guardrail), non-overlapping, in order."""
    taken: list[Match] = []
    for pattern in patterns:
        for m in pattern.finditer(text):
            if m.end() > m.start() and not _overlaps(taken, m.start(), m.end()):
                taken.append(Match(m.start(), m.end(), kind))
    return sorted(taken, key=lambda x: x.start)


def _overlaps(taken: list[Match], start: int, end: int) -> bool:
    return any(start < t.end and t.start < end for t in taken)
