"""The learning loop: remembers each routed decision, takes feedback and implicit signals,
and corrects the router's quality predictions for requests that look alike."""

from __future__ import annotations

import logging
import math
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..core.lazy_import import lazy_module
from .bandit import ResidualThompson
from .features import DIM
from .signals import RetryDetector, simhash

if TYPE_CHECKING:
    import numpy as np
else:  # loaded on first use: a gateway that never learns never imports numpy
    np = lazy_module("numpy")

log = logging.getLogger("faregate.learning")


def _quality(q: float) -> float:
    """A corrected prediction, kept a quality (in [0, 1])."""
    return float(min(1.0, max(0.0, q)))


# Persistence hooks (``learning/shared_state.py`` shares them with every replica):
# ``on_remember(request_id, decision)`` and ``on_learn(model, x, residual, weight, reason)``;
# ``on_prompt(key_id, fingerprint, request_id)`` (a prompt seen, for the other replicas' retry
# detection) and ``on_retry_elsewhere(request_id)`` (a retry of a request another replica answered).
RememberHook = Callable[[str, "Decision"], None]
LearnHook = Callable[[str, "np.ndarray", float, float, str], None]
PromptHook = Callable[[str, int, str], None]
RetryHook = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Signal:
    """One outcome learned from: which signal, which model, its weight, and how far it moved
    that model's predicted quality for the request it was about (``moved``, signed)."""

    reason: str
    model: str
    weight: float
    moved: float
    request_id: str

    def header(self) -> str:
        """Its ``x-faregate-signals`` form: ``retried;model=m;weight=0.5;moved=-0.0312;of=<id>``."""
        return f"{self.reason};model={self.model};weight={self.weight:g};moved={self.moved:+.4f};of={self.request_id}"


@dataclass(slots=True)
class Decision:
    model: str
    x: np.ndarray
    predicted_quality: float
    key_id: str | None
    at: float
    settled: bool = False  # an explicit score or a decisive signal has been applied


