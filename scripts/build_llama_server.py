"""Build (or reuse) llama.cpp's ``llama-server`` for the real-local-model tests.

The sources come from a package registry: the sdist of PyPI ``llama-cpp-python`` vendors
llama.cpp under ``vendor/llama.cpp``. The binary is cached outside the checkout under
``~/.cache/faregate/llama-server/<version>/`` so a warm run is instant; a cold CPU build takes
several minutes on two cores. Prints the binary's path on success.

Usage: ``python scripts/build_llama_server.py [--version 0.3.16] [--jobs 2]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

DEFAULT_VERSION = "0.3.16"


def cache_dir(version: str) -> Path:
    """Where the binary for ``version`` lives (``FAREGATE_CACHE`` overrides the root)."""
    root = Path(os.environ.get("FAREGATE_CACHE", Path.home() / ".cache" / "faregate"))
    return root / "llama-server" / version


def binary_path(version: str = DEFAULT_VERSION) -> Path:
    """The cached ``llama-server`` path (it may not exist yet)."""
    return cache_dir(version) / "llama-server"


def _run(cmd: list[str], cwd: Path | None = None) -> None:
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    subprocess.run(cmd, cwd=cwd, check=True)


def _fetch_sources(version: str, work: Path) -> Path:
    dl = work / "dl"
    _run(
        [sys.executable, "-m", "pip", "download", "-q", f"llama-cpp-python=={version}",
         "--no-binary", ":all:", "--no-deps", "-d", str(dl)]
    )  # fmt: skip
    sdist = next(dl.glob("llama_cpp_python-*.tar.gz"))
    with tarfile.open(sdist) as tar:
        tar.extractall(work / "src", filter="data")
    return next((work / "src").glob("llama_cpp_python-*")) / "vendor" / "llama.cpp"


def build(version: str = DEFAULT_VERSION, jobs: int = 2) -> Path:
    """Return the cached binary, building it first when it is missing."""
    target = binary_path(version)
    if target.exists():
        return target
    for tool in ("cmake", "c++"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} not found: install a C++ toolchain and cmake")
    with tempfile.TemporaryDirectory(prefix="faregate-llama-") as tmp:
        src = _fetch_sources(version, Path(tmp))
        build_dir = Path(tmp) / "build"
        _run(
            ["cmake", "-S", str(src), "-B", str(build_dir), "-DLLAMA_BUILD_SERVER=ON",
             "-DGGML_NATIVE=OFF", "-DLLAMA_CURL=OFF", "-DBUILD_SHARED_LIBS=OFF",
             "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF",
             "-DCMAKE_BUILD_TYPE=Release"]
        )  # fmt: skip
        _run(["cmake", "--build", str(build_dir), "--target", "llama-server", f"-j{jobs}"])
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        shutil.copy2(build_dir / "bin" / "llama-server", partial)
        partial.replace(target)  # atomic: a half-copied binary is never "cached"
    return target


def main() -> None:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default=DEFAULT_VERSION)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    print(build(args.version, args.jobs))


if __name__ == "__main__":
    main()
