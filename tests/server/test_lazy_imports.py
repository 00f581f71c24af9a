"""A gateway pays only for the dependencies its configuration uses: numpy, Redis, OpenTelemetry
and cryptography (about 30 MiB resident together) stay unloaded until a feature needs them.

Each case runs in a fresh interpreter: the shipped example config (with the response cache on
memory and the database) is built, started and stopped, one request is served, and the
modules actually loaded are listed (a module ``lazy_module`` registered but never used does
not count).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fake-providers.yaml"
HEAVY = ("numpy", "redis", "opentelemetry", "cryptography", "google.protobuf")

PROBE = """
import asyncio, json, sys, types
from aiohttp.test_utils import TestClient, TestServer
from faregate.config import load_config
from faregate.pipeline.gateway import Gateway
from faregate.server.app import create_app

async def main():
    client = TestClient(TestServer(create_app(Gateway(load_config(sys.argv[1])))))
    await client.start_server()
    try:
        r = await client.post("/v1/chat/completions", json={"model": "no-such-model", "messages": []},
                              headers={"Authorization": "Bearer fg-demo-key"})
        assert r.status in (400, 404), r.status
    finally:
        await client.close()

asyncio.run(main())
print(json.dumps({m: type(sys.modules.get(m)) is types.ModuleType for m in sys.argv[2:]}))
"""


def loaded_after_serving(tmp_path: Path, **overrides: object) -> dict[str, bool]:
    cfg = yaml.safe_load(EXAMPLE.read_text())
    cfg["cache"] = {"enabled": True, "layers": ["memory://", "database"]}
    cfg["database_url"] = f"sqlite:///{tmp_path / 'log.db'}"
    cfg.update(overrides)
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(path), *HEAVY], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_example_config_loads_no_heavy_dependency(tmp_path):
    assert loaded_after_serving(tmp_path) == dict.fromkeys(HEAVY, False)


def test_tracing_and_a_redis_cache_do_load_theirs(tmp_path):
    # The same check sees them when the config asks for them (so the test above can fail).
    loaded = loaded_after_serving(
        tmp_path,
        tracing={"enabled": True, "otlp_endpoint": "http://127.0.0.1:9/v1/traces"},
        cache={"enabled": True, "layers": ["memory://", "redis://127.0.0.1:9/0"]},
    )
    assert loaded["opentelemetry"] and loaded["redis"]


RACE = """
import sys, threading
from faregate.core.lazy_import import lazy_module
np = lazy_module("numpy")
assert "numpy" not in sys.modules  # nothing registered until first use
errors = []
def through_the_standin():
    try:
        for _ in range(50):
            np.ones(3).sum()
    except Exception as exc:
        errors.append(repr(exc))
def plain_import():
    try:
        import numpy
        numpy.ones(2)
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=f) for f in (through_the_standin, plain_import) * 4]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert not errors, errors
assert isinstance(np.zeros(1), np.ndarray) and np.ndarray is sys.modules["numpy"].ndarray
print("ok")
"""


def test_first_use_from_many_threads_at_once_sees_numpy_whole():
    # A stand-in used while another thread runs a plain `import numpy` must wait for it, never
    # read the half-initialised module.
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", RACE], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
