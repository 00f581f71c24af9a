"""The canonical request, response and stream events every part of faregate speaks.

The canonical request keeps OpenAI's chat message shape (role, content as a string or a list
of parts, ``tool_calls``, ``tool_call_id``): it is the lingua franca clients already send,
and every other wire format is a translation of it. Validation happens once, at the front
codec; past it, every field here is known to be well formed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class ChatRequest:
    """A validated chat request in the canonical (OpenAI message) shape."""

    model: str
    messages: list[dict[str, Any]]
    stream: bool = False
    include_usage: bool = False
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    seed: int | None = None
    user: str | None = None
    metadata: dict[str, Any] | None = None
    # Routing constraints from the body's "faregate" object (min_quality, max_latency_ms, ...).
    routing: dict[str, Any] | None = None
    # Other OpenAI parameters (n, presence_penalty, logprobs, ...) passed on to OpenAI-wire upstreams.
    extra: dict[str, Any] = field(default_factory=dict)
    # Anthropic prompt-caching markers (``cache_control`` on content parts): "pass" the client's
    # on, "auto" also place them where a client sent none, "off" drop them.
    prompt_caching: str = "pass"
    # What is asked for: "chat" (this shape), or another request kind carried in it ("embedding",
    # "completion"): see ``REQUEST_KINDS``. The messages then hold the inputs (one user message
    # each) so that limits, the log and the cache read them as they read a chat's.
    kind: str = "chat"
    # The Responses API body, set only by the Responses front (previous turns already expanded
    # into ``input``): an upstream that serves that API (``Target.responses_api``) gets it as it
    # is; every other upstream gets the chat translation in the fields above.
    responses: dict[str, Any] | None = None

    def prompt_text(self) -> str:
        """All text of the conversation, for features, caching keys and token estimates."""
        return messages_text(self.messages)


# The request kinds an adapter may serve (``Adapter.request_for`` dispatches on them; a
# provider declares the ones it has in ``adapters/registry.py``). Adding a kind: a front codec
# that builds the ``ChatRequest``, and the ``Adapter`` methods that speak it.
REQUEST_KINDS = ("chat", "embedding", "completion")

TEXT_PART_TYPES = frozenset(("text", "input_text"))


def content_text(content: Any, sep: str = "\n", *, any_part: bool = False) -> str:
    """Text of one message's ``content``: a string, or a list of parts whose texts are joined by
    ``sep`` (the provider adapters join with ""). Only ``text``/``input_text`` parts count unless
    ``any_part``: then every part with a string ``text`` does, typed or not (provider wire
    bodies, whose Gemini parts carry no type)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return sep.join(
            p["text"]
            for p in content
            if isinstance(p, dict) and isinstance(p.get("text"), str) and (any_part or p.get("type") in TEXT_PART_TYPES)
        )
    return str(content)


def messages_text(messages: list[dict[str, Any]]) -> str:
    """Every message's text, non-empty ones joined by newlines."""
    return "\n".join(t for t in (content_text(m.get("content")) for m in messages) if t)


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # a JSON string, as OpenAI sends it

    def to_openai(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass(slots=True)
class ChatResponse:
    """A finished answer from one model call."""

    id: str
    model: str
    content: str | None
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str = "stop"
    usage: Usage = None  # type: ignore[assignment]
    created: int = 0
    # The output items of an upstream that answered in the Responses API (built-in tool calls,
    # annotations, reasoning): the Responses front shows them as they came; None elsewhere.
    output_items: list[dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        if self.usage is None:
            self.usage = Usage()


# Stream events: what an adapter's stream parser yields. A non-streaming answer is the
# same events collected (see ``collect``).


@dataclass(slots=True)
class TextDelta:
    text: str


@dataclass(slots=True)
class ToolCallDelta:
    """A fragment of tool call ``index``: ``id`` and ``name`` arrive first, ``arguments`` in pieces."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(slots=True)
class UsageEvent:
    usage: Usage


@dataclass(slots=True)
class Finish:
    reason: str  # OpenAI's finish reasons: stop, length, tool_calls, content_filter


@dataclass(slots=True)
class StreamStart:
    """The upstream accepted the request; carries its response id and model when known."""

    id: str = ""
    model: str = ""


Event = StreamStart | TextDelta | ToolCallDelta | UsageEvent | Finish

CONTENT_EVENTS = (TextDelta, ToolCallDelta)


def collect(events: list[Event], *, default_id: str, model: str) -> ChatResponse:
    """Fold a complete event list into one ``ChatResponse``."""
    text: list[str] = []
    calls: dict[int, ToolCall] = {}
    usage = Usage()
    finish = "stop"
    rid = default_id
    for ev in events:
        if isinstance(ev, TextDelta):
            text.append(ev.text)
        elif isinstance(ev, ToolCallDelta):
            call = calls.get(ev.index)
            if call is None:
                call = calls[ev.index] = ToolCall(ev.id or f"call_{ev.index}", ev.name or "", "")
            if ev.id:
                call.id = ev.id
            if ev.name:
                call.name = ev.name
            call.arguments += ev.arguments
        elif isinstance(ev, UsageEvent):
            usage = ev.usage
        elif isinstance(ev, Finish):
            finish = ev.reason
        elif isinstance(ev, StreamStart) and ev.id:
            rid = ev.id
    return ChatResponse(
        id=rid,
        model=model,
        content="".join(text) if text or not calls else None,
        tool_calls=[calls[i] for i in sorted(calls)],
        finish_reason=finish,
        usage=usage,
    )


from .usage import Usage  # noqa: E402  (kept last: Usage is referenced in annotations above)
