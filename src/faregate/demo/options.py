"""What a ``faregate demo`` run is asked to do, and the key its simulated clients use."""

from __future__ import annotations

from dataclasses import dataclass

DEMO_KEY = "fg-demo-key-000000000000"


@dataclass
class DemoOptions:
    """The workload size, seeds, concurrency and how the baseline is measured."""

    requests: int = 400
    seed: int = 7
    monthly_requests: int = 1_000_000
    concurrency: int = 24
    time_scale: float = 0.5
    train_rows: int = 600
    db_path: str | None = None
    baseline: str = "send"  # "send": the same workload sent to the strongest model through faregate
    feedback: bool = True  # send each answer's simulated quality as feedback
    master_key: str | None = None  # set with --keep: the kept gateway's dashboard login
