"""The step that turns the requested model name into the ordered list of models to try."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Sequence

from ..adapters.registry import provider_spec
from ..config import ModelConfig
from ..core.errors import InvalidRequest, ModelNotFound, PermissionDenied
from .context import Reply, RequestContext
from .step import Next, Step

HOW_TO_ADD = (
    "add one under `models:` in the config file passed to `faregate serve --config` (see README, Configuration)"
)


# Which model ``mode`` serves each request kind, and the front to use instead.
_MODE_OF_KIND = {"chat": "chat", "completion": "chat", "embedding": "embedding"}
_FRONT_OF_MODE = {"chat": "/v1/chat/completions", "embedding": "/v1/embeddings"}


class ResolveModel(Step):
    """Named model -> itself then its fallbacks. ``auto`` and route names are left for the router step.

    A request kind the model cannot serve is a 400 here, before any upstream call: an embedding
    request to a chat model (or the reverse), or a kind the model's provider has no endpoint for
    (``ProviderSpec.kinds``). Routes and ``auto`` only ever route chat."""

    def __init__(self, models: Sequence[ModelConfig], routes: Iterable[str] = ()) -> None:
        self._chains = {m.name: [m.name, *m.fallbacks] for m in models}
        self._modes = {m.name: m.mode for m in models}
        self._kinds = {m.name: provider_spec(m.provider).kinds for m in models}
        self._routes = {*routes, "auto"}
        self._valid = sorted(self._chains)

    def handle(self, ctx: RequestContext, call_next: Next) -> Awaitable[Reply]:
        name = ctx.request.model
        ctx.requested_model = name
        if not ctx.candidates:
            chain = self._chains.get(name)
            kind = ctx.request.kind
            if chain is not None:
                self._check_kind(name, kind)
                # Fallbacks whose provider lacks this kind's endpoint are skipped, not failed on.
                ctx.candidates = [n for n in chain if kind in self._kinds.get(n, ())]
            elif kind == "embedding":
                raise self._not_embedding(name)
            elif kind != "chat" and name in self._routes:
                raise InvalidRequest(
                    f"{name!r} routes chat requests; this endpoint takes a model's name "
                    "(of an OpenAI-compatible provider).",
                    param="model",
                )
            elif name in self._routes and (self._chains or name != "auto"):
                ctx.route = name  # the routing step fills the candidates
            elif not self._chains:
                raise ModelNotFound(
                    f"The model {name!r} does not exist: no models are configured; {HOW_TO_ADD}.", param="model"
                )
            else:
                raise ModelNotFound(
                    f"The model {name!r} does not exist. Valid models: "
                    f"{', '.join(self._valid + sorted(self._routes))}.",
                    param="model",
                )
        p = ctx.principal
        if p is not None and p.models is not None and ctx.candidates and ctx.candidates[0] not in p.models:
            raise PermissionDenied(f"This key may not use model {ctx.candidates[0]!r}.", param="model")
        return call_next(ctx)

    def _check_kind(self, name: str, kind: str) -> None:
        mode = self._modes[name]
        if _MODE_OF_KIND.get(kind, "chat") != mode:
            raise InvalidRequest(
                f"The model {name!r} is {'an' if mode == 'embedding' else 'a'} {mode} model: send it to {_FRONT_OF_MODE[mode]}.",
                param="model",
                code="wrong_model_mode",
            )
        if kind not in self._kinds[name]:
            what = "embeddings" if kind == "embedding" else "legacy text completions"
            raise InvalidRequest(
                f"The model {name!r}'s provider has no {what} endpoint; use a model of an OpenAI-compatible provider"
                + (" or Gemini." if kind == "embedding" else " (or /v1/chat/completions)."),
                param="model",
                code="unsupported_endpoint",
            )

    def _not_embedding(self, name: str) -> Exception:
        embedders = sorted(n for n, m in self._modes.items() if m == "embedding")
        if name in self._routes:
            return InvalidRequest(
                f"{name!r} routes chat requests; /v1/embeddings needs an embedding model"
                + (f": one of {', '.join(embedders)}." if embedders else " (none is configured: `mode: embedding`)."),
                param="model",
            )
        return ModelNotFound(
            f"The model {name!r} does not exist. Embedding models: {', '.join(embedders) or 'none configured'}.",
            param="model",
        )
