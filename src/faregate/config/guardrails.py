"""The ``guardrails:`` section: named checks that keys, teams, routes and models switch on with
``guardrails: [NAME]``."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from .base import _Frozen

# The classes ``guardrails/pii.py`` detects (a test keeps the two lists equal).
PII_KINDS: tuple[str, ...] = ("email", "secret", "iban", "card", "ip", "phone")
Stage = Literal["request", "response"]
# Types that ask a service over HTTP; they can only pass or block.
REMOTE_TYPES = ("moderation", "webhook")


class GuardrailSpec(_Frozen):
    """One entry of ``guardrails:`` (types ``pii``, ``regex``, ``moderation`` and ``webhook``)."""

    name: str = Field(min_length=1, description="What keys name in their `guardrails:` list; shown in a block's error.")
    type: Literal["pii", "regex", "moderation", "webhook"] = Field(
        description="`pii`: built-in detectors; `regex`: the `patterns` given; `moderation`: an OpenAI "
        "/v1/moderations model; `webhook`: your HTTP service."
    )
    action: Literal["mask", "block"] = Field(
        "mask", description="mask: placeholders upstream; block: a 400. moderation and webhook always block."
    )
    stages: list[Stage] = Field(
        default_factory=lambda: list[Stage](["request"]), description="Where it runs: the request, the answer, or both."
    )
    restore: bool = Field(False, description="Put masked values back into the answer (streamed too).")
    kinds: list[str] = Field(
        default_factory=lambda: list(PII_KINDS), description="pii: the classes to look for (default all)."
    )
    patterns: list[str] = Field(default_factory=list, description="regex: the patterns to deny or mask.")
    url: str | None = Field(
        None, description="moderation: the provider's base URL (`.../v1`); webhook: the URL POSTed to."
    )
    model: str = Field("omni-moderation-latest", description="moderation: the model asked.")
    api_key: str | None = Field(None, description="moderation: bearer credential of the provider.")
    categories: list[str] = Field(
        default_factory=list, description="moderation: block only on these categories; empty: on `flagged`."
    )
    timeout_s: float = Field(2.0, gt=0, description="moderation/webhook: how long to wait for the verdict.")
    on_error: Literal["allow", "block"] = Field(
        "block", description="moderation/webhook: what a timeout, an error status or a bad answer does."
    )
    window_chars: int = Field(
        400, ge=16, description="moderation/webhook on a streamed answer: characters held and checked at a time."
    )

    @model_validator(mode="before")
    @classmethod
    def _remote_blocks(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("type") in REMOTE_TYPES:
            if data.get("action", "block") != "block":
                raise ValueError(f"{data['type']} guardrails can only block (action: block)")
            if not data.get("url"):
                raise ValueError(f"{data['type']} guardrails need a url")
            data = {**data, "action": "block"}
        return data

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

    @property
    def remote(self) -> bool:
        return self.type in REMOTE_TYPES


class TeamConfig(_Frozen):
    """Settings of one team (keys name it with `team:`)."""

    guardrails: list[str] = Field(default_factory=list, description="Guardrails run on every key of the team.")
