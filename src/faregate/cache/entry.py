"""The canonical answer a cache entry holds, and its replay as stream events.

Stored as compact JSON so every layer (memory, Redis, a database TEXT column) holds the same
bytes, and a hit is rendered by whichever front asked: OpenAI chat or Anthropic messages,
streamed or not.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import orjson

from ..core.types import ChatResponse, Event, Finish, StreamStart, TextDelta, ToolCall, ToolCallDelta, UsageEvent
from ..core.usage import Usage

REPLAY_CHUNK_CHARS = 24  # a replayed stream comes in several chunks, like a real one


@dataclass(slots=True)
class CachedAnswer:
    content: str | None
    tool_calls: list[ToolCall]
    finish_reason: str
    usage: Usage
    model: str  # the model that answered
    cost_usd: float  # what the answer cost upstream: what a hit saves
    request_id: str  # the request that filled the entry
    created_at: float
    prompt: str = ""  # the last user turn (the semantic index re-reads it after a restart)
    group: str = ""  # the semantic group it was indexed in ("": exact only)
    semantic_until: float = 0.0  # when it stops answering similar prompts (unix seconds)

    @classmethod
    def of(cls, resp: ChatResponse, *, model: str, cost_usd: float, request_id: str, prompt: str) -> CachedAnswer:
        return cls(
            resp.content,
            list(resp.tool_calls),
            resp.finish_reason,
            resp.usage,
            model,
            cost_usd,
            request_id,
            time.time(),
            prompt,
        )

    def to_bytes(self) -> bytes:
        """A JSON array in field order (no keys to write or read). Exactly sized: orjson's
        bytes keep its whole (4 KiB) write buffer, which would make every small entry cost
        4 KiB and the memory layer's byte cap a fiction."""
        u = self.usage
        raw = orjson.dumps(
            [
                self.content,
                [[t.id, t.name, t.arguments] for t in self.tool_calls] if self.tool_calls else [],
                self.finish_reason,
                [u.input_tokens, u.output_tokens, u.cached_input_tokens, u.cache_creation_tokens],
                self.model,
                self.cost_usd,
                self.request_id,
                self.created_at,
                self.prompt,
                self.group,
                self.semantic_until,
            ]
        )
        return memoryview(raw).tobytes()

    @classmethod
    def from_bytes(cls, raw: bytes | str) -> CachedAnswer:
        d = orjson.loads(raw)
        if isinstance(d, dict):  # written before the array form
            d = [d["c"], d["t"], d["f"], d["u"], d["m"], d["$"], d["r"], d["a"], d.get("p", ""), "", 0.0]
        c, tools, finish, usage, model, cost, rid, created, prompt, group, until = d
        return cls(
            c,
            [ToolCall(i, n, a) for i, n, a in tools],
            finish,
            Usage(*usage),
            model,
            float(cost),
            rid,
            float(created),
            prompt,
            group,
            float(until),
        )

    def response(self, request_id: str) -> ChatResponse:
        return ChatResponse(
            id=request_id,
            model=self.model,
            content=self.content,
            tool_calls=list(self.tool_calls),
            finish_reason=self.finish_reason,
            usage=self.usage,
            created=int(self.created_at),
        )

    def events(self) -> list[Event]:
        """The answer as a stream: start, content in several chunks, tool-call deltas (id and
        name, then the arguments in pieces), the finish reason, usage."""
        out: list[Event] = [StreamStart(id=self.request_id, model=self.model)]
        text = self.content or ""
        n = REPLAY_CHUNK_CHARS
        out += [TextDelta(text[i : i + n]) for i in range(0, len(text), n)]
        for idx, call in enumerate(self.tool_calls):
            out.append(ToolCallDelta(idx, id=call.id, name=call.name))
            args = call.arguments
            out += [ToolCallDelta(idx, arguments=args[i : i + n]) for i in range(0, len(args), n)]
        out.append(Finish(self.finish_reason))
        out.append(UsageEvent(self.usage))
        return out
