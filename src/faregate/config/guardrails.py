"""The ``guardrails:`` section: named checks that keys switch on with ``guardrails: [NAME]``."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from .base import _Frozen

# The classes ``guardrails/pii.py`` detects (a test keeps the two lists equal).
PII_KINDS: tuple[str, ...] = ("email", "secret", "iban", "card", "ip", "phone")


class GuardrailSpec(_Frozen):
    """One entry of ``guardrails:`` (types ``pii`` and ``regex``)."""

    name: str = Field(min_length=1, description="What keys name in their `guardrails:` list; shown in a block's error.")
    type: Literal["pii", "regex"] = Field(description="`pii`: built-in detectors; `regex`: the `patterns` given.")
    action: Literal["mask", "block"] = Field("mask", description="mask: placeholders upstream; block: a 400.")
    restore: bool = Field(False, description="Put masked values back into the answer (streamed too).")
    kinds: list[str] = Field(
        default_factory=lambda: list(PII_KINDS), description="pii: the classes to look for (default all)."
    )
    patterns: list[str] = Field(default_factory=list, description="regex: the patterns to deny or mask.")

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, v: list[str]) -> list[str]:
        unknown = sorted(set(v) - set(PII_KINDS))
        if unknown:
            raise ValueError(f"unknown pii kinds {unknown}; known: {list(PII_KINDS)}")
        return v

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, v: list[str]) -> list[str]:
        for p in v:
            try:
                re.compile(p)
            except re.error as e:
                raise ValueError(f"pattern {p!r} does not compile: {e}") from e
        return v
