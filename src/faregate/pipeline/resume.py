"""Mid-stream resume: continue a stream cut after content reached the client on another deployment.

Opt-in (``stream_resume: true`` on a model or a route). The continuation is the conversation
plus the partial answer as a final assistant message, which the next candidate continues:
Anthropic's assistant prefill, or an OpenAI-wire server with ``failover.openai_prefill`` (vLLM's
``continue_final_message``). Candidates, in order: the same model's other deployments, then the
models after it in the request's candidates. A candidate that cannot prefill is skipped; one
that fails (or refuses the prefill) is logged and the next is tried; with none left, the
stream ends with the in-band error as it would have without resume. One resume per request; a
stream that carried tool-call deltas is never resumed.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from ..config import FailoverConfig, ModelConfig
from ..core.errors import UpstreamError
from ..core.types import ChatRequest
from ..endpoints.balancer import Balancer
from ..endpoints.deployments import Deployment, DeploymentRegistry
from ..endpoints.health import DeploymentHealth
from ..endpoints.http import HttpPool
from .charge import charge
from .context import Attempt, RequestContext
from .held_stream import HeldStream, Resumer, StreamOptions, open_held_stream


class ResumeHost(Protocol):
    """What resume uses of the executor."""

    models: Mapping[str, ModelConfig]
    registry: DeploymentRegistry
    balancer: Balancer
    health: DeploymentHealth
    pool: HttpPool

    def failover(self, ctx: RequestContext, mcfg: ModelConfig) -> FailoverConfig: ...


def prefill_request(req: ChatRequest, partial: str, dep: Deployment, fo: FailoverConfig) -> ChatRequest | None:
    """``req`` with ``partial`` as the assistant's unfinished turn, or ``None`` when ``dep`` cannot continue one."""
    provider = dep.target.provider
    if provider == "anthropic":
        text = partial.rstrip()  # Anthropic refuses a prefill that ends in whitespace
        extra: dict[str, Any] = req.extra
    elif provider == "openai" and fo.openai_prefill:
        text = partial
        extra = {**req.extra, "continue_final_message": True, "add_generation_prompt": False}
    else:
        return None
    if not text:
        return None
    messages = list(req.messages)
    last = messages[-1] if messages else None
    if last and last.get("role") == "assistant" and isinstance(last.get("content"), str):
        messages[-1] = {**last, "content": last["content"] + text}  # the client's own prefill, extended
    else:
        messages.append({"role": "assistant", "content": text})
    return dataclasses.replace(req, messages=messages, extra=extra)


def _sent_without_trailing_space(req: ChatRequest, partial: str) -> bool:
    """Whether the prefill in ``req`` lost the whitespace that ends ``partial``."""
    content = req.messages[-1].get("content")
    return partial != partial.rstrip() and isinstance(content, str) and not content.endswith(partial)


class Resume:
    """Opens a continuation for a cut stream (see the module docstring)."""

    def __init__(self, ex: ResumeHost) -> None:
        self.ex = ex

    def resumer(self, ctx: RequestContext, mcfg: ModelConfig) -> Resumer | None:
        if ctx.resumed:
            return None

        async def resume(partial: str, err: UpstreamError) -> HeldStream | None:
            return await self._continue(ctx, mcfg, partial, err)

        return resume

    def _candidates(
        self, ctx: RequestContext, mcfg: ModelConfig, failed: str | None
    ) -> Iterator[tuple[ModelConfig, Deployment]]:
        ex = self.ex
        names = list(ctx.candidates) or [mcfg.name]
        after = names[names.index(mcfg.name) :] if mcfg.name in names else [mcfg.name]
        for name in after:
            cfg = ex.models.get(name)
            if cfg is None:
                continue
            for dep in ex.balancer.order(name, cfg.strategy, ex.registry.deployments(name), ex.health.usable):
                if dep.id != failed:
                    yield cfg, dep

    async def _continue(
        self, ctx: RequestContext, mcfg: ModelConfig, partial: str, err: UpstreamError
    ) -> HeldStream | None:
        ex = self.ex
        first = ex.models.get(ctx.candidates[0]) if ctx.candidates else mcfg
        deadline = time.monotonic() + (first or mcfg).timeouts.total - ctx.elapsed_ms() / 1000.0
        for cfg, dep in self._candidates(ctx, mcfg, err.deployment):
            fo = ex.failover(ctx, cfg)
            req = prefill_request(ctx.request, partial, dep, fo)
            if req is None or time.monotonic() >= deadline:
                continue
            permit = ex.health.acquire(dep)
            if permit is None:
                continue
            opts = StreamOptions(cfg.upstream_caps, fo.malformed_events_skipped, None, req, partial)
            opts.drop_leading_space = _sent_without_trailing_space(req, partial)
            t_start = time.perf_counter()
            dep.in_flight += 1
            try:
                held = await open_held_stream(ex.pool, ex.health, ctx, dep, deadline, permit, opts)
            except UpstreamError as failure:
                dep.in_flight -= 1
                ex.health.on_failure(dep, failure, permit)
                attempt = Attempt(dep.id, cfg.name, failure.kind, None, 0.0, (time.perf_counter() - t_start) * 1000)
                attempt.error = failure.message
                charge(ctx, attempt, dep, getattr(failure, "partial_usage", None))
                ctx.attempts.append(attempt)
                continue
            except BaseException:
                dep.in_flight -= 1
                ex.health.on_neutral(dep, permit)
                raise
            ctx.resumed, ctx.resume_at_chars = True, len(partial)
            ctx.answered_by, ctx.answered_model = dep.id, cfg.name
            ctx.fallback_used = ctx.fallback_used or (bool(ctx.candidates) and cfg.name != ctx.candidates[0])
            return held
        return None
