"""Shared helpers for the adapter tests: fixture loading, targets, feeding streams."""

from __future__ import annotations

from pathlib import Path

from faregate.adapters.base import StreamParser, Target
from faregate.core.types import ChatRequest, Event

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
            "additionalProperties": False,
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Get the current time in a timezone",
        "parameters": {"type": "object", "properties": {"timezone": {"type": "string"}}, "required": ["timezone"]},
    },
}

# A conversation with every kind of message: system and developer text, an image turn, a parallel tool
# call answered by two tool results, and a follow-up question.
CONVERSATION = [
    {"role": "system", "content": "You are a weather bot."},
    {"role": "developer", "content": [{"type": "text", "text": "Answer in one sentence."}]},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is in this picture, and what's the weather there?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/golden-gate.jpg", "detail": "high"}},
        ],
    },
    {
        "role": "assistant",
        "content": "Let me check.",
        "tool_calls": [
            {
                "id": "call_a",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"location": "San Francisco, CA"}'},
            },
            {
                "id": "call_b",
                "type": "function",
                "function": {"name": "get_time", "arguments": '{"timezone": "America/Los_Angeles"}'},
            },
        ],
    },
    {"role": "tool", "tool_call_id": "call_a", "content": '{"temperature": 18, "unit": "celsius"}'},
    {"role": "tool", "tool_call_id": "call_b", "content": "10:42"},
    {"role": "user", "content": "Thanks!"},
    {"role": "user", "content": "And tomorrow?"},
]


def load(provider: str, name: str) -> bytes:
    return (FIXTURES / provider / name).read_bytes()


def target(
    provider: str, *, base_url: str = "", api_key: str | None = "sk-test-key", model: str = "upstream-model"
) -> Target:
    return Target(
        deployment=f"{provider}#0",
        model_name=f"test-{provider}",
        provider=provider,
        upstream_model=model,
        base_url=base_url,
        api_key=api_key,
    )


def request(**kw) -> ChatRequest:
    kw.setdefault("model", "test")
    kw.setdefault("messages", [{"role": "user", "content": "Hello"}])
    return ChatRequest(**kw)


def run_stream(parser: StreamParser, data: bytes, *, step: int | None = None) -> list[Event]:
    """Feed ``data`` whole (or ``step`` bytes at a time), then close; return every event."""
    events: list[Event] = []
    if step is None:
        events += parser.feed(data)
    else:
        for i in range(0, len(data), step):
            events += parser.feed(data[i : i + step])
    events += parser.close()
    return events
