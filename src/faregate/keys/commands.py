"""``faregate keys ...`` and ``faregate teams ...``: manage gateway keys in the database.

The database is ``--database-url`` / ``FAREGATE_DATABASE_URL`` (else the config's
``database_url``). ``keys create`` and ``keys rotate`` print the new key on their LAST line,
once: only its hash is stored.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime
from typing import Any

import click

from .store import KeyStore

_DUR = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_expires(value: str | None, now: float | None = None) -> float | None:
    """``30d``, ``12h``, ``90m``, an ISO date/time (UTC unless it says), or epoch seconds."""
    if not value:
        return None
    now = time.time() if now is None else now
    m = _DUR.match(value.strip())
    if m:
        return now + float(m.group(1)) * _UNIT[m.group(2)]
    try:
        return float(value)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r}: use 30d, 12h, 90m, an ISO date (2027-01-31) or epoch seconds") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _db_url(url: str | None, config_path: str | None) -> str:
    if url:
        return url
    from ..config import load_config

    return load_config(config_path).database_url


def _run(url: str, fn: Any) -> Any:
    async def go() -> Any:
        async with KeyStore(url) as store:
            return await fn(store)

    return asyncio.run(go())


def _limits(soft_budget: bool = False, **values: Any) -> dict[str, Any]:
    """The limit set the ``limit_options`` flags ask for (the flags not given left out)."""
    out = {k: v for k, v in values.items() if v is not None}
    if soft_budget:
        out["budget_soft"] = True
    return out


def _ts(v: float | None) -> str:
    return "-" if v is None else datetime.fromtimestamp(v, tz=UTC).strftime("%Y-%m-%d %H:%M")


# The optimisation modes a key may pin (``routing/modes.py`` has the same list; a test keeps them equal).
MODES = ("cost", "latency", "quality", "balanced")


def parse_guardrails(value: str | None, config_path: str | None) -> list[str] | None:
    """``--guardrails a,b``: names of the config's ``guardrails:`` entries (``''``: none). An
    unknown name is a usage error (exit 2) naming the configured ones, as the admin API's 409."""
    if value is None or not value.strip():
        return None
    names = [n.strip() for n in value.split(",") if n.strip()]
    from ..config import load_config

    known = sorted(g.name for g in load_config(config_path).guardrails)
    unknown = [n for n in names if n not in known]
    if unknown:
        where = f"in {config_path}" if config_path else "(no --config / FAREGATE_CONFIG given)"
        raise click.BadParameter(
            f"unknown guardrail(s) {unknown}; configured {where}: {known}", param_hint="'--guardrails'"
        )
    return list(dict.fromkeys(names))


def key_options(f: Any) -> Any:
    """``--mode`` and ``--guardrails``, on ``keys create`` and ``keys update``."""
    f = click.option(
        "--guardrails",
        help="Comma-separated names of the config's guardrails run on the key's requests ('' for none).",
    )(f)
    return click.option(
        "--mode",
        type=click.Choice([*MODES, "none"]),
        help="Optimisation mode of the key's routed requests ('none' clears it).",
    )(f)


def _key_fields(mode: str | None, guardrails: str | None, config_path: str | None) -> dict[str, Any]:
    """The store's ``mode``/``guardrails`` arguments for the flags given (the others left out)."""
    kw: dict[str, Any] = {}
    if mode is not None:
        kw["mode"] = None if mode == "none" else mode
    if guardrails is not None:
        kw["guardrails"] = parse_guardrails(guardrails, config_path)
    return kw


