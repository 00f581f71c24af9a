"""Request features for routing, extracted from OpenAI-shaped ``messages``.

``extract(messages, tools=None, response_format=None, task=None)`` returns ``RequestFeatures``:
the task (given, or inferred from the text by keywords), estimated input tokens (~4 characters
a token), conversation depth, whether tools / JSON mode / images are involved, and the prompt
text. ``routing_text`` is the part of the prompt an embedder should look at: the end of it,
since few-shot prompts share their beginnings and differ in the final question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..core.types import content_text as _core_content_text
from ..core.types import messages_text
from .estimate import CHARS_PER_TOKEN as CHARS_PER_TOKEN  # re-exported: the router's callers use it
from .estimate import prompt_tokens

TASKS = ("classify", "summarize", "chat", "generate", "extract_json", "code", "multiple_choice")
ROUTING_CHARS = 1200  # how much of the prompt's end the embedder sees

_CHOICES = re.compile(r"(^|\n)\s*\(?[A-D][\).:]\s+\S", re.M)
_RULES: tuple[tuple[str, re.Pattern], ...] = (
    (
        "code",
        re.compile(
            r"\b(def |class |python|javascript|typescript|java\b|c\+\+|rust\b|golang|sql\b|"
            r"regex|write (?:a|an) (?:\w+ )?(?:function|program|script|method)|implement (?:a|an|the)\b|"
            r"compile|stack ?trace|refactor|unit tests?)|```",
            re.I,
        ),
    ),
    ("extract_json", re.compile(r"\b(json|extract (?:the )?(?:fields|entities)|as a dict|key[- ]value)\b", re.I)),
    (
        "summarize",
        re.compile(r"\b(summari[sz]e|summary|tl;?dr|condense|key points|in \d+ (?:words|sentences))\b", re.I),
    ),
    (
        "classify",
        re.compile(
            r"\b(classify|categori[sz]e|sentiment|label (?:this|the)|which category|"
            r"is (?:this|it) (?:spam|positive|negative)|true or false|yes or no)\b",
            re.I,
        ),
    ),
    (
        "generate",
        re.compile(
            r"\b(write (?:a|an|me)|compose|draft|generate|create (?:a|an)|story|poem|essay|"
            r"blog post|slogan)\b",
            re.I,
        ),
    ),
)


@dataclass(frozen=True)
class RequestFeatures:
    task: str | None
    task_given: bool
    input_tokens: int
    depth: int  # number of messages that are not system messages
    has_tools: bool
    json_mode: bool
    has_images: bool
    text: str  # the prompt text, every message's text joined

    @property
    def routing_text(self) -> str:
        return routing_text(self.text)


# One text extraction for the whole gateway; re-exported here for the router's callers.
content_text = _core_content_text


def prompt_text(messages: list[dict]) -> str:
    return messages_text(messages)


def has_images(messages: list[dict]) -> bool:
    return any(
        isinstance(m.get("content"), list)
        and any(isinstance(p, dict) and p.get("type") in ("image_url", "image", "input_image") for p in m["content"])
        for m in messages
    )


def infer_task(text: str, *, json_mode: bool = False) -> str:
    """A cheap guess of the task from keywords (first rule that matches wins)."""
    if json_mode:
        return "extract_json"
    head = text[-4000:]
    if len(_CHOICES.findall(head)) >= 2:
        return "multiple_choice"
    for task, rx in _RULES:
        if rx.search(head):
            return task
    return "chat"


def routing_text(text: str) -> str:
    return text[-ROUTING_CHARS:]


def extract(
    messages: list[dict], tools: list | None = None, response_format: dict | None = None, task: str | None = None
) -> RequestFeatures:
    text = prompt_text(messages)
    json_mode = bool(response_format) and (response_format or {}).get("type") in ("json_object", "json_schema")
    given = task is not None
    if task is None:
        task = infer_task(text, json_mode=json_mode)
    return RequestFeatures(
        task=task,
        task_given=given,
        input_tokens=prompt_tokens(text, len(messages)),
        depth=sum(1 for m in messages if m.get("role") != "system"),
        has_tools=bool(tools),
        json_mode=json_mode,
        has_images=has_images(messages),
        text=text,
    )
