"""``faregate fake-provider``: run one fake provider until interrupted."""

from __future__ import annotations

import asyncio
import signal

import click

from .fake_provider import DEFAULT_PORTS, FakeProvider


@click.command("fake-provider")
@click.option("--protocol", type=click.Choice(sorted(DEFAULT_PORTS)), default="openai", show_default=True)
@click.option("--port", type=int, default=None, help="Default: 9101 openai, 9102 anthropic, 9103 gemini.")
@click.option("--host", default="127.0.0.1", show_default=True)
def fake_provider_cmd(protocol: str, port: int | None, host: str) -> None:
    """Serve a fake OpenAI, Anthropic or Gemini provider (scriptable with POST /_fake/script)."""

    async def main() -> None:
        fake = FakeProvider(protocol, host, DEFAULT_PORTS[protocol] if port is None else port)
        await fake.start()
        click.echo(f"fake {protocol} provider on {fake.base_url}", err=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await fake.stop()

    asyncio.run(main())
