"""What the proxy benchmarks share: the fake upstream, the load generators (``wrk`` with a Lua
script, and a raw asyncio client for time to first byte and chunk arrival), process helpers
(ports, pinning, CPU time and RSS from ``/proc``).

The fake OpenAI upstream answers at once with canned bytes (a raw asyncio protocol, far cheaper
than either proxy), so the proxies are what is measured:

- a non-streaming body: one ``chat.completion``;
- ``"stream": true``: 50 content chunks (plus the role, finish and usage chunks and ``[DONE]``),
  written at once in one HTTP chunk each;
- a prompt containing ``paced-stream``: the same 50 chunks, one every ``PACE_S`` seconds, to see
  whether a proxy forwards each chunk as it arrives;
- a prompt containing ``fail-upstream``: a 500 with an OpenAI error body.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHUNKS = 50
PACE_S = 0.002

_ANSWER = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello there, nice to meet."},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 21, "completion_tokens": 7, "total_tokens": 28},
    }
).encode()


def _sse_events() -> list[bytes]:
    head = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000, "model": "gpt-4o-mini"}
    events = [{**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
    for i in range(CHUNKS):
        events.append({**head, "choices": [{"index": 0, "delta": {"content": f" w{i}"}, "finish_reason": None}]})
    events.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    usage = {"prompt_tokens": 21, "completion_tokens": CHUNKS, "total_tokens": 21 + CHUNKS}
    events.append({**head, "choices": [], "usage": usage})
    return [b"data: " + json.dumps(e).encode() + b"\n\n" for e in events] + [b"data: [DONE]\n\n"]


def _chunk(b: bytes) -> bytes:
    return f"{len(b):x}".encode() + b"\r\n" + b + b"\r\n"


_EVENTS = _sse_events()
_PLAIN_RESP = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
    + str(len(_ANSWER)).encode()
    + b"\r\n\r\n"
    + _ANSWER
)
_STREAM_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
_STREAM_RESP = _STREAM_HEAD + b"".join(_chunk(e) for e in _EVENTS) + b"0\r\n\r\n"
_ERR = b'{"error": {"message": "bench: upstream failure", "type": "server_error", "code": null}}'
_ERR_RESP = (
    b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\ncontent-length: "
    + str(len(_ERR)).encode()
    + b"\r\n\r\n"
    + _ERR
)


class _FakeProtocol(asyncio.Protocol):
    """HTTP/1.1 keep-alive: parse each request's head and content-length body, answer at once."""

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        self.t = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].lower()
            i = head.find(b"content-length:")
            j = head.find(b"\r\n", i)
            n = int(head[i + 15 : j if j > 0 else None]) if i >= 0 else 0
            if len(self.buf) < end + 4 + n:
                return
            body = self.buf[end + 4 : end + 4 + n]
            self.buf = self.buf[end + 4 + n :]
            if head.startswith(b"get"):
                self.t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            elif b"fail-upstream" in body:
                self.t.write(_ERR_RESP)
            elif b'"stream":true' not in body.replace(b" ", b""):
                self.t.write(_PLAIN_RESP)
            elif b"paced-stream" in body:
                asyncio.ensure_future(self._paced())
            else:
                self.t.write(_STREAM_RESP)

    async def _paced(self) -> None:
        self.t.write(_STREAM_HEAD)
        for e in _EVENTS:
            self.t.write(_chunk(e))
            await asyncio.sleep(PACE_S)
        self.t.write(b"0\r\n\r\n")


