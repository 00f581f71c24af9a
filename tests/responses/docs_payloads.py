"""Payloads as OpenAI's API reference and guides publish them (the Responses API's "create a model
response" example, the function-calling guide's round trip, the streaming guide's event
sequences): the translation tests read these, not faregate's own output."""

from __future__ import annotations

# API reference, "Create a model response" (text input): the response object.
TEXT_RESPONSE = {
    "id": "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b",
    "object": "response",
    "created_at": 1741476542,
    "status": "completed",
    "error": None,
    "incomplete_details": None,
    "instructions": None,
    "max_output_tokens": None,
    "model": "gpt-4.1-2025-04-14",
    "output": [
        {
            "type": "message",
            "id": "msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b",
            "status": "completed",
            "role": "assistant",
            "content": [
                {
                    "type": "output_text",
                    "text": "In a peaceful grove beneath a silver moon, a unicorn named Lumina discovered a hidden pool.",
                    "annotations": [],
                }
            ],
        }
    ],
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "reasoning": {"effort": None, "summary": None},
    "store": True,
    "temperature": 1.0,
    "text": {"format": {"type": "text"}},
    "tool_choice": "auto",
    "tools": [],
    "top_p": 1.0,
    "truncation": "disabled",
    "usage": {
        "input_tokens": 36,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 87,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 123,
    },
    "user": None,
    "metadata": {},
}

# Function-calling guide: the tools, and the second request (the call and its output appended).
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Get current temperature for a given location.",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string", "description": "City and country e.g. Bogotá, Colombia"}},
        "required": ["location"],
        "additionalProperties": False,
    },
    "strict": True,
}
TOOL_ROUND_TRIP_INPUT = [
    {"role": "user", "content": "What is the weather like in Paris today?"},
    {
        "type": "function_call",
        "id": "fc_12345xyz",
        "call_id": "call_12345xyz",
        "name": "get_weather",
        "arguments": '{"location":"Paris, France"}',
    },
    {"type": "function_call_output", "call_id": "call_12345xyz", "output": "14"},
]

# Streaming guide: a text answer's events (response objects abridged to what the events carry).
_MSG = "msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654"
_RESP = "resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654"
_WHERE = {"item_id": _MSG, "output_index": 0, "content_index": 0}
TEXT_STREAM = [
    {
        "type": "response.created",
        "response": {"id": _RESP, "object": "response", "status": "in_progress", "output": []},
    },
    {"type": "response.in_progress", "response": {"id": _RESP, "object": "response", "status": "in_progress"}},
    {
        "type": "response.output_item.added",
        "output_index": 0,
        "item": {"id": _MSG, "type": "message", "status": "in_progress", "role": "assistant", "content": []},
    },
    {"type": "response.content_part.added", **_WHERE, "part": {"type": "output_text", "text": "", "annotations": []}},
    {"type": "response.output_text.delta", **_WHERE, "delta": "Hi"},
    {"type": "response.output_text.delta", **_WHERE, "delta": " there! How can I assist you today?"},
    {"type": "response.output_text.done", **_WHERE, "text": "Hi there! How can I assist you today?"},
    {
        "type": "response.completed",
        "response": {
            "id": _RESP,
            "object": "response",
            "status": "completed",
            "usage": {
                "input_tokens": 37,
                "output_tokens": 11,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": 48,
            },
        },
    },
]
# Function-calling guide, "streaming": a function call's events (the guide stops at the call; the
# response.completed that ends every stream is added).
_FC = {"response_id": "resp_1234xyz", "item_id": "fc_1234xyz", "output_index": 0}
CALL_STREAM = [
    {
        "type": "response.output_item.added",
        "response_id": "resp_1234xyz",
        "output_index": 0,
        "item": {
            "type": "function_call",
            "id": "fc_1234xyz",
            "call_id": "call_1234xyz",
            "name": "get_weather",
            "arguments": "",
        },
    },
    {"type": "response.function_call_arguments.delta", **_FC, "delta": '{"'},
    {"type": "response.function_call_arguments.delta", **_FC, "delta": 'location":"'},
    {"type": "response.function_call_arguments.delta", **_FC, "delta": "Paris, France"},
    {"type": "response.function_call_arguments.delta", **_FC, "delta": '"}'},
    {"type": "response.function_call_arguments.done", **_FC, "arguments": '{"location":"Paris, France"}'},
    {
        "type": "response.completed",
        "response": {"id": "resp_1234xyz", "status": "completed", "usage": {"input_tokens": 50, "output_tokens": 9}},
    },
]
