"""The model catalogue: what faregate knows about common models without being told.

``models.json`` (shipped in this package, versioned with it) lists, per model, who sells it,
the wire format and endpoint, the upstream id, list prices in USD per million tokens, the
batch discount, the context window, the largest answer, capabilities, and where and when each
price was read. ``catalogue_file`` in the config names another file of the same shape, used
instead.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from ..config import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CataloguePrices(_Strict):
    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(None, ge=0)
    cache_write: float | None = Field(None, ge=0)


class Capabilities(_Strict):
    tools: bool = True
    vision: bool = False
    json_schema: bool = False
    streaming_usage: bool = True
    prompt_caching: bool = False


class Source(_Strict):
    url: str  # the provider's page that publishes the figures
    as_of: str  # ISO date the figures were last checked
    # Where they were checked when not on ``url`` itself (a stored copy, a public price list
    # such as LiteLLM's, at a named commit); null: read on ``url``, or not re-checked since.
    via: str | None = None


class QualityPriors(_Strict):
    """A model's quality before any training: P(answer acceptable) per task family (see
    docs/catalogue.md for how each tier's figures were derived and from what)."""

    tier: Literal["frontier", "strong", "small"]
    as_of: str  # ISO date the tier was assigned
    by_task: dict[str, float]  # task family (routing.features.TASKS, and "default") -> prior in [0, 1]

    @field_validator("by_task")
    @classmethod
    def _shares(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: q for k, q in v.items() if not 0.0 <= q <= 1.0}
        if bad:
            raise ValueError(f"priors must be in [0, 1]: {bad}")
        return v


class CatalogueEntry(_Strict):
    name: str  # what a config names it by (`model: gpt-4o-mini`)
    provider: str  # who sells it: openai, anthropic, google, mistral, deepseek, groq, xai...
    api: str  # the wire format: a provider name of adapters/registry.py
    upstream: str  # the id the provider's API expects
    base_url: str | None = None  # null: the wire format's public API
    prices: CataloguePrices
    batch_discount: float | None = Field(None, ge=0, le=1)  # share off under the batch API; null: none/unknown
    context_window: int = Field(gt=0)
    max_output_tokens: int | None = Field(None, gt=0)
    capabilities: Capabilities = Field(default_factory=Capabilities)
    retires: str | None = None  # ISO date the provider stops serving it, when the source gives one
    mode: Literal["chat", "embedding"] = "chat"  # an embedding model serves /v1/embeddings only
    source: Source
    quality_priors: QualityPriors | None = None  # null: no prior (embedding models, in-house entries)


class Catalogue(_Strict):
    version: str
    unit: str = "USD per million tokens"
    models: list[CatalogueEntry]

    _by_name: dict[str, CatalogueEntry] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: object) -> None:
        self._by_name = {e.name: e for e in self.models}

    def get(self, name: str) -> CatalogueEntry | None:
        return self._by_name.get(name)

    def find(self, name: str, provider: str | None = None) -> CatalogueEntry | None:
        """The entry named ``name``, else the one whose upstream id it is (of ``provider``'s wire format)."""
        hit = self.get(name)
        if hit is not None:
            return hit
        for e in self.models:
            if e.upstream == name and (provider is None or e.api == provider):
                return e
        return None


def _parse(raw: bytes, where: str) -> Catalogue:
    try:
        cat = Catalogue.model_validate(orjson.loads(raw))
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"catalogue {where} is not valid JSON: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"catalogue {where}: {loc}: {first['msg']}") from None
    names = [e.name for e in cat.models]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"catalogue {where}: duplicate model name(s) {dup}")
    return cat


@functools.lru_cache(maxsize=1)
def shipped() -> Catalogue:
    """The catalogue shipped with faregate."""
    raw = resources.files(__package__).joinpath("models.json").read_bytes()
    return _parse(raw, "models.json (shipped)")


def load_catalogue(path: str | None = None) -> Catalogue:
    """The shipped catalogue, or the file at ``path`` (``catalogue_file``) instead."""
    if path is None:
        return shipped()
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"catalogue_file: {path!r} does not exist")
    return _parse(p.read_bytes(), repr(path))
