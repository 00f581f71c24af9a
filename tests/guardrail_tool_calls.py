"""Tool-call conversations through the official SDKs, for the guardrail tests: ``send_turn``
sends an earlier tool call and its result, ``tool_answer`` returns the tool call the client
assembled from the answer (whole or streamed) and the raw argument pieces it received."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai

TOOL = {
    "type": "function",
    "function": {
        "name": "send_mail",
        "description": "Send an email",
        "parameters": {"type": "object", "properties": {"to": {"type": "string"}}},
    },
}
A_TOOL = {"name": "send_mail", "description": "Send an email", "input_schema": TOOL["function"]["parameters"]}


def send_turn(front: str, base: str, key: str, args: dict[str, Any], result: str, stream: bool) -> None:
    """A conversation whose earlier turn called a tool with ``args`` and got ``result`` back."""
    if front == "messages":
        a = anthropic.Anthropic(base_url=base, api_key=key, max_retries=0)
        msgs: Any = [
            {"role": "user", "content": "mail my friend"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": "send_mail", "input": args}],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": result}]},
        ]
        if stream:
            with a.messages.stream(model="fake-anthropic", max_tokens=32, messages=msgs, tools=[A_TOOL]) as s:  # type: ignore[list-item]
                s.until_done()
        else:
            a.messages.create(model="fake-anthropic", max_tokens=32, messages=msgs, tools=[A_TOOL])  # type: ignore[list-item]
        return
    c = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0)
    call = {"id": "call_1", "type": "function", "function": {"name": "send_mail", "arguments": json.dumps(args)}}
    chat: Any = [
        {"role": "user", "content": "mail my friend"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": result},
    ]
    r = c.chat.completions.create(model="fake-openai", messages=chat, tools=[TOOL], stream=stream)  # type: ignore[list-item]
    if stream:
        for _ in r:  # type: ignore[union-attr]
            pass


def tool_answer(front: str, base: str, key: str, text: str, stream: bool) -> tuple[str, list[str]]:
    """(the answer's tool-call arguments as the SDK assembled them, the argument pieces received)."""
    if front == "messages":
        a = anthropic.Anthropic(base_url=base, api_key=key, max_retries=0)
        msgs: Any = [{"role": "user", "content": text}]
        if stream:
            pieces: list[str] = []
            with a.messages.stream(model="fake-anthropic", max_tokens=64, messages=msgs, tools=[A_TOOL]) as s:  # type: ignore[list-item]
                for ev in s:
                    if ev.type == "content_block_delta" and ev.delta.type == "input_json_delta":
                        pieces.append(ev.delta.partial_json)
                final = s.get_final_message()
        else:
            final, pieces = a.messages.create(model="fake-anthropic", max_tokens=64, messages=msgs, tools=[A_TOOL]), []  # type: ignore[list-item]
        (block,) = [b for b in final.content if b.type == "tool_use"]
        return json.dumps(block.input), pieces
    c = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0)
    chat: Any = [{"role": "user", "content": text}]
    if not stream:
        msg = c.chat.completions.create(model="fake-openai", messages=chat, tools=[TOOL]).choices[0].message  # type: ignore[list-item]
        return (msg.tool_calls or [])[0].function.arguments, []  # type: ignore[union-attr]
    pieces = []
    for ch in c.chat.completions.create(model="fake-openai", messages=chat, tools=[TOOL], stream=True):  # type: ignore[list-item]
        for tc in (ch.choices[0].delta.tool_calls or []) if ch.choices else []:
            if tc.function and tc.function.arguments:
                pieces.append(tc.function.arguments)
    return "".join(pieces), pieces


def tool_answer_or_error(front: str, base: str, key: str, text: str, stream: bool) -> BaseException | None:
    """What the SDK raised for a tool-call answer (None: it got one)."""
    try:
        tool_answer(front, base, key, text, stream)
    except (openai.APIError, anthropic.APIError) as e:
        return e
    return None
