"""CLI: ``faregate import litellm config.yaml > faregate.yaml``."""

from __future__ import annotations

import sys

import click
import yaml

from .litellm import translate


@click.group("import")
def import_group() -> None:
    """Translate another gateway's config file into faregate's (printed on stdout)."""


@import_group.command("litellm")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def litellm_cmd(path: str) -> None:
    """A LiteLLM proxy config.yaml as a faregate config; what could not be translated goes to stderr."""
    try:
        doc = yaml.safe_load(open(path, encoding="utf-8").read()) or {}
    except yaml.YAMLError as exc:
        raise click.ClickException(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise click.ClickException(f"{path}: the top level must be a mapping")
    result = translate(doc)
    sys.stdout.write("# Translated from a LiteLLM config by `faregate import litellm`.\n")
    sys.stdout.write(yaml.safe_dump(result.config, sort_keys=False, allow_unicode=True))
    for line in result.skipped:
        click.echo(f"not translated: {line}", err=True)
