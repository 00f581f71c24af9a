"""The API fronts beyond chat and messages: ``POST /v1/embeddings``, ``POST /v1/completions``
(each a ``FrontCodec`` over the same pipeline) and ``POST /v1/messages/count_tokens``."""

from __future__ import annotations

from aiohttp import web

from ..pipeline.gateway import Gateway
from ..wire.completions_front import CompletionsCodec
from ..wire.embeddings_front import EmbeddingsCodec
from .count_tokens_route import COUNT_TOKENS_PATH, count_tokens
from .front_handler import add_front


def add_fronts_routes(app: web.Application, gateway: Gateway) -> None:
    add_front(app, "/v1/embeddings", EmbeddingsCodec())
    add_front(app, "/v1/completions", CompletionsCodec())
    app.router.add_post(COUNT_TOKENS_PATH, count_tokens)
