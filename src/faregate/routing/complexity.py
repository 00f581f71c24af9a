"""A request's complexity class: ``simple``, ``medium`` or ``complex``.

Where a trained router predicts some of the candidates (``faregate train``), the class comes
from its difficulty estimate: one minus the mean quality it predicts for the models it knows
(a prompt every model is expected to answer well is simple). Otherwise a fast text heuristic
scores the prompt (length, reasoning and code markers, tools, several questions); it reads the
prompt once with a few precompiled patterns, no model, so it costs microseconds.

Shown in ``POST /v1/route`` (``complexity``), the ``x-faregate-complexity`` header, the request
log's ``complexity`` column and ``GET /v1/analytics/summary?group_by=complexity``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .features import RequestFeatures

CLASSES = ("simple", "medium", "complex")
# Router difficulty (1 - mean predicted quality) at or above which a request is medium / complex.
ROUTER_MEDIUM, ROUTER_COMPLEX = 0.2, 0.4
# Heuristic score at or above which a request is medium / complex.
TEXT_MEDIUM, TEXT_COMPLEX = 0.25, 0.5

_REASONING = re.compile(
    r"\b(prove|proof|derive|step[- ]by[- ]step|explain why|analy[sz]e|compare|trade-?offs?|design|architect|"
    r"optimi[sz]e|debug|algorithm|complexity|theorem|evaluate|critique|plan (?:a|an|the)|multi-step|why does)\b",
    re.I,
)
_CODE = re.compile(r"```|\bdef |\bclass |\bfunction\b|\bimplement\b|\brefactor\b|stack ?trace", re.I)


def heuristic_score(feats: RequestFeatures) -> float:
    """The text heuristic's score, from 0 (trivial) upward; see the module."""
    text = feats.text[-8000:]
    score = 0.0
    if feats.input_tokens > 1500:
        score += 0.3
    elif feats.input_tokens > 300:
        score += 0.15
    score += min(0.5, 0.25 * len(_REASONING.findall(text)))
    if feats.task == "code" or _CODE.search(text):
        score += 0.2
    if feats.has_tools:
        score += 0.15
    if text.count("?") >= 3:
        score += 0.1
    if feats.depth > 6:
        score += 0.1
    return score


def classify(score: float, medium: float, complex_: float) -> str:
    return "complex" if score >= complex_ else "medium" if score >= medium else "simple"


def complexity(feats: RequestFeatures, router_quality: Mapping[str, float] | None = None) -> tuple[str, str]:
    """(class, source): ``source`` is ``router`` when ``router_quality`` (the trained router's
    predicted quality per model it knows) is given and not empty, else ``heuristic``."""
    if router_quality:
        difficulty = 1.0 - sum(router_quality.values()) / len(router_quality)
        return classify(difficulty, ROUTER_MEDIUM, ROUTER_COMPLEX), "router"
    return classify(heuristic_score(feats), TEXT_MEDIUM, TEXT_COMPLEX), "heuristic"
