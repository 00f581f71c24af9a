"""``faregate serve`` in a child process on a free loopback port, as in production (its own core)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from ..config import GatewayConfig


class ServeProcess:
    """``faregate serve`` in a child process on a free loopback port."""

    def __init__(self, proc: asyncio.subprocess.Process, url: str, log_path: Path) -> None:
        self.proc, self.url, self.log_path = proc, url, log_path

    @classmethod
    async def start(cls, config: GatewayConfig, workdir: Path, timeout: float = 30.0) -> ServeProcess:
        """Write ``config`` to ``workdir``, start the server, and wait until ``/health`` answers."""
        import socket
        import sys

        import aiohttp
        import yaml

        cfg_path = workdir / "faregate-demo.yaml"
        cfg_path.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("FAREGATE_")}
        log_path = workdir / "faregate-serve.log"
        with open(log_path, "wb") as err:  # the child keeps its own copy of the descriptor
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "faregate",
                "serve",
                "--config",
                str(cfg_path),
                "--port",
                str(port),
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=err,
            )
        self = cls(proc, f"http://127.0.0.1:{port}", log_path)
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while True:
                if proc.returncode is not None:
                    raise RuntimeError(f"faregate serve exited: {log_path.read_text()[-2000:]}")
                try:
                    async with http.get(self.url + "/health") as r:
                        if r.status < 500:
                            return self
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline:
                    await self.stop()
                    raise RuntimeError(f"faregate serve did not come up: {log_path.read_text()[-2000:]}")
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """SIGTERM (faregate flushes its request log), SIGKILL after 30 s."""
        if self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
