"""The request-log step turns a finished ``RequestContext`` into one record, appended once."""

from __future__ import annotations

from types import SimpleNamespace

from faregate.core.types import ChatRequest
from faregate.core.usage import Usage
from faregate.pipeline.context import Attempt, Principal, Reply, RequestContext
from faregate.pipeline.request_log_step import RequestLogStep


class _Writer:
    def __init__(self) -> None:
        self.records = []

    def append(self, r) -> None:
        self.records.append(r)


async def test_record_from_a_routed_request_with_fallback_and_bodies():
    w = _Writer()
    step = RequestLogStep(w, log_bodies=True, redact_emails=True)  # type: ignore[arg-type]
    req = ChatRequest(
        model="auto",
        messages=[{"role": "user", "content": [{"type": "text", "text": "mail me: a@b.io, Bearer abcdefghijklmnop"}]}],
    )
    ctx = RequestContext(request=req, principal=Principal(key_id="key_1", team="ops"))

    async def terminal(c: RequestContext) -> Reply:
        c.route, c.requested_model = "support", "auto"
        c.plan = SimpleNamespace(
            kind="single",
            models=["small", "big"],
            predicted_quality=0.9,
            predicted_cost_usd=0.001,
            predicted_latency_ms=800.0,
            arm="routed",
            constraints=SimpleNamespace(max_latency_ms=60_000.0),
        )
        c.task = "chat"
        c.attempts = [Attempt("small-1", "small", "transient"), Attempt("big-1", "big", "ok")]
        c.answered_model, c.answered_by, c.fallback_used = "big", "big-1", True
        c.usage, c.cost_usd, c.ttft_ms = Usage(120, 30, 20), 0.002, 40.0
        c.response_text = "sure, sk-ant-abcdefghijklmnopqrstuvwxyz"
        return Reply()

    await step.handle(ctx, terminal)
    assert w.records == []  # nothing before the answer completes
    await ctx.finish()
    await ctx.finish()
    [r] = w.records
    assert (r.id, r.key_id, r.team, r.route, r.requested_model, r.model, r.deployment) == (
        ctx.request_id,
        "key_1",
        "ops",
        "support",
        "auto",
        "big",
        "big-1",
    )
    assert r.plan_models == ["small", "big"] and r.models_called == ["small", "big"] and r.attempts == 2
    assert (r.pred_quality, r.pred_cost_usd, r.pred_latency_ms) == (0.9, 0.001, 800.0)
    assert (r.input_tokens, r.output_tokens, r.cached_tokens, r.cost_usd, r.ttft_ms) == (120, 30, 20, 0.002, 40.0)
    assert r.fallback_used and r.status == 200 and r.error_class is None
    assert r.latency_ceiling_ms == 60_000.0 and r.latency_met is True
    assert (r.arm, r.task) == ("routed", "chat")
    assert "a@b.io" not in r.prompt and "abcdefghijklmnop" not in r.prompt
    assert "sk-ant" not in r.answer


async def test_bodies_not_logged_by_default():
    w = _Writer()
    step = RequestLogStep(w)  # type: ignore[arg-type]
    ctx = RequestContext(request=ChatRequest(model="m", messages=[{"role": "user", "content": "secret plan"}]))

    async def terminal(c: RequestContext) -> Reply:
        c.status, c.error_class = 502, "transient"
        return Reply()

    await step.handle(ctx, terminal)
    await ctx.finish()
    [r] = w.records
    assert r.prompt is None and r.answer is None and r.status == 502 and r.error_class == "transient"
    assert r.latency_met is None


def test_from_config_gives_the_writer_the_log_writer_section(tmp_path):
    from faregate.config import GatewayConfig

    config = GatewayConfig.model_validate(
        {
            "database_url": f"sqlite:///{tmp_path / 'log.db'}",
            "log_writer": {"batch_size": 7, "flush_interval_s": 0.5, "max_queue": 70, "retry_interval_s": 2.0},
        }
    )
    writer = RequestLogStep.from_config(config).writer
    assert writer.config is config.log_writer
    assert (writer.batch_size, writer.flush_interval, writer.max_queue, writer.retry_interval) == (7, 0.5, 70, 2.0)
    defaults = RequestLogStep.from_config(GatewayConfig()).writer
    assert (defaults.batch_size, defaults.flush_interval, defaults.max_queue) == (500, 0.25, 50_000)
