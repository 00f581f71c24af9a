"""An unsampled request runs as with tracing off: the observe step decides sampling first and
neither wraps its stream nor builds a span; a sampled one is wrapped (its finish reason noted)."""

from __future__ import annotations

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from faregate.config import GatewayConfig
from faregate.core.types import ChatRequest
from faregate.endpoints.deployments import DeploymentRegistry
from faregate.observability.tracing import Tracing
from faregate.pipeline.context import Principal, Reply, RequestContext
from faregate.pipeline.observe_step import ObserveStep
from faregate.pipeline.services import Services


class _Count(SpanExporter):
    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans):
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


async def _events():
    yield None  # never iterated: only the object's identity matters


def _step(ratio: float, exporter: _Count) -> ObserveStep:
    cfg = GatewayConfig.model_validate(
        {
            "models": [{"name": "a", "provider": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": "k"}],
            "database_url": "",
            "learning": {"enabled": False},
            "metrics": {"enabled": False},
            "access_log": {"enabled": False},
            "tracing": {"sample_ratio": ratio},
        }
    )
    services = Services.build(cfg)
    services.tracing = Tracing(cfg.tracing, exporter=exporter)
    return ObserveStep(cfg, services, DeploymentRegistry(cfg.models))


async def _run(step: ObserveStep, events) -> tuple[RequestContext, Reply]:
    ctx = RequestContext(request=ChatRequest(model="a", messages=[{"role": "user", "content": "hi"}]),
                         principal=Principal(key_id="k", name="t"))  # fmt: skip

    async def call_next(c: RequestContext) -> Reply:
        return Reply(events=events)

    reply = await step.handle(ctx, call_next)
    for hook in ctx.on_finish + ctx.on_record:
        hook(ctx)
    return ctx, reply


async def test_unsampled_stream_is_untouched_and_builds_no_span():
    exp = _Count()
    step = _step(0.0, exp)
    events = _events()
    ctx, reply = await _run(step, events)
    assert ctx.trace is None and reply.events is events
    step.tracing.flush()
    assert exp.spans == 0
    step.tracing.close()


async def test_sampled_stream_is_wrapped_and_exported():
    exp = _Count()
    step = _step(1.0, exp)
    events = _events()
    ctx, reply = await _run(step, events)
    assert ctx.trace is not None and reply.events is not events
    step.tracing.flush()
    assert exp.spans >= 1
    step.tracing.close()
    await events.aclose()
