"""Server-sent events decoding, shared by every streaming wire format."""

from __future__ import annotations

from ..core.errors import UpstreamError

DEFAULT_MAX_LINE_BYTES = 4 * 1024 * 1024


def too_large(what: str) -> UpstreamError:
    """The attempt fails (a 502; failover when nothing reached the client): an upstream sent more than a cap."""
    return UpstreamError(f"the upstream answer was too large: {what}", kind="transient")


class SSEDecoder:
    """Incremental SSE decoder: feed bytes in any split, get complete ``(event, data)`` pairs.

    Follows the WHATWG rules that matter here: lines end in LF, CRLF or CR; ``data:`` lines of
    one event are joined with LF; a blank line dispatches; comment lines (``:``) are skipped.

    Linear in the bytes fed, however they are split: each byte is scanned for a line end once
    (a partial line is not rescanned when more of it arrives) and CRs are normalised in the new
    chunk only. A line longer than ``max_line`` bytes fails the stream (``too_large``) rather
    than growing the buffer without bound.
    """

    __slots__ = ("_buf", "_scan", "_cr", "_event", "_data", "max_line")

    def __init__(self, max_line: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self._buf = bytearray()
        self._scan = 0  # bytes of the buffer already known to hold no line end
        self._cr = False  # the last chunk ended in CR: an LF starting the next one is its pair
        self._event: str | None = None
        self._data: list[str] = []
        self.max_line = max_line

    def feed(self, chunk: bytes) -> list[tuple[str | None, str]]:
        if self._cr and chunk[:1] == b"\n":
            chunk = chunk[1:]
        if b"\r" in chunk:
            self._cr = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        else:
            self._cr = False
        buf = self._buf
        buf += chunk
        out: list[tuple[str | None, str]] = []
        start = 0
        pos = self._scan
        while True:
            nl = buf.find(b"\n", pos)
            if nl < 0:
                break
            self._line(bytes(buf[start:nl]), out)
            start = pos = nl + 1
        if start:
            del buf[:start]
        self._scan = len(buf)
        if len(buf) > self.max_line:
            raise too_large(f"a stream line is over {self.max_line} bytes")
        return out

    def _line(self, line: bytes, out: list[tuple[str | None, str]]) -> None:
        if not line:
            if self._data or self._event is not None:
                out.append((self._event, "\n".join(self._data)))
            self._event, self._data = None, []
            return
        if line[:1] == b":":
            return
        name, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value.decode("utf-8", "replace"))
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")

    def flush(self) -> list[tuple[str | None, str]]:
        """At end of stream: dispatch a final event that lacked its blank line."""
        out = self.feed(b"\n\n") if self._buf else []
        if self._data:
            out.append((self._event, "\n".join(self._data)))
            self._event, self._data = None, []
        return out
