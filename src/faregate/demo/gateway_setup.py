"""The demo gateway's setup: its config, built in code, and a router trained on synthetic outcomes."""

from __future__ import annotations

from pathlib import Path

import orjson

from ..config import GatewayConfig
from .batch_share import BATCH_DISCOUNT
from .options import DEMO_KEY
from .simulator import FLOORS, TIERS, Simulator


def build_config(
    base_urls: dict[str, str],
    *,
    db_path: str,
    router_model: str | None,
    calibration_file: str | None,
    time_scale: float,
    master_key: str | None = None,
) -> GatewayConfig:
    """The gateway's config for the simulated tiers (in code, no YAML needed)."""

    models = []
    for t in TIERS:
        models.append(
            {
                "name": t.name,
                "provider": "openai",
                "model": t.name,
                "base_url": base_urls[t.name],
                "api_key": "simulated",
                "prices": {"input": t.input_price, "output": t.output_price},
                "batch_discount": BATCH_DISCOUNT,  # as the real models the tiers are priced like
                # The simulated providers serve OpenAI's Batch API too: requests that can wait go there.
                "batch": "provider",
                # Priors on the demo's (scaled) clock, refined by live measurements.
                "latency": {"ttft_ms": t.ttft_ms * time_scale, "tokens_per_s": t.tokens_per_s / time_scale},
                "router_name": t.name,
                "max_attempts": 1,
            }
        )
    return GatewayConfig.model_validate(
        {
            "server": {"host": "127.0.0.1", "port": 0},
            "models": models,
            "routes": [{"name": "auto", "candidates": [t.name for t in TIERS], "router_model": router_model}],
            "keys": [{"key": DEMO_KEY, "name": "demo"}],
            "task_quality_defaults": dict(FLOORS),
            "router_model": router_model,
            "calibration_file": calibration_file,
            "cascades": False,
            "database_url": f"sqlite:///{db_path}",
            "limits": {"enabled": True},
            # With a master key (``demo --keep``) the kept gateway serves its dashboard.
            "master_key": master_key,
            "dashboard": {"enabled": master_key is not None},
        }
    )


def train_router(sim: Simulator, n_rows: int, workdir: Path) -> tuple[str | None, str | None, str]:
    """A router model from synthetic outcomes (the training simulator has its own seed), or,
    if the routing package's trainer is unavailable, per-task quality priors."""
    rows = sim.outcome_rows(n_rows)
    try:
        from ..routing.data import parse_row
        from ..routing.model import RouterModel

        model = RouterModel.fit([parse_row(r) for r in rows], cascades=False)
        path = workdir / "demo-router.model"
        model.save(path)
        return (
            str(path),
            None,
            (
                f"trained router ({model.predictor.kind} on hashed n-grams, "
                f"{n_rows} synthetic outcome rows, seed {sim.seed})"
            ),
        )
    except Exception as exc:  # noqa: BLE001 - the demo still runs on priors
        by: dict[str, dict[str, list[float]]] = {}
        for r in rows:
            for m, o in r["outcomes"].items():
                by.setdefault(m, {}).setdefault(r["task"], []).append(o["quality"])
        cal = {m: {"quality_by_task": {t: {"quality": sum(v) / len(v)} for t, v in ts.items()}} for m, ts in by.items()}
        path = workdir / "demo-priors.json"
        path.write_bytes(orjson.dumps(cal))
        return None, str(path), f"per-task priors (router training unavailable: {type(exc).__name__}: {exc})"
