"""Secret redaction: one function for every text that leaves the gateway or is stored.

``redact`` masks configured secret values (upstream credentials) and anything shaped like a
credential: bearer/basic tokens, OpenAI/Anthropic ``sk-`` keys (whole or masked like
``sk-abc***wxyz``), faregate ``fg-`` keys, Google ``AIza`` keys, AWS access key ids and secret
keys, GitHub and Slack tokens, and ``key=...`` / ``api_key: ...`` pairs; e-mail addresses
optionally. Error messages sent to clients use ``ERROR_MARKER``; the request log stores
``LOG_MARKER`` (the spellings each surface has always used).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import overload

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
    for s in secrets:
        if len(s) >= _MIN_SECRET_LEN and s in text:
            text = text.replace(s, marker)
    for pattern, keep in _PATTERNS:
        text = pattern.sub(_replacer(keep, marker), text)
    if emails:
        text = _EMAIL.sub(EMAIL_MARKER, text)
    return text
