"""The access log (one line per request on stdout) and the logging set-up of ``faregate serve``.

The observe step logs each finished request to the ``faregate.access`` logger at INFO with
the line's fields as a dict; the formatter installed here renders it as ``key=value`` text
or as one JSON object per line. Other messages (upstream failures, breaker transitions,
warnings) go to stderr. Everything that reaches a line is redacted by ``core.redact``.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import sys
from typing import Any

import orjson

ACCESS_LOGGER = "faregate.access"
FORMATS = ("text", "json")
LEVELS = ("debug", "info", "warning", "error")

access_log = logging.getLogger(ACCESS_LOGGER)


FLUSH_AFTER_S = 1.0


class _Sink:
    """The access log's fast path once ``configure_logging`` ran: the line goes straight into
    stdout's buffer (no LogRecord, no handler lock, no flush per line). The first line after a
    flush schedules the next one ``FLUSH_AFTER_S`` later on the running loop (nothing runs while
    no request comes); ``flush_access`` also runs at exit."""

    __slots__ = ("stream", "text", "due")

    def __init__(self, stream: Any, fmt: str) -> None:
        self.stream, self.text = stream, fmt == "text"
        self.due = False  # a flush is scheduled


_SINK: _Sink | None = None


def write_access(fields: dict[str, Any]) -> None:
    """One access line: through the fast path when ``faregate serve`` set it up, else through
    the ``faregate.access`` logger at INFO (an embedder's logging config decides)."""
    sink = _SINK
    if sink is None:
        if access_log.isEnabledFor(logging.INFO):
            access_log.info("%s", fields)
        return
    if sink.text:
        sink.stream.write(" ".join(f"{k}={_text_value(v)}" for k, v in fields.items()) + "\n")
    else:
        sink.stream.write(orjson.dumps(fields).decode() + "\n")
    if not sink.due:
        try:
            asyncio.get_running_loop().call_later(FLUSH_AFTER_S, flush_access)
            sink.due = True
        except RuntimeError:  # no event loop (a script embedding the gateway): flush now
            flush_access()


def flush_access() -> None:
    sink = _SINK
    if sink is not None:
        sink.due = False
        try:
            sink.stream.flush()
        except (OSError, ValueError):  # stdout closed: nothing to do
            pass


def _text_value(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.6g}"
    s = str(v)
    return s if s and " " not in s and '"' not in s else orjson.dumps(s).decode()


class AccessFormatter(logging.Formatter):
    """An access record's fields as ``key=value`` text or JSON; any other record as its message."""

    def __init__(self, fmt: str = "text") -> None:
        super().__init__()
        if fmt not in FORMATS:
            raise ValueError(f"log format must be one of {', '.join(FORMATS)}; got {fmt!r}")
        self.json = fmt == "json"

    def format(self, record: logging.LogRecord) -> str:
        fields = record.args if isinstance(record.args, dict) else None
        if fields is None:
            msg = record.getMessage()
            if self.json:
                return orjson.dumps({"level": record.levelname.lower(), "logger": record.name, "msg": msg}).decode()
            return msg
        if self.json:
            return orjson.dumps(fields).decode()
        return " ".join(f"{k}={_text_value(v)}" for k, v in fields.items())


def configure_logging(level: str = "info", fmt: str = "text") -> None:
    """Messages at ``level`` and above to stderr; the access log (INFO) to stdout in ``fmt``."""
    global _SINK
    if level not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}; got {level!r}")
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    err = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        err.setFormatter(AccessFormatter("json"))
    else:
        err.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(err)
    root.setLevel(level.upper())
    out = logging.StreamHandler(sys.stdout)
    out.setFormatter(AccessFormatter(fmt))
    for h in list(access_log.handlers):
        access_log.removeHandler(h)
    access_log.addHandler(out)
    access_log.propagate = False
    _SINK = _Sink(sys.stdout, fmt) if logging.INFO >= root.level else None
    atexit.register(flush_access)
