"""``examples/demo-dashboard.yaml`` prices the demo's tiers as the demo does (no drift)."""

from __future__ import annotations

from pathlib import Path

from faregate.config import load_config
from faregate.demo.simulator import TIERS

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "demo-dashboard.yaml"


def test_the_example_prices_the_demo_tiers_and_enables_the_dashboard():
    cfg = load_config(str(EXAMPLE), env={})
    assert cfg.dashboard.enabled
    prices = {m.name: (m.prices.prices().input, m.prices.prices().output) for m in cfg.models}
    assert prices == {t.name: (t.input_price, t.output_price) for t in TIERS}
