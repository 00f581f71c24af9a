"""The probability that a plan's answer meets a quality floor (the chance constraint).

A request's ``min_quality`` with ``confidence`` c means "the answer meets the floor with
probability at least c". A predictor that knows its own spread fills ``Candidate.p_meet``
(the trained router, once calibrated); for every other source (the catalogue's priors, logged
per-task outcomes, the learner's posteriors) the quality is a mean only, so this module turns
it into a probability: the quality is taken as Beta-distributed with that mean and a
concentration (pseudo-observations) that says how much evidence stands behind the mean, and
``P(quality >= floor)`` is read from a normal approximation to that Beta (cheap enough for the
request path: one ``erf``).
"""

from __future__ import annotations

import math
from statistics import NormalDist

# Pseudo-observations behind a mean. A trained router or measured per-task quality: its spread
# on held-out data is a few points of quality (about 0.025 at a mean of 0.93 -> ~105, tuned on the demo).
TRAINED_CONCENTRATION = 105.0
# A catalogue prior (a leaderboard or per-model mean, not this traffic): a wide distribution.
PRIOR_CONCENTRATION = 20.0
# The most evidence a calibrated p_meet is read as (a spread of about 0.01 at a mean of 0.9).
MAX_CONCENTRATION = 1000.0
_EPS = 1e-9


def beta_sd(mean: float, concentration: float) -> float:
    """The standard deviation of a Beta with this mean and concentration (alpha + beta)."""
    m = min(max(mean, _EPS), 1 - _EPS)
    return math.sqrt(m * (1 - m) / (concentration + 1.0))


def p_meet(mean: float, floor: float, concentration: float = TRAINED_CONCENTRATION) -> float:
    """``P(quality >= floor)`` for a quality with this mean and concentration, in [0, 1]."""
    if floor <= 0.0:
        return 1.0
    if floor >= 1.0:
        return 0.0 if mean < 1.0 else 1.0
    z = (mean - floor) / beta_sd(mean, concentration)
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def implied_concentration(mean: float, floor: float | None, p: float | None) -> float | None:
    """The concentration at which a Beta with this mean gives ``P(quality >= floor) = p``: the
    evidence a calibrated ``p_meet`` stands for, so a later shift of the mean (the learner's
    correction) keeps the spread the calibration measured. None when ``p`` says nothing about the
    spread (0 or 1, a mean on the floor, or a side that contradicts the mean)."""
    if floor is None or p is None or not 1e-6 < p < 1 - 1e-6 or abs(mean - floor) < 1e-6:
        return None
    z = NormalDist().inv_cdf(p)
    if z * (mean - floor) <= 0:
        return None
    m = min(max(mean, _EPS), 1 - _EPS)
    sd = (mean - floor) / z
    return min(max(m * (1 - m) / (sd * sd) - 1.0, 1.0), MAX_CONCENTRATION)
