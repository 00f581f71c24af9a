"""CLI: ``faregate models``: the model catalogue as a table, or ``--json``."""

from __future__ import annotations

import sys

import click
import orjson

from ..config import ConfigError
from .data import Catalogue, CatalogueEntry, load_catalogue


def _price(v: float | None) -> str:
    return "-" if v is None else f"{v:g}"


def as_json(cat: Catalogue) -> list[dict]:
    return [
        {
            "name": e.name,
            "provider": e.provider,
            "api": e.api,
            "upstream": e.upstream,
            "prices_usd_per_million": e.prices.model_dump(),
            "batch_discount": e.batch_discount,
            "context_window": e.context_window,
            "max_output_tokens": e.max_output_tokens,
            "capabilities": e.capabilities.model_dump(),
            "retires": e.retires,
            "quality_priors": e.quality_priors.model_dump() if e.quality_priors is not None else None,
            "source": e.source.model_dump(),
        }
        for e in cat.models
    ]


def _caps(e: CatalogueEntry) -> str:
    c = e.capabilities
    flags = (("T", c.tools), ("V", c.vision), ("J", c.json_schema), ("C", c.prompt_caching))
    return "".join(f if on else "." for f, on in flags)


@click.command("models")
@click.option("--json", "as_json_flag", is_flag=True, help="A JSON list of objects instead of a table.")
@click.option("--provider", default=None, help="Only this provider's models (openai, anthropic, google...).")
@click.option("--catalogue", "path", type=click.Path(dir_okay=False), default=None, help="Another catalogue file.")
def models_cmd(as_json_flag: bool, provider: str | None, path: str | None) -> None:
    """List the model catalogue: prices in USD per million tokens."""
    try:
        cat = load_catalogue(path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if provider:
        cat = cat.model_copy(update={"models": [e for e in cat.models if e.provider == provider]})
    if as_json_flag:
        sys.stdout.write(orjson.dumps(as_json(cat), option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"faregate catalogue {cat.version} (USD per million tokens)", title_justify="left")
    for col, just in (("model", "left"), ("provider", "left"), ("in", "right"), ("out", "right")):
        table.add_column(col, justify=just, overflow="fold")  # type: ignore[arg-type]
    for col in ("cached", "context", "caps"):
        table.add_column(col, justify="right" if col != "caps" else "left", no_wrap=True)
    for e in cat.models:
        table.add_row(
            e.name,
            e.provider,
            _price(e.prices.input),
            _price(e.prices.output),
            _price(e.prices.cached_input),
            f"{e.context_window // 1000}k",
            _caps(e),
        )
    con = Console()
    con.print(table)
    con.print("caps: T tools, V vision, J JSON schema, C prompt caching. Sources: faregate models --json")