def limit_options(f: Any) -> Any:
    for opt in reversed(
        [
            click.option("--rpm", type=click.IntRange(min=0), help="Requests per minute."),
            click.option("--rph", type=click.IntRange(min=0), help="Requests per hour."),
            click.option("--rpd", type=click.IntRange(min=0), help="Requests per day."),
            click.option("--tpm", type=click.IntRange(min=0), help="Tokens per minute."),
            click.option("--cost-usd-hour", type=click.FloatRange(min=0), help="Cost per hour (USD, rolling)."),
            click.option("--cost-usd-day", type=click.FloatRange(min=0), help="Cost per 24 h (USD, rolling)."),
            click.option("--budget-usd-day", type=click.FloatRange(min=0), help="Daily budget (USD, UTC day)."),
            click.option("--budget-usd-month", type=click.FloatRange(min=0), help="Monthly budget (USD, UTC month)."),
            click.option("--soft-budget", is_flag=True, help="Budgets only alert (logged, counted), never refuse."),
            click.option("--max-concurrent", type=click.IntRange(min=0), help="Concurrent requests."),
            click.option("--burst", type=click.IntRange(min=1), help="Token bucket: requests at once."),
            click.option(
                "--refill-per-s", type=click.FloatRange(min=0, min_open=True), help="Token bucket: per second."
            ),
        ]
    ):
        f = opt(f)
    return f


_common = [
    click.option("--database-url", envvar="FAREGATE_DATABASE_URL", help="Database (env FAREGATE_DATABASE_URL)."),
    click.option(
        "--config",
        "config_path",
        envvar="FAREGATE_CONFIG",
        type=click.Path(dir_okay=False),
        help="Config file, for its database_url.",
    ),
]


def common(f: Any) -> Any:
    for opt in reversed(_common):
        f = opt(f)
    return f


@click.group("keys")
def keys_group() -> None:
    """Create, list, revoke and rotate gateway keys."""


@keys_group.command("create")
@click.option("--name", required=True, help="A label for people (not secret).")
@click.option("--team", help="Team the key belongs to (its limits and models apply too).")
@click.option("--models", help="Comma-separated allow-list of models (default: every model).")
@click.option("--expires", help="30d, 12h, an ISO date, or epoch seconds.")
@click.option(
    "--idempotent/--non-idempotent",
    default=None,
    help="--non-idempotent: the key's requests must not reach an upstream twice (never hedged).",
)
@key_options
@limit_options
@common
def create_cmd(
    name,
    team,
    models,
    expires,
    idempotent,
    mode,
    guardrails,
    database_url,
    config_path,
    **limit_opts,
) -> None:
    """Create a key; the key itself is printed on the LAST line, once."""
    limits = _limits(**limit_opts)
    exp = parse_expires(expires)
    extra = _key_fields(mode, guardrails, config_path)
    raw, rec = _run(
        _db_url(database_url, config_path),
        lambda s: s.create_key(
            name, team=team, models=models, limits=limits, expires_at=exp, idempotent=idempotent is not False, **extra
        ),
    )
    click.echo(
        f"created {rec.id} ({rec.prefix}...) name={rec.name} team={rec.team or '-'} "
        f"models={','.join(rec.models) if rec.models is not None else '*'} expires={_ts(rec.expires_at)}"
        + ("" if rec.idempotent else " non-idempotent")
        + (f" mode={rec.mode}" if rec.mode else "")
        + (f" guardrails={','.join(rec.guardrails)}" if rec.guardrails else ""),
        err=True,
    )
    click.echo("store this key now; it is not shown again:", err=True)
    click.echo(raw)