class LearningLoop:
    """Online correction of quality predictions, warm-started by the offline router.

    - ``adjust``: the offline predictions plus the learned residual; with probability
      ``explore_rate`` (drawn from the request id, so it replays) a Thompson sample instead of
      the mean, at most ``max_explore_shift`` from it. The policy still enforces every hard
      constraint on the adjusted values.
    - ``remember``: keep what was decided, to learn from feedback that comes later.
    - ``feedback``: an explicit score in [0, 1].
    - ``signal_*``: implicit outcomes (upstream error or timeout: 0; over the latency
      ceiling: 0 at half weight; a retried prompt, as ``signals.RetryDetector`` defines one: the
      earlier answer scores 0 at ``retry_weight``, each key at most ``max_retry_signals`` per window).
      A signal that guesses the quality from behaviour (a retry, a slow answer) of weight w moves
      the model's predicted quality for its request by at most ``w * max_signal_move``: it is
      weak evidence (a retry may be a rephrase), and without the bound one retry of a fresh model
      moved it by half its distance to 0 and, through the shared bias and task features, every
      other prompt with it. A failed call is an observed outcome (no answer), learned like a score.
    """

    def __init__(
        self,
        *,
        explore_rate: float = 0.05,
        noise: float = 0.2,
        prior_strength: float = 1.0,
        memory: int = 100_000,
        retry_window_s: float = 300.0,
        retry_min_gap_s: float = 2.0,
        retry_weight: float = 0.5,
        max_retry_signals: int = 3,
        max_signal_move: float = 0.1,
        max_explore_shift: float = 0.1,
    ) -> None:
        if not 0.0 <= explore_rate <= 1.0:
            raise ValueError("explore_rate must be in [0, 1]")
        self.explore_rate = explore_rate
        self.model = ResidualThompson(DIM, prior_strength=prior_strength, noise=noise)
        self.retries = RetryDetector(window_s=retry_window_s, min_gap_s=retry_min_gap_s, max_signals=max_retry_signals)
        self.retry_weight = retry_weight
        self.max_signal_move = max_signal_move
        self.max_explore_shift = max_explore_shift
        self._decisions: OrderedDict[str, Decision] = OrderedDict()
        self._memory = memory
        self.updates = 0
        self.on_remember: RememberHook | None = None
        self.on_learn: LearnHook | None = None
        self.on_prompt: PromptHook | None = None
        self.on_retry_elsewhere: RetryHook | None = None

    @property
    def snapshot_id(self) -> str:
        """A short hash of what has been learned (``ResidualThompson.snapshot_id``): part of the
        policy version each request records, so a change of answers after feedback is traceable."""
        return self.model.snapshot_id()

    @staticmethod
    def _rng(request_id: str) -> np.random.Generator:
        return np.random.default_rng(zlib.crc32(request_id.encode()))

    def adjust(self, request_id: str, x: np.ndarray, predictions: dict[str, float]) -> tuple[dict[str, float], bool]:
        """Return (adjusted quality per model, whether this request explores). An exploring
        request's sample lies within ``max_explore_shift`` of the mean."""
        rng = self._rng(request_id)
        explore = bool(rng.random() < self.explore_rate)
        if not explore:
            return self.mean_adjusted(x, predictions), False
        shift = self.max_explore_shift
        return {m: _quality(p + self.model.sample(m, x, rng, max_shift=shift)) for m, p in predictions.items()}, True

    def mean_adjusted(self, x: np.ndarray, predictions: dict[str, float]) -> dict[str, float]:
        """The predictions plus the learned residual's mean (what ``adjust`` gives unexplored)."""
        return {m: _quality(p + self.model.mean(m, x)) for m, p in predictions.items()}

    def remember(
        self,
        request_id: str,
        model: str,
        x: np.ndarray,
        predicted_quality: float,
        key_id: str | None,
        answered: bool = False,
    ) -> None:
        """Keep the decision; ``answered``: its answer completed (a later look-alike may retry it)."""
        decision = self._decisions[request_id] = Decision(model, x, predicted_quality, key_id, time.time())
        if self.on_remember is not None:
            self.on_remember(request_id, decision)
        while len(self._decisions) > self._memory:
            self._decisions.popitem(last=False)
        if key_id and answered:
            self.retries.answered(key_id, request_id)

    def retry_of(self, request_id: str, key_id: str | None, prompt: str, conversation: int = 0) -> str | None:
        """When a request is routed: the earlier request it retries, if it looks like a retry."""
        if not key_id:
            return None
        h = simhash(prompt)
        earlier = self.retries.seen_hash(key_id, h, request_id, conversation)
        if self.on_prompt is not None:
            self.on_prompt(key_id, h, request_id)
        if earlier is not None and earlier not in self._decisions and self.on_retry_elsewhere is not None:
            self.on_retry_elsewhere(earlier)  # answered by another replica: it learns from there
            return None
        return earlier

    def signal_retry(self, earlier_request_id: str) -> Signal | None:
        """The earlier answer did not satisfy (its prompt was retried, not from the cache)."""
        return self._apply(earlier_request_id, 0.0, weight=self.retry_weight, reason="retried", implicit=True)

    def feedback(self, request_id: str, score: float) -> bool:
        """Apply an explicit score; False when the decision is unknown (forgotten or never routed)."""
        return self._apply(request_id, float(score), weight=1.0, reason="feedback", settle=True) is not None

    def signal_retried(self, request_id: str) -> bool:
        """A retry detected for a decision adopted from another replica (``shared_retries``)."""
        return self.signal_retry(request_id) is not None

    def signal_failure(self, request_id: str) -> bool:
        return self._apply(request_id, 0.0, weight=1.0, reason="upstream_failure", settle=True) is not None

    def signal_slow(self, request_id: str) -> bool:
        """The answer came after the request's latency ceiling: half the weight of a failure."""
        return self._apply(request_id, 0.0, weight=0.5, reason="over_latency_ceiling", implicit=True) is not None

    def _apply(
        self,
        request_id: str,
        score: float,
        *,
        weight: float,
        reason: str,
        settle: bool = False,
        implicit: bool = False,
    ) -> Signal | None:
        d = self._decisions.get(request_id)
        if d is None or d.settled:
            return None
        before = self.model.mean(d.model, d.x)
        residual = score - d.predicted_quality
        if implicit:
            residual = self._bounded(d, residual, before, weight)
        self.model.update(d.model, d.x, residual, weight)
        d.settled = settle
        self.updates += 1
        if self.on_learn is not None:
            self.on_learn(d.model, d.x, residual, weight, reason)
        log.debug("learned from %s on %s: %s -> %.2f", reason, request_id, d.model, score)
        return Signal(reason, d.model, weight, self.model.mean(d.model, d.x) - before, request_id)

    def _bounded(self, d: Decision, residual: float, mean: float, weight: float) -> float:
        """The residual an implicit signal is learned as: its own, or the one nearer the current
        ``mean`` that moves the mean at ``d.x`` by exactly ``weight * max_signal_move``. (The
        residual shrinks, not the weight, so the update other replicas replay and the weights
        ``faregate report`` sums stay the signal's own.)"""
        q = self.model.spread(d.model, d.x)
        k = weight * q / (1.0 + weight * q)  # the share of (residual - mean) the update moves
        cap = weight * self.max_signal_move
        if k <= 0.0 or k * abs(residual - mean) <= cap:
            return residual
        return mean + math.copysign(cap / k, residual - mean)

    # -- state shared with other replicas (``learning/shared_state.py``) --------------------

    def learn_remote(self, model: str, x: np.ndarray, residual: float, weight: float) -> None:
        """An update another replica made (or this one before a restart): no hook, no re-share."""
        self.model.update(model, x, residual, weight)
        self.updates += 1

    def adopt(self, request_id: str, decision: Decision) -> None:
        """A decision another replica made, so feedback received here can be learned from."""
        self._decisions.setdefault(request_id, decision)
