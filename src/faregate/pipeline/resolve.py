"""The step that turns the requested model name into the ordered list of models to try."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Sequence

from ..config import ModelConfig
from ..core.errors import ModelNotFound, PermissionDenied
from .context import Reply, RequestContext
from .step import Next, Step

HOW_TO_ADD = (
    "add one under `models:` in the config file passed to `faregate serve --config` (see README, Configuration)"
)


class ResolveModel(Step):
    """Named model -> itself then its fallbacks. ``auto`` and route names are left for the router step."""

    def __init__(self, models: Sequence[ModelConfig], routes: Iterable[str] = ()) -> None:
        self._chains = {m.name: [m.name, *m.fallbacks] for m in models}
        self._routes = {*routes, "auto"}
        self._valid = sorted(self._chains)

    def handle(self, ctx: RequestContext, call_next: Next) -> Awaitable[Reply]:
        name = ctx.request.model
        ctx.requested_model = name
        if not ctx.candidates:
            chain = self._chains.get(name)
            if chain is not None:
                ctx.candidates = list(chain)
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
