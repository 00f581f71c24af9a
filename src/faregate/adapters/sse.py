"""Server-sent events decoding, shared by every streaming wire format."""

from __future__ import annotations


class SSEDecoder:
    """Incremental SSE decoder: feed bytes in any split, get complete ``(event, data)`` pairs.

    Follows the WHATWG rules that matter here: lines end in LF, CRLF or CR; ``data:`` lines of
    one event are joined with LF; a blank line dispatches; comment lines (``:``) are skipped.
    """

    __slots__ = ("_buf", "_event", "_data")

    def __init__(self) -> None:
        self._buf = b""
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[tuple[str | None, str]]:
        buf = self._buf + chunk if self._buf else chunk
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        out: list[tuple[str | None, str]] = []
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            line = buf[start:nl]
            start = nl + 1
            if not line:
                if self._data or self._event is not None:
                    out.append((self._event, "\n".join(self._data)))
                self._event, self._data = None, []
                continue
            if line[:1] == b":":
                continue
            name, _, value = line.partition(b":")
            if value[:1] == b" ":
                value = value[1:]
            if name == b"data":
                self._data.append(value.decode("utf-8", "replace"))
            elif name == b"event":
                self._event = value.decode("utf-8", "replace")
        self._buf = buf[start:]
        return out

    def flush(self) -> list[tuple[str | None, str]]:
        """At end of stream: dispatch a final event that lacked its blank line."""
        out = self.feed(b"\n\n") if self._buf else []
        if self._data:
            out.append((self._event, "\n".join(self._data)))
            self._event, self._data = None, []
        return out
