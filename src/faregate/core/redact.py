"""Secret redaction: one function for every text that leaves the gateway or is stored.

``redact`` masks configured secret values (upstream credentials) and anything shaped like a
credential: bearer/basic tokens, OpenAI/Anthropic ``sk-`` keys (whole or masked like
``sk-abc***wxyz``), faregate ``fg-`` keys, Google ``AIza`` keys, AWS access key ids and secret
keys, GitHub and Slack tokens, and ``key=...`` / ``api_key: ...`` pairs; e-mail addresses
optionally. Error messages sent to clients use ``ERROR_MARKER``; the request log stores
``LOG_MARKER`` (the spellings each surface has always used).

A ``Redactor`` is that redaction compiled for one set of configured secrets (a config
snapshot's upstream keys and auth header values): it masks each value exactly, its JSON- and
URL-escaped spellings, and the masked forms providers echo back (``sk-ab***********wxyz``,
``abcd...wxyz``, ``abcd…wxyz``: a run of ``*`` or ``•``, ``...`` or ``…`` between a head
and a tail of the secret that show four characters or more between them). Upstream errors are
redacted with it where they are captured, so every sink after that sees the masked text.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable
from typing import TypeVar, overload
from urllib.parse import quote

E = TypeVar("E", bound=BaseException)

ERROR_MARKER = "[redacted]"
LOG_MARKER = "[REDACTED]"
EMAIL_MARKER = "[EMAIL]"

# (pattern, how many leading groups are kept in front of the marker)
_PATTERNS: tuple[tuple[re.Pattern[str], int], ...] = (
    # "Bearer <token>" / "Basic <credentials>": the scheme stays, the credential goes.
    (re.compile(r"(?i)\b((?:bearer|basic)\s+)[^\s\"',;]+"), 1),
    (re.compile(r"\bsk-[A-Za-z0-9_\-*.]{6,}"), 0),  # OpenAI / Anthropic keys, masked ones too
    (re.compile(r"\bfg-[A-Za-z0-9_\-]{8,}"), 0),  # faregate keys
    (re.compile(r"\bAIza[0-9A-Za-z_\-]{10,}"), 0),  # Google API keys
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), 0),  # AWS access key ids
    (re.compile(r"(?i)(aws_secret_access_key\s*[=:]\s*)[A-Za-z0-9/+=]{40}"), 1),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"), 0),  # GitHub tokens
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9\-]{10,}"), 0),  # Slack tokens
    # "api_key: ...", "key=...", "token=...": the name stays. A value that is already masked,
    # or an auth scheme whose credential the first pattern masked, is left alone.
    (
        re.compile(
            r"(?i)\b((?:x-goog-|x-)?api[_-]?key|authorization|key|token|secret)(\"?\s*[:=]\s*\"?)"
            r"(?!\[redacted\]|(?:bearer|basic)\s)[^\s\"',;&]{4,}"
        ),
        2,
    ),
)
# A masking run between a revealed head and tail: "***", "•••", "...", "…".
_MASK_RUN = re.compile(r"[*\u2022]{2,}|\.{3,}|\u2026+")
_MASK_EDGE = re.compile(r"[^\s\"'`*\u2022\u2026.,;:()\[\]{}<>]{0,64}")  # the revealed part next to a run
_MIN_REVEALED = 4  # head + tail shown; fewer says too little to mask (and would mask words)
_MIN_MASKED_SECRET = 8  # shorter secrets have no meaningful masked form
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_MIN_SECRET_LEN = 4  # shorter configured values would mask ordinary words


def _replacer(keep: int, marker: str) -> Callable[[re.Match[str]], str]:
    def repl(m: re.Match[str]) -> str:
        return "".join(m.group(i) for i in range(1, keep + 1)) + marker

    return repl


@overload
def redact(text: str, secrets: Iterable[str] = ..., *, emails: bool = ..., marker: str = ...) -> str: ...
@overload
def redact(text: None, secrets: Iterable[str] = ..., *, emails: bool = ..., marker: str = ...) -> None: ...


def redact(
    text: str | None, secrets: Iterable[str] = (), *, emails: bool = False, marker: str = ERROR_MARKER
) -> str | None:
    """``text`` with every configured secret value in ``secrets`` and everything shaped like a
    credential replaced by ``marker``; e-mail addresses too when ``emails``. None and "" pass."""
    if not text:
        return text
    return Redactor.of(frozenset(secrets))(text, emails=emails, marker=marker)


def _patterns(text: str, *, emails: bool, marker: str) -> str:
    for pattern, keep in _PATTERNS:
        text = pattern.sub(_replacer(keep, marker), text)
    if emails:
        text = _EMAIL.sub(EMAIL_MARKER, text)
    return text


class Redactor:
    """``redact`` compiled for one set of configured secrets (see the module docstring).

    ``Redactor.of(secrets)`` is cached per set, so every config snapshot with the same
    credentials shares one; calling it is ``redact(text, secrets)``."""

    __slots__ = ("_exact", "_masked")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = sorted({s for s in secrets if s and len(s) >= _MIN_SECRET_LEN}, key=len, reverse=True)
        spellings: set[str] = set()
        for v in values:
            spellings.update((v, json.dumps(v)[1:-1], quote(v, safe=""), quote(v, safe="/")))
        # Longest first, so a secret that contains another is masked whole.
        self._exact = tuple(sorted(spellings, key=len, reverse=True))
        self._masked = tuple(v for v in values if len(v) >= _MIN_MASKED_SECRET)

    @staticmethod
    @functools.lru_cache(maxsize=64)
    def of(secrets: frozenset[str]) -> Redactor:
        return Redactor(secrets)

    @overload
    def __call__(self, text: str, *, emails: bool = ..., marker: str = ...) -> str: ...
    @overload
    def __call__(self, text: None, *, emails: bool = ..., marker: str = ...) -> None: ...

    def __call__(self, text: str | None, *, emails: bool = False, marker: str = ERROR_MARKER) -> str | None:
        if not text:
            return text
        for s in self._exact:
            if s in text:
                text = text.replace(s, marker)
        if self._masked:
            text = self._unmask(text, marker)
        return _patterns(text, emails=emails, marker=marker)

    def error(self, err: E) -> E:
        """``err`` (an exception with a ``message``) redacted in place, its ``args`` too, so
        ``str(err)`` and a logged traceback say no more than ``err.message``."""
        message = getattr(err, "message", None)
        if isinstance(message, str):
            err.message = self(message)  # type: ignore[attr-defined]
            err.args = (err.message,)  # type: ignore[attr-defined]
        return err

    def _unmask(self, text: str, marker: str) -> str:
        """Replace every ``head<mask run>tail`` whose head starts and tail ends a secret."""
        out: list[str] = []
        pos = 0
        for m in _MASK_RUN.finditer(text):
            if m.start() < pos:
                continue
            before = text[max(pos, m.start() - 64) : m.start()]
            head = _edge_before(before)
            tail_m = _MASK_EDGE.match(text, m.end())
            tail = tail_m.group(0) if tail_m else ""
            cut = self._revealed(head, tail)
            if cut is None:
                continue
            h, t = cut
            out.append(text[pos : m.start() - h])
            out.append(marker)
            pos = m.end() + t
        if not out:
            return text
        out.append(text[pos:])
        return "".join(out)

    def _revealed(self, head: str, tail: str) -> tuple[int, int] | None:
        """(head length, tail length) of the longest secret-revealing head/tail, or None."""
        best: tuple[int, int] | None = None
        for s in self._masked:
            h = next((len(head) - i for i in range(len(head)) if s.startswith(head[i:])), 0)
            t = next((j for j in range(len(tail), 0, -1) if s.endswith(tail[:j])), 0)
            if h + t >= _MIN_REVEALED and h + t < len(s) and (best is None or h + t > sum(best)):
                best = (h, t)
        return best


def _edge_before(before: str) -> str:
    """The revealed characters right before a mask run (the tail of ``before`` outside the stop set)."""
    i = len(before)
    while i > 0 and _MASK_EDGE.fullmatch(before[i - 1]):
        i -= 1
    return before[i:]
