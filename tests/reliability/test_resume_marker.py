"""A resumed stream says so in its final events, through the official SDKs: OpenAI's finish
chunk (and its usage chunk, when asked for) and Anthropic's ``message_delta`` carry
``faregate: {"resumed": true, "resume_offset": N}``, N the characters the client had before
the cut; a stream that was not resumed carries no such field."""

from __future__ import annotations

import anthropic
import pytest

from .conftest import KEY, model_config

TEXT = "The primary answers this in several clear parts."
MSG = [{"role": "user", "content": "hello"}]


def config(primary_url: str, backup_url: str) -> dict:
    cfg = model_config(primary_url, backup_url)
    for m in cfg["models"]:
        m["stream_resume"] = True
        m["timeouts"] = {"connect": 0.5, "ttfb": 3.0, "idle": 0.5, "total": 10}
        m["failover"] = {"hedge": False}
    return cfg


async def _script(primary, backup, *, cut: bool) -> None:
    usage = {"input_tokens": 11, "output_tokens": 7}
    await primary.script({"text": TEXT, "chunks": 4, "usage": usage, **({"cut_after_chunks": 3} if cut else {})})
    await backup.script({"text": TEXT, "chunks": 3, "usage": {"input_tokens": 13, "output_tokens": 5}})


def _marker(obj) -> dict | None:
    return (obj.model_extra or {}).get("faregate")


@pytest.mark.parametrize("include_usage", [False, True])
async def test_openai_sdk_sees_the_resume_on_the_final_chunks(fakes, serve, include_usage):
    primary, backup = fakes
    srv = await serve(config(f"{primary.base}/v1", backup.base), real_sleep=True)
    await _script(primary, backup, cut=True)
    extra = {"stream_options": {"include_usage": True}} if include_usage else {}
    stream = await srv.client().chat.completions.create(model="primary", messages=MSG, stream=True, **extra)
    chunks = [c async for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    ctx = await srv.last_context()
    assert text == TEXT and ctx.resumed and 0 < ctx.resume_at_chars < len(TEXT)
    want = {"resumed": True, "resume_offset": ctx.resume_at_chars}
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finish) == 1 and _marker(finish[0]) == want
    assert _marker(chunks[-1]) == want  # the final chunk: the finish chunk, or the usage chunk after it
    if include_usage:
        assert not chunks[-1].choices and chunks[-1].usage is not None
    assert all(_marker(c) is None for c in chunks if c is not chunks[-1] and c is not finish[0])


async def test_openai_stream_not_resumed_has_no_marker(fakes, serve):
    primary, backup = fakes
    srv = await serve(config(f"{primary.base}/v1", backup.base), real_sleep=True)
    await _script(primary, backup, cut=False)
    stream = await srv.client().chat.completions.create(
        model="primary", messages=MSG, stream=True, stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]
    assert not (await srv.last_context()).resumed
    assert chunks and all(_marker(c) is None for c in chunks)


@pytest.mark.parametrize("cut", [True, False])
async def test_anthropic_sdk_sees_the_resume_on_message_delta(fakes, serve, cut):
    primary, backup = fakes
    srv = await serve(config(f"{primary.base}/v1", backup.base), real_sleep=True)
    await _script(primary, backup, cut=cut)
    async with anthropic.AsyncAnthropic(base_url=srv.url, api_key=KEY, max_retries=0, timeout=10) as client:
        stream = await client.messages.create(model="primary", max_tokens=64, messages=MSG, stream=True)
        events = [ev async for ev in stream]
    text = "".join(ev.delta.text for ev in events if ev.type == "content_block_delta" and ev.delta.type == "text_delta")
    ctx = await srv.last_context()
    assert text == TEXT and ctx.resumed is cut
    deltas = [ev for ev in events if ev.type == "message_delta"]
    assert len(deltas) == 1 and events[-1].type == "message_stop"
    want = {"resumed": True, "resume_offset": ctx.resume_at_chars} if cut else None
    assert _marker(deltas[0]) == want
    assert all(_marker(ev) is None for ev in events if ev is not deltas[0])
