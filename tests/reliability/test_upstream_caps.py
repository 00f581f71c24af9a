"""Upstream answers are bounded: an oversized answer, error body or SSE line fails the attempt
as a 502 that says the answer was too large (failing over when nothing reached the client),
SSE is parsed in linear time, the logged bodies are capped, and /health stays responsive."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import openai
import pytest

from faregate.adapters.sse import SSEDecoder
from faregate.core.errors import UpstreamError
from faregate.core.types import ChatRequest
from faregate.pipeline.context import RequestContext
from faregate.pipeline.request_log_step import build_record

from .conftest import model_config

MIB = 1024 * 1024
MSG = [{"role": "user", "content": "hello"}]


async def _health_latency(url: str, stop: asyncio.Event) -> float:
    """The slowest /health answer while ``stop`` is not set."""
    worst = 0.0
    async with aiohttp.ClientSession() as s:
        while not stop.is_set():
            t0 = time.perf_counter()
            async with s.get(f"{url}/health") as r:
                assert r.status == 200
            worst = max(worst, time.perf_counter() - t0)
            await asyncio.sleep(0.02)
    return worst


async def test_a_20_mib_answer_is_refused_and_fails_over(fakes, serve):
    primary, backup = fakes
    srv = await serve(model_config(f"{primary.base}/v1", backup.base))
    await primary.script(*[{"pad_bytes": 20 * MIB}] * 2)
    await backup.script({"text": "small and whole"})
    stop = asyncio.Event()
    health = asyncio.ensure_future(_health_latency(srv.url, stop))
    try:
        r = await srv.client(timeout=30).chat.completions.create(model="primary", messages=MSG)
    finally:
        stop.set()
    assert r.choices[0].message.content == "small and whole"
    ctx = await srv.last_context()
    assert "too large" in (ctx.attempts[0].error or "") and ctx.answered_model == "backup"
    assert await health < 1.0


async def test_a_20_mib_stream_ends_in_band_once_content_was_sent(fakes, serve):
    primary, backup = fakes
    srv = await serve(model_config(f"{primary.base}/v1", backup.base))
    await primary.script({"pad_bytes": 20 * MIB, "chunks": 40})
    s = await srv.client(timeout=30).chat.completions.create(model="primary", messages=MSG, stream=True)
    got = 0
    with pytest.raises(openai.APIError, match="too large"):
        async for c in s:
            got += len(c.choices[0].delta.content or "") if c.choices else 0
    assert 0 < got <= 16 * MIB
    assert await backup.requests() == []  # content had reached the client: no switch


async def test_an_oversized_answer_alone_is_a_502_saying_so(fakes, serve):
    primary, _ = fakes
    cfg = model_config(f"{primary.base}/v1")
    cfg["models"][0]["upstream_caps"] = {"max_answer_bytes": MIB}
    srv = await serve(cfg)
    await primary.script(*[{"pad_bytes": 2 * MIB}] * 2)
    with pytest.raises(openai.APIStatusError) as ei:
        await srv.client().chat.completions.create(model="primary", messages=MSG)
    assert ei.value.status_code == 502 and "too large" in ei.value.message


async def test_a_2_mib_error_body_is_not_read_whole(fakes, serve):
    primary, _ = fakes
    srv = await serve(model_config(f"{primary.base}/v1"))
    await primary.script(*[{"status": 500, "pad_bytes": 2 * MIB}] * 2)
    with pytest.raises(openai.APIStatusError) as ei:
        await srv.client().chat.completions.create(model="primary", messages=MSG)
    assert ei.value.status_code == 502 and "too large" in ei.value.message
    assert "xxxx" not in ei.value.message  # nothing of the body echoed


async def test_a_huge_sse_line_fails_the_stream_and_health_stays_responsive(fakes, serve):
    primary, backup = fakes
    cfg = model_config(f"{primary.base}/v1", backup.base)
    cfg["models"][0]["upstream_caps"] = {"max_sse_line_bytes": 8 * MIB}
    srv = await serve(cfg)
    await primary.script(*[{"huge_line_bytes": 100 * MIB}] * 2)
    await backup.script({"text": "rescued"})
    stop = asyncio.Event()
    health = asyncio.ensure_future(_health_latency(srv.url, stop))
    t0 = time.monotonic()
    try:
        s = await srv.client(timeout=30).chat.completions.create(model="primary", messages=MSG, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in s if c.choices])
    finally:
        stop.set()
    assert text == "rescued" and time.monotonic() - t0 < 10
    ctx = await srv.last_context()
    assert "line is over" in (ctx.attempts[0].error or "")
    assert await health < 1.0


def test_sse_decoding_is_linear_in_a_line_without_a_newline():
    """32 MiB of one line in 64 KiB pieces: the old decoder re-copied and rescanned the whole
    buffer per piece (gigabytes); this one scans each byte once."""
    dec = SSEDecoder(max_line=64 * MIB)
    piece = b"x" * (64 * 1024)
    t0 = time.perf_counter()
    assert dec.feed(b"data: ") == []
    for _ in range(512):
        assert dec.feed(piece) == []
    out = dec.feed(b"\n\n")
    assert time.perf_counter() - t0 < 1.0
    assert len(out) == 1 and len(out[0][1]) == 32 * MIB


def test_sse_line_cap_and_split_crlf():
    dec = SSEDecoder(max_line=1024)
    with pytest.raises(UpstreamError, match="too large"):
        dec.feed(b"data: " + b"y" * 2000)
    dec = SSEDecoder()
    assert dec.feed(b"data: a\r") == []
    assert dec.feed(b"\n\r\n") == [(None, "a")]  # a CRLF split across chunks is one line end


def test_logged_bodies_are_capped():
    ctx = RequestContext(ChatRequest(model="m", messages=[{"role": "user", "content": "p" * 200_000}]))
    ctx.response_text = "a" * 500_000
    row = build_record(ctx, log_bodies=True, max_chars=1000)
    assert row.prompt is not None and row.answer is not None
    assert len(row.prompt) < 1100 and len(row.answer) < 1100 and "not logged" in row.answer