def run_fake(port: int) -> None:
    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_FakeProtocol, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# -- processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if proc.poll() is not None:
            raise SystemExit(f"a benchmark process exited early: {proc.args}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"port {port} did not open")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system, every thread) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def pin(pid: int, cpus: list[int] | None) -> None:
    if cpus:
        try:
            os.sched_setaffinity(pid, cpus)
        except OSError:
            pass


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


# -- wrk -------------------------------------------------------------------------------------

_LUA = """
wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer __KEY__"
local bodies = {__BODIES__}
local salt = "__SALT__"
local n = 0
request = function()
  n = n + 1
  local b = bodies[(n % #bodies) + 1]
  return wrk.format(nil, nil, nil, (string.gsub(b, "@N@", salt .. n)))
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nWRKJSON{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"non2xx":%d,"socket_errors":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def _lua_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def wrk(
    port: int,
    key: str,
    bodies: list[dict],
    *,
    conns: int,
    seconds: float,
    cpus: list[int] | None,
) -> dict:
    """One ``wrk -t1`` run; ``@N@`` in a body becomes a value unique to this request (every
    run salts it, so no run repeats another's prompts). Returns requests, req/s, p50/p99 in
    seconds, non-2xx answers and socket errors."""
    script = (
        _LUA.replace("__KEY__", key)
        .replace("__BODIES__", ", ".join(_lua_str(json.dumps(b)) for b in bodies))
        .replace("__SALT__", f"{random.getrandbits(48):x}-")
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "-s", f.name]
    cmd.append(f"http://127.0.0.1:{port}/v1/chat/completions")
    try:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        pin(p.pid, cpus)
        out, err = p.communicate(timeout=seconds + 60)
    finally:
        os.unlink(f.name)
    line = next((ln for ln in out.splitlines() if ln.startswith("WRKJSON")), None)
    if line is None:
        raise SystemExit(f"wrk failed: {err or out}")
    r = json.loads(line[7:])
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["p50"], r["p99"] = r["p50_us"] / 1e6, r["p99_us"] / 1e6
    return r


# -- the asyncio client: first byte and each chunk's arrival ---------------------------------


_WORD = re.compile(rb'"content":\s*" w(\d+)"')


async def read_response(reader: asyncio.StreamReader, t0: float, words: list | None = None) -> tuple[int, list[float]]:
    """Read one response; return (status, seconds after t0 at which each body chunk arrived).
    ``words``: (seconds, i) appended for each chunk carrying the fake's content word ``w<i>``."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    low = head.lower()
    arrivals: list[float] = []
    if b"transfer-encoding: chunked" in low:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            data = await reader.readexactly(size + 2)
            if size == 0:
                break
            t = time.perf_counter() - t0
            arrivals.append(t)
            if words is not None:
                words.extend((t, int(m)) for m in _WORD.findall(data))
    else:
        i = low.find(b"content-length:")
        await reader.readexactly(int(low[i + 15 : low.find(b"\r\n", i)]) if i >= 0 else 0)
        arrivals.append(time.perf_counter() - t0)
    return status, arrivals


async def _sequential(port: int, key: str, body: dict, n: int) -> list[list]:
    raw = json.dumps(body).encode()
    req = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nauthorization: Bearer {key}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(raw)}\r\n\r\n"
    ).encode() + raw
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    out = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            writer.write(req)
            words: list[tuple[float, int]] = []
            status, arrivals = await read_response(reader, t0, words)
            if status != 200:
                raise SystemExit(f"port {port}: status {status}")
            out.append([arrivals, words])
    finally:
        writer.close()
    return out


def run_sequential(argv: list[str]) -> None:
    port, key, n = int(argv[0]), argv[1], int(argv[2])
    sys.stdout.write(json.dumps(asyncio.run(_sequential(port, key, json.loads(argv[3]), n))))


def sequential(here: Path, port: int, key: str, body: dict, n: int, cpus: list[int] | None) -> list[list]:
    """``n`` requests one after the other on one connection, from a process of their own: for
    each, [the chunks' arrival times, [(arrival, i) of each chunk carrying content word i]]."""
    cmd = [sys.executable, str(here / "harness.py"), "--sequential", str(port), key, str(n), json.dumps(body)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    pin(p.pid, cpus)
    out, _ = p.communicate(timeout=300)
    if p.returncode:
        raise SystemExit("the sequential client failed")
    return json.loads(out)


def scrape(port: int, names: tuple[str, ...]) -> dict[str, float]:
    """Read some samples of the gateway's ``/metrics`` (a plain socket: no client library)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    out: dict[str, float] = {}
    for line in data.decode(errors="replace").splitlines():
        for n in names:
            if line.startswith(n + " ") or line.startswith(n + "_total "):
                out[n] = float(line.rsplit(" ", 1)[1])
    return out


if __name__ == "__main__":
    if sys.argv[1] == "--fake":
        run_fake(int(sys.argv[2]))
    elif sys.argv[1] == "--sequential":
        run_sequential(sys.argv[2:])
