"""Simulated providers for ``faregate demo``: three model tiers with real public list prices,
seeded latency distributions and a per-task quality profile.

Everything here is *simulated*: the tiers are named ``sim-*`` and priced like real models
(list prices per million tokens as published by their vendors), but no real model answers.

Each prompt has a hidden difficulty ``d`` in [0, 1] (the client never sends it; the router never
sees it, only the prompt's text, whose wording depends on how hard the request is, as real
traffic does). A tier's quality on a prompt is the probability that its answer is acceptable::

    q(tier, task, d) = cap - drop[task] * (0.25 d + 0.75 sigmoid((d - threshold) / 0.07))  (+ seeded jitter)

so the small tier is fine on easy prompts and clearly worse on hard ones, while the frontier
tier stays good everywhere. ``q`` is deterministic given the seed and the prompt.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field

from ..core.types import content_text

TASKS = ("classify", "summarize", "chat", "generate")
# A traffic mix modelled on production LLM traffic: mostly cheap, short requests.
MIX = {"classify": 0.40, "summarize": 0.30, "chat": 0.20, "generate": 0.10}
# Per-task quality floors (min_quality) and latency ceilings (max_latency_ms, simulated ms).
FLOORS = {"classify": 0.90, "summarize": 0.75, "chat": 0.85, "generate": 0.80}
CEILINGS_MS = {"classify": 2_000.0, "summarize": 8_000.0, "chat": 6_000.0, "generate": 15_000.0}


@dataclass(frozen=True)
class Tier:
    name: str  # the gateway's model name
    priced_as: str  # the real model whose list price it uses
    input_price: float  # USD per million input tokens
    output_price: float  # USD per million output tokens
    ttft_ms: float  # median time to first token
    tokens_per_s: float  # median generation speed
    cap: float  # quality on the easiest prompts
    drop: dict[str, float] = field(default_factory=dict)  # quality lost at d = 1, per task
    verbosity: float = 1.0
    threshold: float = 0.5  # the difficulty around which its quality falls off


# List prices (USD per 1M tokens, input/output) as published by the vendors in 2025.
TIERS = (
    Tier(
        "sim-frontier",
        "GPT-4o ($2.50 / $10.00)",
        2.50,
        10.00,
        650.0,
        85.0,
        0.99,
        {"classify": 0.05, "summarize": 0.12, "chat": 0.10, "generate": 0.14},
        1.10,
        0.9,
    ),
    Tier(
        "sim-mid",
        "Claude 3.5 Haiku ($0.80 / $4.00)",
        0.80,
        4.00,
        450.0,
        120.0,
        0.975,
        {"classify": 0.22, "summarize": 0.28, "chat": 0.32, "generate": 0.42},
        1.0,
        0.6,
    ),
    Tier(
        "sim-small",
        "GPT-4o mini ($0.15 / $0.60)",
        0.15,
        0.60,
        330.0,
        160.0,
        0.955,
        {"classify": 0.42, "summarize": 0.50, "chat": 0.62, "generate": 0.85},
        0.9,
        0.3,
    ),
)
TIER_BY_NAME = {t.name: t for t in TIERS}
STRONGEST = "sim-frontier"
OUTPUT_TOKENS = {"classify": 6, "summarize": 160, "chat": 180, "generate": 420}

# -- prompt text: the wording shows how hard a request is (as it does in real traffic) ------------

_PRODUCTS = [
    "headphones",
    "blender",
    "running shoes",
    "desk lamp",
    "phone case",
    "backpack",
    "coffee grinder",
    "e-reader",
    "office chair",
    "monitor",
    "kettle",
    "tent",
    "keyboard",
    "vacuum",
    "jacket",
]
_TOPICS = [
    "quarterly sales",
    "a product launch",
    "a data migration",
    "the onboarding flow",
    "a pricing change",
    "the hiring plan",
    "a security incident",
    "the mobile app release",
    "supplier contracts",
    "customer churn",
    "the cloud bill",
    "a warehouse move",
]
_ISSUES = [
    "my order has not arrived",
    "I was charged twice",
    "I cannot log in",
    "the app crashes on start",
    "I want to change my plan",
    "the invoice address is wrong",
    "my refund is late",
    "the password reset email never comes",
]

_TEMPLATES = {
    "classify": [
        'Is this review positive or negative? "The {p} is great, I love it." Answer with one word.',
        'Label the sentiment (positive, negative, neutral) of: "The {p} arrived on time and works as described, '
        'though the box was dented." One word.',
        "Classify the intent of this message into one of: billing, shipping, account, technical, legal, other. "
        'Message: "{i}, and frankly if this is how you treat long-standing customers I will reconsider the '
        'enterprise renewal we discussed, but I also need the {p} integration fixed before the audit." '
        "Consider sarcasm, mixed intents and implicit escalation; answer with the single dominant label.",
    ],
    "summarize": [
        "Summarise in one sentence: The team met about {t}. Everyone agreed to ship on Friday.",
        "Summarise the key decisions and owners from these meeting notes about {t}: the budget moves to Q3, "
        "Dana owns the vendor review, and the launch slips two weeks pending legal sign-off.",
        "Write an executive summary of this 40-page technical report on {t}, reconciling the conflicting "
        "figures in sections 3 and 7, preserving every caveat about the statistical methodology, the regional "
        "breakdown and the dependencies between workstreams; flag any claim the appendix does not support.",
    ],
    "chat": [
        "Hi! What are your opening hours?",
        "Hello, {i}. Can you tell me what I should do next?",
        "{i}. I already tried the steps in your help centre twice, your previous agent promised a callback "
        "that never happened, and I need a concrete resolution today that accounts for the partial refund "
        "on the {p} and the loyalty credit on my account; walk me through the exact policy exceptions.",
    ],
    "generate": [
        "Write a short friendly tagline for a {p}.",
        "Write a 150-word product description for a {p}, highlighting durability and design.",
        "Write a persuasive, technically accurate 800-word launch blog post about {t} for a sceptical "
        "engineering audience: cover the architecture trade-offs, migration risks and benchmarks, keep "
        "the brand voice, and avoid any claim that legal could not defend.",
    ],
}


# Extra requirements: harder requests ask for more (a continuous, visible sign of difficulty).
_REQS = [
    "Keep the original terminology.",
    "Cite the exact sentence you rely on.",
    "Handle the edge cases explicitly.",
    "Respect the house style guide.",
    "Do not omit any numeric detail.",
    "Resolve any contradiction you notice.",
    "Explain your reasoning step by step.",
    "Match the requested format exactly.",
    "Account for the regulatory context.",
    "Reconcile it with last year's figures.",
    "Anticipate the reader's objections.",
    "Stay consistent with prior answers.",
]


def _h(*parts: object) -> float:
    """A uniform number in [0, 1) from a hash of the parts (deterministic, seed-able)."""
    d = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(d, "big") / 2**64


@dataclass(frozen=True)
class Prompt:
    id: str
    task: str
    text: str
    difficulty: float  # hidden: never sent to the gateway


def _level(d: float) -> int:
    return 0 if d < 0.3 else (1 if d < 0.65 else 2)


class Simulator:
    """The simulated world of one seed: prompts with hidden difficulty, and the tiers' answers."""

    def __init__(self, seed: int = 0, *, time_scale: float = 0.1) -> None:
        self.seed = seed
        self.time_scale = time_scale
        self._by_text: dict[str, Prompt] = {}

    # -- prompts -------------------------------------------------------------------------------

    def workload(self, n: int, *, prefix: str = "w") -> list[Prompt]:
        rng = random.Random(f"{prefix}:{self.seed}")
        out = []
        tasks, weights = list(MIX), list(MIX.values())
        for i in range(n):
            task = rng.choices(tasks, weights)[0]
            # Most real traffic is easy; a long tail is hard.
            u = rng.random()
            d = rng.uniform(0.0, 0.3) if u < 0.55 else (rng.uniform(0.3, 0.65) if u < 0.85 else rng.uniform(0.65, 1.0))
            tmpl = _TEMPLATES[task][_level(d)]
            text = tmpl.format(p=rng.choice(_PRODUCTS), t=rng.choice(_TOPICS), i=rng.choice(_ISSUES))
            k = round(d * len(_REQS))
            if k:
                text += " " + " ".join(rng.sample(_REQS, k))
            text = f"{text} (ref {prefix}{self.seed}-{i})"  # unique per request, as real prompts are
            p = Prompt(f"{prefix}{self.seed}-{i}", task, text, round(d, 4))
            self._by_text.setdefault(text, p)
            out.append(p)
        return out

    def prompt_for(self, text: str, task: str = "chat") -> Prompt:
        """The prompt this simulator made; an unknown text gets a difficulty from its hash."""
        p = self._by_text.get(text)
        return p or Prompt("adhoc", task, text, round(_h(self.seed, "d", text), 4))

    # -- outcomes ------------------------------------------------------------------------------

    def quality(self, tier: str, p: Prompt) -> float:
        t = TIER_BY_NAME[tier]
        jitter = (_h(self.seed, "q", tier, p.text) - 0.5) * 0.04
        # Good until the tier's difficulty threshold, then falling off quickly.
        fall = 1.0 / (1.0 + math.exp(-(p.difficulty - t.threshold) / 0.07))
        q = t.cap - t.drop.get(p.task, 0.5) * (0.25 * p.difficulty + 0.75 * fall) + jitter
        return round(min(1.0, max(0.0, q)), 4)

    def tokens(self, tier: str, p: Prompt) -> tuple[int, int]:
        t = TIER_BY_NAME[tier]
        inp = 40 + len(p.text) // 4  # a system prompt plus the message
        base = OUTPUT_TOKENS[p.task] * (1 + p.difficulty)
        out = max(1, int(base * t.verbosity * (0.75 + 0.5 * _h(self.seed, "o", tier, p.text))))
        return inp, out

    def cost_usd(self, tier: str, p: Prompt) -> float:
        t = TIER_BY_NAME[tier]
        i, o = self.tokens(tier, p)
        return (i * t.input_price + o * t.output_price) / 1e6

    def timing_ms(self, tier: str, p: Prompt) -> tuple[float, float]:
        """Simulated (unscaled) time to first token and generation time, log-normal."""
        t = TIER_BY_NAME[tier]
        _, out = self.tokens(tier, p)
        z = _gauss(self.seed, "l", tier, p.text)
        ttft = t.ttft_ms * math.exp(0.35 * z)
        speed = t.tokens_per_s * math.exp(-0.15 * z)
        return ttft, 1000.0 * out / speed

    def latency_ms(self, tier: str, p: Prompt) -> float:
        return sum(self.timing_ms(tier, p))

    def behaviour(self, tier: str, body: dict) -> dict:
        """The fake provider's answer to ``body`` as tier ``tier`` (the ``responder`` hook)."""
        text = _last_user_text(body)
        p = self.prompt_for(text)
        if tier not in TIER_BY_NAME:
            return {}
        i, o = self.tokens(tier, p)
        q = self.quality(tier, p)
        ttft, gen = self.timing_ms(tier, p)
        chunks = 6
        if body.get("stream"):
            # The fake waits ttft_ms, sends the role chunk, then one gap before each text chunk:
            # the first text arrives at the simulated time to first token, the last at the end.
            gap = gen * self.time_scale / (chunks - 1)
            timing = {"ttft_ms": max(0.0, ttft * self.time_scale - gap), "chunks": chunks, "chunk_gap_ms": gap}
        else:
            timing = {"ttft_ms": (ttft + gen) * self.time_scale}
        return {
            "text": f"[{tier} simulated answer, quality {q:.2f}]",
            **timing,
            "usage": {"input_tokens": i, "output_tokens": o},
        }

    def responder(self, protocol: str, model: str, body: dict) -> dict:
        return self.behaviour(model, body)

    # -- training data for the router (a different seed than the workload: no peeking) ----------

    def outcome_rows(self, n: int) -> list[dict]:
        rows = []
        for p in self.workload(n, prefix="train"):
            rows.append(
                {
                    "id": p.id,
                    "task": p.task,
                    "messages": [{"role": "user", "content": p.text}],
                    "outcomes": {
                        t.name: {"quality": self.quality(t.name, p), "cost_usd": self.cost_usd(t.name, p)}
                        for t in TIERS
                    },
                }
            )
        return rows


def _gauss(*parts: object) -> float:
    u1 = max(1e-12, _h(*parts, 1))
    u2 = _h(*parts, 2)
    return math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)


def _last_user_text(body: dict) -> str:
    for m in reversed(body.get("messages") or []):
        if isinstance(m, dict) and m.get("role") == "user":
            c = m.get("content")
            if isinstance(c, str):
                return c
            if isinstance(c, list):
                return content_text(c, " ", any_part=True)
    return ""
