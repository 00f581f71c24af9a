"""``CommandError``: what a ``faregate`` command prints when the user must fix something.

One or two lines (``Error: <what is wrong>; <what to do>``) on stderr and exit status 2, the
status of a usage error: never a traceback for a bad argument, a missing or unreadable file, a
file of the wrong kind or a port that is taken.
"""

from __future__ import annotations

import click


class CommandError(click.ClickException):
    exit_code = 2
