"""Library mode: faregate in-process, no server (FAREGATE_CONFIG, FAREGATE_KEY; today's defaults)."""

import asyncio
import os

from faregate.pipeline.gateway import Gateway

CONFIG, KEY = (
    os.environ.get("FAREGATE_CONFIG", "examples/fake-providers.yaml"),
    os.environ.get("FAREGATE_KEY", "fg-demo-key"),
)


async def main() -> None:
    async with Gateway.from_config(CONFIG) as gw:
        reply = await gw.chat({"model": "auto", "messages": [{"role": "user", "content": "Hi"}]}, api_key=KEY)
        print(f"library mode: {reply.content} | answered by {reply.model}")


asyncio.run(main())
