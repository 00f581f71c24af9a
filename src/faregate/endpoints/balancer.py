"""Ordering a model's deployments for one request, by the model's configured strategy."""

from __future__ import annotations

import itertools
import random
import time

from .deployments import Deployment

EXPLORE = 0.05  # share of requests on which the ``latency`` strategy tries another deployment first


class Balancer:
    """Orders deployments: healthy first by strategy; cooling ones are left out.

    Strategies: ``weighted`` (weighted random), ``round_robin``, ``least_busy`` (fewest
    in-flight), ``latency`` (lowest moving time-to-first-token), ``cost`` (cheapest prices),
    ``priority`` (lowest ``priority`` number first).
    """

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()
        self._rr: dict[str, itertools.count] = {}

    def order(self, model: str, strategy: str, deployments: list[Deployment], usable=None) -> list[Deployment]:
        now = time.monotonic()
        ok = [d for d in deployments if not d.cooling(now) and (usable is None or usable(d))]
        if len(ok) <= 1:
            return ok
        if strategy == "round_robin":
            n = next(self._rr.setdefault(model, itertools.count()))
            k = n % len(ok)
            return ok[k:] + ok[:k]
        if strategy == "least_busy":
            return sorted(ok, key=lambda d: (d.in_flight, self._rng.random()))
        if strategy == "latency":
            # Unmeasured deployments first, so each gets a latency estimate; now and then
            # (EXPLORE) another one goes first, so a deployment slow once is measured again.
            out = sorted(ok, key=lambda d: (d.ttft_ewma_ms if d.ttft_ewma_ms is not None else -1.0, self._rng.random()))
            if self._rng.random() < EXPLORE:
                k = self._rng.randrange(1, len(out))
                out.insert(0, out.pop(k))
            return out
        if strategy == "cost":
            return sorted(ok, key=lambda d: (d.target.prices.input + d.target.prices.output, d.priority))
        if strategy == "priority":
            return sorted(ok, key=lambda d: d.priority)
        # weighted random without replacement (Efraimidis-Spirakis keys)
        return sorted(ok, key=lambda d: -(self._rng.random() ** (1.0 / d.weight)))
