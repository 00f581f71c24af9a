"""Calls of every front with the official SDKs, for the guardrail tests: ``call`` sends, ``answer``
returns the text the client saw (and whether the stream ended in an error)."""

from __future__ import annotations

import sqlite3
import time

import anthropic
import openai

FRONTS = [(f, s) for f in ("chat", "messages", "responses", "completions") for s in (False, True)] + [
    ("embeddings", False)
]
ANSWER_FRONTS = [(f, s) for f in ("chat", "messages", "responses") for s in (False, True)]


def call(front: str, base: str, key: str, text: str, stream: bool) -> None:
    if front == "messages":
        a = anthropic.Anthropic(base_url=base, api_key=key, max_retries=0)
        msgs = [{"role": "user", "content": text}]
        if stream:
            with a.messages.stream(model="fake-anthropic", max_tokens=32, messages=msgs) as s:  # type: ignore[arg-type]
                s.until_done()
        else:
            a.messages.create(model="fake-anthropic", max_tokens=32, messages=msgs)  # type: ignore[arg-type]
        return
    c = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0)
    if front == "chat":
        r = c.chat.completions.create(model="fake-openai", messages=[{"role": "user", "content": text}], stream=stream)
    elif front == "completions":
        r = c.completions.create(model="fake-openai", prompt=text, stream=stream)  # type: ignore[assignment]
    elif front == "responses":
        r = c.responses.create(model="fake-openai", input=text, stream=stream)  # type: ignore[assignment]
    else:
        r = c.embeddings.create(model="fake-embed", input=text)  # type: ignore[assignment]
    if stream:
        for _ in r:  # type: ignore[union-attr]
            pass


def answer(front: str, base: str, key: str, text: str, stream: bool) -> str:
    """The answer's text as the client assembles it."""
    if front == "messages":
        a = anthropic.Anthropic(base_url=base, api_key=key, max_retries=0)
        msgs = [{"role": "user", "content": text}]
        if stream:
            with a.messages.stream(model="fake-anthropic", max_tokens=32, messages=msgs) as s:  # type: ignore[arg-type]
                return "".join(s.text_stream)
        return a.messages.create(model="fake-anthropic", max_tokens=32, messages=msgs).content[0].text  # type: ignore[union-attr,arg-type]
    c = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0)
    if front == "responses":
        if stream:
            out = []
            for e in c.responses.create(model="fake-openai", input=text, stream=True):
                if e.type == "response.output_text.delta":
                    out.append(e.delta)
                elif e.type in ("error", "response.failed"):
                    raise RuntimeError(f"stream failed: {e.type}")
            return "".join(out)
        return c.responses.create(model="fake-openai", input=text).output_text
    msgs2 = [{"role": "user", "content": text}]
    if stream:
        chunks = c.chat.completions.create(model="fake-openai", messages=msgs2, stream=True)  # type: ignore[arg-type]
        return "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    return c.chat.completions.create(model="fake-openai", messages=msgs2).choices[0].message.content or ""  # type: ignore[arg-type]


def answer_or_error(front: str, base: str, key: str, text: str, stream: bool) -> tuple[str, BaseException | None]:
    """``answer``, or what the SDK raised (the text streamed before it is lost with it: "")."""
    try:
        return answer(front, base, key, text, stream), None
    except (openai.APIError, anthropic.APIError, RuntimeError) as e:
        return "", e


def log_rows(db, columns: str, n: int) -> list[tuple]:
    """``columns`` of the request log's rows in time order, once at least ``n`` are written (the
    log is written in the background; after 10 s, whatever is there)."""
    rows: list[tuple] = []
    for _ in range(100):
        with sqlite3.connect(db) as c:
            try:
                rows = c.execute(f"SELECT {columns} FROM request_log ORDER BY ts").fetchall()
            except sqlite3.OperationalError:  # the table is not created yet
                rows = []
        if len(rows) >= n:
            return rows
        time.sleep(0.1)
    return rows
