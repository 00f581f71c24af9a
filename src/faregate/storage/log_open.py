"""Opening the request log for a command (``logs export``, ``report``, ``calibrate``).

A path with no file, or a file that is not a database, is the user's to fix: one line saying
which and what to pass, exit status 2 (``CommandError``), never a traceback; and a missing
SQLite file is not created by merely reading it.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from ..core.command_error import CommandError
from .db import Database, sqlite_path

HINT = "pass --database-url of a faregate request log (sqlite:///path or postgresql://...) or --config with its database_url"


def describe(url: str) -> str:
    """Where ``url`` points, without its credentials."""
    path = sqlite_path(url)
    if path is not None:
        return path
    try:
        u = urlsplit(url)
        return f"{u.scheme}://{u.hostname or ''}{':' + str(u.port) if u.port else ''}{u.path}"
    except ValueError:
        return "the database URL given"


async def open_request_log(url: str) -> Database:
    """The request log at ``url``, migrated; ``CommandError`` when there is none or it is not one."""
    path = sqlite_path(url)
    if path is not None and path != ":memory:" and not os.path.isfile(path):
        raise CommandError(f"no request log at {path} (no such file); {HINT}.")
    try:
        db = await Database.open(url)
    except ValueError as exc:
        raise CommandError(f"{exc}.") from None
    except Exception as exc:  # noqa: BLE001 - unreachable, refused, not a database
        raise CommandError(f"cannot open the request log at {describe(url)}: {_reason(exc)}; {HINT}.") from None
    try:
        await db.migrate("request_log")
    except Exception as exc:  # noqa: BLE001 - "file is not a database", a foreign schema
        await db.close()
        raise CommandError(f"{describe(url)} is not a faregate request log: {_reason(exc)}; {HINT}.") from None
    return db


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
