"""``faregate serve`` with ``tracemalloc`` on, for ``soak.py --probe``: where the memory goes.

    python bench/mem_probe.py SNAPSHOT_DIR serve --config ... --port ...

Tracing starts before faregate is imported, so a snapshot covers the imports too. Each
SIGUSR1 writes ``snap-<n>.pickle`` (a ``tracemalloc.Snapshot``, read it with
``python bench/mem_probe.py --report A B``), ``malloc-<n>.xml`` (glibc's ``malloc_info``: what
the allocator holds beyond what Python asked for, free chunks included) and ``pymalloc-<n>.txt``
(``sys._debugmallocstats``: Python's small-object arenas, used and free), then ``done-<n>``.
With ``MEM_PROBE_FRAMES=0`` nothing is traced (no snapshot): the process is then as fast and
as big as a plain ``faregate serve``, and the allocator figures are its own.
``MEM_PROBE_TRIM_S=30``: a thread calls glibc's ``malloc_trim(0)`` that often (an experiment:
does handing free heap pages back to the system lower RSS).
Bench-side only: nothing in faregate knows about it. Tracing makes the gateway several times
slower and adds its own bookkeeping to RSS, so RSS figures come from runs without it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import signal
import sys
import tracemalloc
from pathlib import Path


def _malloc_info(path: Path) -> None:
    name = ctypes.util.find_library("c")
    if not name:
        return
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "malloc_info"):  # not glibc
        return
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    fp = libc.fopen(str(path).encode(), b"w")
    if fp:
        libc.malloc_info(0, fp)
        libc.fclose(fp)


def _pymalloc_stats(path: Path) -> None:
    """``sys._debugmallocstats()`` writes to the C stderr: point fd 2 at the file meanwhile."""
    saved = os.dup(2)
    with open(path, "w") as f:
        os.dup2(f.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def serve(out: Path, argv: list[str]) -> None:
    frames = int(os.environ.get("MEM_PROBE_FRAMES", "1"))
    if frames:
        tracemalloc.start(frames)
    count = [0]

    def dump(_sig: int, _frame: object) -> None:
        n = count[0]
        count[0] += 1
        gc.collect()
        if frames:
            tracemalloc.take_snapshot().dump(str(out / f"snap-{n}.pickle"))
        _malloc_info(out / f"malloc-{n}.xml")
        _pymalloc_stats(out / f"pymalloc-{n}.txt")
        (out / f"done-{n}").write_text(str(tracemalloc.get_tracemalloc_memory()))

    signal.signal(signal.SIGUSR1, dump)
    trim_s = float(os.environ.get("MEM_PROBE_TRIM_S", "0"))
    if trim_s:
        import threading
        import time

        libc = ctypes.CDLL(ctypes.util.find_library("c"))

        def trim() -> None:
            while True:
                time.sleep(trim_s)
                libc.malloc_trim(0)

        threading.Thread(target=trim, daemon=True).start()
    from faregate.cli import main

    sys.argv = ["faregate", *argv]
    main()


def _group(path: str) -> str:
    """A file's package, two levels deep for faregate (``faregate/cache``), one otherwise."""
    parts = Path(path).parts
    for i, p in enumerate(parts):
        if p in ("site-packages", "src") and i + 1 < len(parts):
            rest = parts[i + 1 :]
            depth = 2 if rest[0] == "faregate" and len(rest) > 2 else 1
            return "/".join(rest[:depth])
        if p.startswith("python3.") and i + 1 < len(parts) and parts[i + 1] != "site-packages":
            return "stdlib/" + parts[i + 1].removesuffix(".py")
    return path


def arenas(path: str) -> None:
    """Per glibc arena: bytes taken from the system, and how much of that is free chunks."""
    import xml.etree.ElementTree as ET

    for h in ET.parse(path).getroot().findall("heap"):
        size = {s.get("type"): int(s.get("size") or 0) for s in h.findall("system")}
        free = {t.get("type"): int(t.get("size") or 0) for t in h.findall("total")}
        print(
            f"arena {h.get('nr')}: {size.get('current', 0) / 2**20:6.1f} MiB from the system, "
            f"{(free.get('fast', 0) + free.get('rest', 0)) / 2**20:6.1f} MiB of it free chunks"
        )


def report(first: str, second: str, top: int = 25) -> None:
    a, b = tracemalloc.Snapshot.load(first), tracemalloc.Snapshot.load(second)
    for title, snap in (("start", a), ("end", b)):
        total = sum(s.size for s in snap.statistics("filename"))
        print(f"{title}: {total / 2**20:.1f} MiB traced")
    by: dict[str, list[float]] = {}
    for i, snap in enumerate((a, b)):
        for s in snap.statistics("filename"):
            by.setdefault(_group(s.traceback[0].filename), [0.0, 0.0])[i] += s.size / 2**20
    print(f"\n{'group':<40} {'start':>8} {'end':>8} {'growth':>8}  (MiB)")
    for g, (s, e) in sorted(by.items(), key=lambda kv: -kv[1][1])[:top]:
        print(f"{g:<40} {s:8.1f} {e:8.1f} {e - s:+8.1f}")
    print("\nlines that grew the most:")
    for d in b.compare_to(a, "lineno")[:top]:
        fr = d.traceback[0]
        print(
            f"{d.size_diff / 2**20:+7.2f} MiB {d.count_diff:+9,} blocks  {fr.filename.split('/src/')[-1]}:{fr.lineno}"
        )


if __name__ == "__main__":
    if sys.argv[1] == "--report":
        report(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "--arenas":
        arenas(sys.argv[2])
    else:
        serve(Path(sys.argv[1]), sys.argv[2:])
