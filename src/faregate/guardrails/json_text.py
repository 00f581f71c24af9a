"""Detect and replace values inside JSON text (tool-call arguments) so that it stays valid JSON.

The raw JSON is lexed into a *view* of the same length: the characters of string values and of
numbers are kept, everything else (quotes, structure, escape sequences) becomes a space, and
every character is tagged with the string or number it belongs to. A detector runs on the view
(offsets are the raw offsets); a match is kept only if it lies inside one string or one number
and touches no escape sequence, so replacing it never breaks the JSON. A match inside a number
widens to the whole number and its replacement is quoted (``"[CARD_1]"``): a number cannot
hold a placeholder. ``JsonWindow`` does the same over a stream of argument pieces.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import orjson

from .masking import PLACEHOLDER, Vault
from .pii import Match

Finder = Callable[[str], list[Match]]
_NUMBER = frozenset("0123456789+-.eE")
_NUMBER_START = frozenset("-0123456789")
_OUT, _STR, _ESC, _HEX = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class Lex:
    """Where the lexer is at a cut: outside strings, in one, after a backslash, in ``\\uXXXX``."""

    mode: int = _OUT
    hex_left: int = 0


@dataclass(frozen=True, slots=True)
class Found:
    """A match in raw JSON; ``number``: it replaces a whole number, so the replacement is quoted."""

    start: int
    end: int
    kind: str
    number: bool = False


class _Lexed(NamedTuple):
    view: str
    segs: list[int]  # the string or number each character belongs to, -1 for none
    numbers: dict[int, tuple[int, int]]  # number segments' spans
    end: Lex  # the state after the text
    settled: int  # the last offset outside every string and number


def _lex(raw: str, state: Lex) -> _Lexed:
    """Lex ``raw`` from ``state`` (see ``_Lexed``)."""
    view: list[str] = []
    segs: list[int] = []
    numbers: dict[int, tuple[int, int]] = {}
    mode, hex_left = state.mode, state.hex_left
    seg = settled = 0
    for i, ch in enumerate(raw):
        tag = -1
        if mode == _OUT:
            growing = bool(segs) and segs[-1] == seg and seg in numbers
            if ch in _NUMBER and (growing or ch in _NUMBER_START):
                if not growing:
                    seg += 1
                    numbers[seg] = (i, i)
                numbers[seg] = (numbers[seg][0], i + 1)
                tag = seg
            elif ch == '"':
                mode, seg = _STR, seg + 1
        elif mode == _STR:
            if ch == '"':
                mode = _OUT
            elif ch == "\\":
                mode = _ESC
            else:
                tag = seg
        elif mode == _ESC:
            mode, hex_left = (_HEX, 4) if ch == "u" else (_STR, 0)
        else:
            hex_left -= 1
            if hex_left <= 0:
                mode = _STR
        view.append(ch if tag >= 0 else " ")
        segs.append(tag)
        if mode == _OUT and tag < 0:
            settled = i + 1
    return _Lexed("".join(view), segs, numbers, Lex(mode, hex_left), settled)


def advance(raw: str, state: Lex) -> Lex:
    """The lexer state after ``raw``."""
    return _lex(raw, state).end


def find(raw: str, finder: Finder, state: Lex = Lex()) -> list[Found]:
    """The finder's matches that can be replaced without breaking the JSON, in order."""
    return _find(raw, finder, state)[0]


def _find(raw: str, finder: Finder, state: Lex) -> tuple[list[Found], _Lexed]:
    lexed = _lex(raw, state)
    view, segs, numbers = lexed.view, lexed.segs, lexed.numbers
    out: list[Found] = []
    for m in finder(view):
        seg = segs[m.start] if m.end > m.start else -1
        if seg < 0 or any(segs[i] != seg for i in range(m.start, m.end)):
            continue
        if seg in numbers:
            start, end = numbers[seg]
            f = Found(start, end, m.kind, number=True)
        else:
            f = Found(m.start, m.end, m.kind)
        if not out or out[-1].end <= f.start:
            out.append(f)
    return out, lexed


def replace(raw: str, found: list[Found], token: Callable[[Found, str], str]) -> str:
    """``raw`` with each match replaced by ``token(match, value)``, quoted where it was a number.
    Tokens are placeholders (``[A-Z_0-9]``), which need no escaping inside a JSON string."""
    out: list[str] = []
    pos = 0
    for f in found:
        t = token(f, raw[f.start : f.end])
        out += [raw[pos : f.start], f'"{t}"' if f.number else t]
        pos = f.end
    out.append(raw[pos:])
    return "".join(out)


def mask(raw: str, found: list[Found], vault: Vault) -> str:
    return replace(raw, found, lambda f, value: vault.token_for(f.kind, value))


def redact(raw: str, found: list[Found]) -> str:
    return replace(raw, found, lambda f, _v: f"[{f.kind.upper()}_REDACTED]")


def restore(raw: str, vault: Vault) -> str:
    """Placeholders back to their values, JSON-escaped (a value may hold a quote or a backslash)."""
    if not vault:
        return raw

    def sub(m: re.Match[str]) -> str:
        token = m.group(0)
        value = vault.value_of(token)
        return token if value is None else orjson.dumps(value).decode()[1:-1]

    return PLACEHOLDER.sub(sub, raw)


def is_json(raw: str) -> bool:
    """Whether ``raw`` parses as JSON (arguments that do not are guarded as plain text)."""
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    return True


Transform = Callable[[str, list[Found]], str]


class JsonWindow:
    """A ``StreamWindow`` for JSON pieces: holds back ``hold`` characters, never cuts inside a
    match or a number (a number may still be growing), and carries the lexer state over cuts so a
    piece that starts inside a string is read as one."""

    def __init__(self, finder: Finder, transform: Transform, hold: int) -> None:
        self._find = finder
        self._transform = transform
        self._hold = hold
        self._buf = ""
        self._state = Lex()

    def feed(self, chunk: str) -> str:
        self._buf += chunk
        cut = len(self._buf) - self._hold
        if cut <= 0:
            return ""
        found, lexed = _find(self._buf, self._find, self._state)
        spans = sorted([(f.start, f.end) for f in found] + list(lexed.numbers.values()), reverse=True)
        for start, end in spans:  # from the right, so a span that ends before a moved cut is left alone
            if start < cut < end:
                cut = start
        if cut <= 0:
            return ""
        return self._release(cut, [f for f in found if f.end <= cut])

    def flush(self) -> str:
        if not self._buf:
            return ""
        return self._release(len(self._buf), _find(self._buf, self._find, self._state)[0])

    def settle(self) -> str:
        """Release what is held up to the last point outside every string and number: what a
        call interrupted by another may release without cutting a value in two (all of it when
        its JSON is complete, as it is when providers stream calls one after another)."""
        if not self._buf:
            return ""
        found, lexed = _find(self._buf, self._find, self._state)
        if lexed.settled <= 0:
            return ""
        return self._release(lexed.settled, [f for f in found if f.end <= lexed.settled])

    def _release(self, cut: int, found: list[Found]) -> str:
        head, self._buf = self._buf[:cut], self._buf[cut:]
        self._state = advance(head, self._state)
        return self._transform(head, found)
