"""The fake providers' endpoints beyond chat: embeddings (OpenAI ``/v1/embeddings``, Gemini
``:embedContent`` / ``:batchEmbedContents``), OpenAI legacy ``/v1/completions``, Anthropic's
``/v1/messages/count_tokens``, Gemini's ``:countTokens``, and Azure OpenAI's URL layout on the OpenAI fake
(``/openai/deployments/{deployment}/{chat/completions|embeddings|completions}?api-version=``,
credential in ``api-key`` or ``Authorization: Bearer``).

Each request is logged like a chat one and takes the next scripted behaviour; ``status``,
``error_message``, ``delay_ms``, ``text``, ``chunks`` and ``usage`` (``input_tokens``,
``output_tokens``) apply. Vectors are deterministic (``fake_vector``): the same text gives the
same vector in every run, every protocol.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson
from aiohttp import web

from ..core.embeddings import as_base64
from ..core.types import content_text
from .wire import error_body, split_text


class FakeProvider(Protocol):
    """What these routes use of ``fake_provider.FakeProvider`` (not imported: it imports this)."""

    protocol: str
    queue: deque[dict[str, Any]]
    default: dict[str, Any]
    log: deque[dict[str, Any]]

    def _auth_error(self, request: web.Request) -> str | None: ...

    async def _answer(self, request: web.Request) -> web.StreamResponse: ...


DEFAULT_DIMS = 8
_JSON = {"content-type": "application/json"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def fake_vector(text: str, dims: int = DEFAULT_DIMS) -> list[float]:
    """The fake's embedding of ``text``: ``dims`` values k/1024 (exact in float32, so base64 round
    trips exactly), drawn from the text's SHA-256."""
    out: list[float] = []
    block = b""
    i = 0
    while len(out) < dims:
        if not block:
            block = hashlib.sha256(f"{i}:{text}".encode()).digest()
            i += 1
        two, block = block[:2], block[2:]
        out.append((int.from_bytes(two, "big") % 2049 - 1024) / 1024)
    return out


def token_text(tokens: list[int]) -> str:
    """What a token-array input is embedded as (the fake has no tokenizer)."""
    return "tokens:" + ",".join(map(str, tokens))


def fake_token_count(text: str) -> int:
    """The fake's token count: one per word (unlike faregate's estimate, ~4 characters a token)."""
    return max(1, len(text.split()))


async def _entry(fake: FakeProvider, request: web.Request) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read, log and pick the behaviour of one request: (its JSON body, the behaviour)."""
    raw = await request.read()
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        body = {}
    body = body if isinstance(body, dict) else {}
    fake.log.append(
        {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "headers": {str(k).lower(): v for k, v in request.headers.items()},
            "body": body,
            "disconnected": False,
        }
    )
    b = fake.queue.popleft() if fake.queue else fake.default
    if b.get("delay_ms"):
        await asyncio.sleep(b["delay_ms"] / 1000)
    return body, b


def _error(protocol: str, b: dict[str, Any]) -> web.Response | None:
    status = int(b.get("status", 200))
    if status < 400:
        return None
    msg = b.get("error_message") or f"fake {protocol} error {status}"
    return web.Response(status=status, body=error_body(protocol, status, msg), headers=_JSON)


def _openai_input(raw: Any) -> list[str]:
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(t, int) for t in raw):
        return [token_text(raw)]
    return [x if isinstance(x, str) else token_text(x) for x in raw or []]


async def openai_embeddings(fake: FakeProvider, request: web.Request) -> web.Response:
    body, b = await _entry(fake, request)
    err = _error("openai", b)
    if err is not None:
        return err
    texts = _openai_input(body.get("input"))
    dims = int(body.get("dimensions") or DEFAULT_DIMS)
    vectors: list[Any] = [fake_vector(t, dims) for t in texts]
    if body.get("encoding_format") == "base64":
        vectors = [as_base64(v) for v in vectors]
    data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
    n = int((b.get("usage") or {}).get("input_tokens", sum(fake_token_count(t) for t in texts)))
    usage = {"prompt_tokens": n, "total_tokens": n}
    return web.json_response({"object": "list", "data": data, "model": body.get("model", ""), "usage": usage})


async def openai_completions(fake: FakeProvider, request: web.Request) -> web.StreamResponse:
    body, b = await _entry(fake, request)
    err = _error("openai", b)
    if err is not None:
        return err
    prompt = body.get("prompt")
    prompt = prompt if isinstance(prompt, str) else orjson.dumps(prompt).decode()
    text = b.get("text") or f"Completion from {body.get('model') or 'fake'}: {prompt[:60]}"
    u = b.get("usage") or {}
    usage = (int(u.get("input_tokens", fake_token_count(prompt))), int(u.get("output_tokens", fake_token_count(text))))
    usage_obj = {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}
    head = {"id": f"cmpl-fake-{len(fake.log)}", "object": "text_completion", "created": 0, "model": body.get("model")}
    if not body.get("stream"):
        choice = {"text": text, "index": 0, "logprobs": None, "finish_reason": "stop"}
        return web.json_response({**head, "choices": [choice], "usage": usage_obj})
    resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await resp.prepare(request)
    for piece in split_text(text, int(b.get("chunks", 3))):
        choice = {"text": piece, "index": 0, "logprobs": None, "finish_reason": None}
        await resp.write(b"data: " + orjson.dumps({**head, "choices": [choice]}) + b"\n\n")
    done = {"text": "", "index": 0, "logprobs": None, "finish_reason": "stop"}
    await resp.write(b"data: " + orjson.dumps({**head, "choices": [done]}) + b"\n\n")
    if (body.get("stream_options") or {}).get("include_usage"):
        await resp.write(b"data: " + orjson.dumps({**head, "choices": [], "usage": usage_obj}) + b"\n\n")
    await resp.write(b"data: [DONE]\n\n")
    await resp.write_eof()
    return resp


def _gemini_text(item: Any) -> str:
    parts = ((item or {}).get("content") or {}).get("parts") or []
    return "".join(p.get("text", "") for p in parts if isinstance(p, dict))


async def gemini_embed(fake: FakeProvider, request: web.Request) -> web.Response:
    """``:embedContent`` (one) and ``:batchEmbedContents`` (several); no usage, as Gemini's."""
    body, b = await _entry(fake, request)
    err = _error("gemini", b)
    if err is not None:
        return err
    if fake._auth_error(request):
        return web.Response(status=401, body=error_body("gemini", 401, "API key not valid."), headers=_JSON)

    def values(item: dict[str, Any]) -> dict[str, Any]:
        return {"values": fake_vector(_gemini_text(item), int(item.get("outputDimensionality") or DEFAULT_DIMS))}

    if request.path.endswith(":batchEmbedContents"):
        return web.json_response({"embeddings": [values(r) for r in body.get("requests") or []]})
    return web.json_response({"embedding": values(body)})


