"""Swap detected values for placeholders (``[EMAIL_1]``) and, on the way back, restore them.

One ``Vault`` per request: the same value always gets the same placeholder, so the model can
refer to it and the answer can be restored. The vault lives only in memory for the request.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .pii import Match

PLACEHOLDER = re.compile(r"\[([A-Z]+)_(\d{1,4})\]")
# The longest placeholder a stream has to hold back for when restoring.
MAX_PLACEHOLDER_LEN = 20


class Vault:
    """Placeholders of one request, both ways."""

    def __init__(self) -> None:
        self._by_value: dict[str, str] = {}
        self._by_token: dict[str, str] = {}
        self._counts: dict[str, int] = {}

    def token_for(self, kind: str, value: str) -> str:
        token = self._by_value.get(value)
        if token is None:
            n = self._counts.get(kind, 0) + 1
            self._counts[kind] = n
            token = f"[{kind.upper()}_{n}]"
            self._by_value[value] = token
            self._by_token[token] = value
        return token

    def value_of(self, token: str) -> str | None:
        return self._by_token.get(token)

    def __bool__(self) -> bool:
        return bool(self._by_token)


def mask(text: str, matches: Sequence[Match], vault: Vault) -> str:
    """``text`` with every match replaced by its placeholder."""
    if not matches:
        return text
    out: list[str] = []
    pos = 0
    for m in matches:
        out.append(text[pos : m.start])
        out.append(vault.token_for(m.kind, text[m.start : m.end]))
        pos = m.end
    out.append(text[pos:])
    return "".join(out)


def placeholders(text: str) -> list[Match]:
    """Where the placeholders are (for restoring, and for a stream's safe cut)."""
    return [Match(m.start(), m.end(), "placeholder") for m in PLACEHOLDER.finditer(text)]


def restore(text: str, vault: Vault) -> str:
    """``text`` with the vault's placeholders back to the original values; others left alone."""
    if not vault:
        return text
    return PLACEHOLDER.sub(lambda m: vault.value_of(m.group(0)) or m.group(0), text)


def redact(text: str, matches: Sequence[Match]) -> str:
    """``text`` with every match replaced by ``[KIND_REDACTED]`` (new values found in an answer:
    not a placeholder, so restoring never turns it back into anything)."""
    out: list[str] = []
    pos = 0
    for m in matches:
        out += [text[pos : m.start], f"[{m.kind.upper()}_REDACTED]"]
        pos = m.end
    out.append(text[pos:])
    return "".join(out)
