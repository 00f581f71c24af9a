"""Library mode: faregate in-process, no server (FAREGATE_CONFIG, FAREGATE_KEY; today's defaults)."""

import asyncio
import os

from faregate.pipeline.gateway import Gateway


async def main(key: str = os.getenv("FAREGATE_KEY", "fg-demo-key")) -> None:
    async with Gateway.from_config(os.getenv("FAREGATE_CONFIG", "examples/fake-providers.yaml")) as gw:
        reply = await gw.chat({"model": "auto", "messages": [{"role": "user", "content": "Hi"}]}, api_key=key)
        print(f"library mode: {reply.content} | answered by {reply.model}")


asyncio.run(main())