def gemini_count_text(body: dict[str, Any]) -> str:
    """The text the Gemini fake counts the words of: the generate request's contents, system
    instruction and tools."""
    gen = body.get("generateContentRequest") or {"contents": body.get("contents")}
    texts = [_gemini_text({"content": c}) for c in gen.get("contents") or []]
    texts.append(_gemini_text({"content": gen.get("systemInstruction")}))
    return " ".join(texts + [orjson.dumps(gen.get("tools")).decode() if gen.get("tools") else ""])


async def gemini_count_tokens(fake: FakeProvider, request: web.Request) -> web.Response:
    body, b = await _entry(fake, request)
    err = _error("gemini", b)
    if err is not None:
        return err
    if fake._auth_error(request):
        return web.Response(status=401, body=error_body("gemini", 401, "API key not valid."), headers=_JSON)
    return web.json_response({"totalTokens": fake_token_count(gemini_count_text(body))})


def anthropic_count_text(body: dict[str, Any]) -> str:
    """The text the fake counts the words of: the system prompt, the messages, the tools' JSON."""
    texts = [content_text(body.get("system"), " ", any_part=True)]
    texts += [content_text(m.get("content"), " ", any_part=True) for m in body.get("messages") or []]
    return " ".join(texts + [orjson.dumps(body.get("tools")).decode() if body.get("tools") else ""])


async def anthropic_count_tokens(fake: FakeProvider, request: web.Request) -> web.Response:
    body, b = await _entry(fake, request)
    err = _error("anthropic", b)
    if err is not None:
        return err
    problem = fake._auth_error(request)
    if problem:
        return web.Response(status=401, body=error_body("anthropic", 401, problem), headers=_JSON)
    if "max_tokens" in body or "stream" in body:
        msg = "max_tokens: Extra inputs are not permitted"
        return web.Response(status=400, body=error_body("anthropic", 400, msg), headers=_JSON)
    return web.json_response({"input_tokens": fake_token_count(anthropic_count_text(body))})


def azure(fake: FakeProvider, inner: Handler) -> Handler:
    """Azure's layout around an OpenAI handler: ``api-version`` and a credential are required."""

    async def handler(request: web.Request) -> web.StreamResponse:
        if not request.query.get("api-version"):
            msg = "Missing API version: add the api-version query parameter"
            return web.Response(status=404, body=error_body("openai", 404, msg), headers=_JSON)
        if not (request.headers.get("api-key") or request.headers.get("authorization", "").startswith("Bearer ")):
            msg = "Access denied due to missing subscription key."
            return web.Response(status=401, body=error_body("openai", 401, msg), headers=_JSON)
        return await inner(request)

    return handler


def add_routes(fake: FakeProvider, app: web.Application) -> None:
    """The routes above for ``fake.protocol`` (added before its chat routes, which match widely)."""

    def bound(fn: Callable[[FakeProvider, web.Request], Awaitable[web.StreamResponse]]) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await fn(fake, request)

        return handler

    if fake.protocol == "openai":
        emb, comp = bound(openai_embeddings), bound(openai_completions)
        app.router.add_post("/v1/embeddings", emb)
        app.router.add_post("/v1/completions", comp)
        deployments = "/openai/deployments/{deployment}"
        app.router.add_post(deployments + "/chat/completions", azure(fake, fake._answer))
        app.router.add_post(deployments + "/embeddings", azure(fake, emb))
        app.router.add_post(deployments + "/completions", azure(fake, comp))
    elif fake.protocol == "gemini":
        for version in ("v1beta", "v1"):
            for method in ("embedContent", "batchEmbedContents"):
                app.router.add_post(f"/{version}/models/{{model}}:{method}", bound(gemini_embed))
            app.router.add_post(f"/{version}/models/{{model}}:countTokens", bound(gemini_count_tokens))
    else:
        app.router.add_post("/v1/messages/count_tokens", bound(anthropic_count_tokens))