@keys_group.command("list")
@click.option("--team", help="Only this team's keys.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
@common
def list_cmd(team, as_json, database_url, config_path) -> None:
    """List keys (id, prefix, name, team, state); never a key or its hash."""
    recs = _run(_db_url(database_url, config_path), lambda s: s.list_keys(team=team))
    if as_json:
        import orjson

        for r in recs:
            click.echo(orjson.dumps(r.public()).decode())
        return
    from rich.console import Console
    from rich.table import Table

    t = Table("id", "prefix", "name", "team", "models", "limits", "expires", "state")
    for r in recs:
        state = "revoked" if r.revoked_at else ("expired" if not r.active() else "active")
        t.add_row(
            r.id,
            r.prefix + "...",
            r.name,
            r.team or "-",
            ",".join(r.models) if r.models is not None else "*",
            " ".join(f"{k}={v}" for k, v in r.limits.items()) or "-",
            _ts(r.expires_at),
            state,
        )
    Console().print(t)


@keys_group.command("revoke")
@click.argument("key_id")
@common
def revoke_cmd(key_id, database_url, config_path) -> None:
    """Revoke a key (by id or display prefix); every replica refuses it within the cache TTL."""

    async def go(s: KeyStore) -> bool:
        rec = await s.find_key(key_id)
        return rec is not None and await s.revoke_key(rec.id)

    if not _run(_db_url(database_url, config_path), go):
        raise click.ClickException(f"no active key {key_id!r}")
    click.echo(f"revoked {key_id}")


@keys_group.command("rotate")
@click.argument("key_id")
@common
def rotate_cmd(key_id, database_url, config_path) -> None:
    """A new secret for the same key (limits, counters, team kept); the new key is the LAST line."""

    async def go(s: KeyStore) -> Any:
        rec = await s.find_key(key_id)
        return None if rec is None else await s.rotate_key(rec.id)

    out = _run(_db_url(database_url, config_path), go)
    if out is None:
        raise click.ClickException(f"no active key {key_id!r}")
    raw, rec = out
    click.echo(f"rotated {rec.id} -> {rec.prefix}...; the old key no longer works", err=True)
    click.echo(raw)


@keys_group.command("update")
@click.argument("key_id")
@click.option("--models", help="New comma-separated allow-list ('*' for every model).")
@click.option("--team")
@click.option("--expires")
@click.option(
    "--idempotent/--non-idempotent",
    default=None,
    help="--non-idempotent: the key's requests must not reach an upstream twice (never hedged).",
)
@key_options
@limit_options
@common
def update_cmd(
    key_id,
    models,
    team,
    expires,
    idempotent,
    mode,
    guardrails,
    database_url,
    config_path,
    **limit_opts,
) -> None:
    """Change a key's models, team, expiry, limits, mode or guardrails."""
    kw: dict[str, Any] = {"limits": _limits(**limit_opts) or None, **_key_fields(mode, guardrails, config_path)}
    if models is not None:
        kw["models"] = None if models == "*" else models
    if team is not None:
        kw["team"] = team or None
    if expires is not None:
        kw["expires_at"] = parse_expires(expires)
    if idempotent is not None:
        kw["idempotent"] = idempotent

    async def go(s: KeyStore) -> Any:
        rec = await s.find_key(key_id)
        return None if rec is None else await s.update_key(rec.id, **kw)

    rec = _run(_db_url(database_url, config_path), go)
    if rec is None:
        raise click.ClickException(f"no key {key_id!r}")
    click.echo(
        f"updated {rec.id}: models={rec.models if rec.models is not None else '*'} limits={rec.limits}"
        f" idempotent={str(rec.idempotent).lower()} mode={rec.mode or '-'}"
        f" guardrails={','.join(rec.guardrails) if rec.guardrails else '-'}"
    )


@keys_group.group("teams")
def teams_group() -> None:
    """Teams: shared limits, budgets and model allow-lists for their keys."""


@teams_group.command("set")
@click.argument("name")
@click.option("--models", help="Comma-separated allow-list ('*' for every model).")
@limit_options
@common
def team_set_cmd(
    name,
    models,
    database_url,
    config_path,
    **limit_opts,
) -> None:
    """Create or change a team."""
    kw: dict[str, Any] = {"limits": _limits(**limit_opts) or None}
    if models is not None:
        kw["models"] = None if models == "*" else models
    t = _run(_db_url(database_url, config_path), lambda s: s.upsert_team(name, **kw))
    click.echo(f"team {t.name}: models={t.models if t.models is not None else '*'} limits={t.limits}")


@teams_group.command("list")
@common
def team_list_cmd(database_url, config_path) -> None:
    """List teams."""
    for t in _run(_db_url(database_url, config_path), lambda s: s.list_teams()):
        click.echo(f"{t.name}\tmodels={','.join(t.models) if t.models is not None else '*'}\tlimits={t.limits}")


# ``faregate teams ...`` as its own group too (the same commands).
teams_cmd = teams_group
