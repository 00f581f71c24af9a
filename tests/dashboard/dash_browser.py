"""Driving the dashboard in the system's headless Chromium with playwright (never
``playwright install``: ``executable_path`` points at Debian's ``chromium``).

Used by the browser tests, and on its own to take the documentation's screenshots:

    python tests/dashboard/dash_browser.py --url http://127.0.0.1:8080 --key "$FAREGATE_MASTER_KEY" \\
        --out docs/img/dashboard
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
from pathlib import Path
from typing import Any

PAGES = {
    "overview": "/dashboard",
    "models": "/dashboard/models",
    "requests": "/dashboard/requests",
    "keys": "/dashboard/keys",
    "alerts": "/dashboard/alerts",
    "recommendations": "/dashboard/recommendations",
}

# Counts the painted (non-transparent) pixels of every chart canvas on the page.
CANVAS_INK = """() => Array.from(document.querySelectorAll('.chart canvas')).map(c => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
  return {w: c.width, h: c.height, ink: n};
})"""


def chromium_path() -> str | None:
    """The system Chromium, or None when none is installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Tour:
    """One browser, one page; collects console errors and uncaught exceptions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.errors: list[str] = []
        self._pw: Any = None
        self.browser: Any = None
        self.page: Any = None

    async def __aenter__(self) -> Tour:
        from playwright.async_api import async_playwright

        self._pw = await async_playwright().start()
        self.browser = await self._pw.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        self.page = await self.browser.new_page(viewport={"width": 1200, "height": 900})
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.browser.close()
        await self._pw.stop()

    async def login(self, key: str) -> None:
        await self.page.goto(self.url + "/dashboard")
        await self.page.fill("input[name=key]", key)
        await self.page.click("button[type=submit]")
        await self.page.wait_for_url("**/dashboard")

    async def open(self, path: str) -> None:
        await self.page.goto(self.url + path)
        await self.page.wait_for_load_state("load")
        if await self.page.locator(".chart").count():
            await self.page.wait_for_selector(".chart canvas")

    async def canvases(self) -> list[dict[str, int]]:
        result: list[dict[str, int]] = await self.page.evaluate(CANVAS_INK)
        return result

    async def shot(self, path: Path, full_page: bool = True) -> None:
        await self.page.screenshot(path=str(path), full_page=full_page)


async def screenshots(url: str, key: str, out: Path, query: str = "", send_test: bool = False) -> list[Path]:
    """A PNG of every page (and the newest request's page) under ``out``; ``send_test`` first
    presses the alerts page's first "Send test" button, so its history has a line."""
    out.mkdir(parents=True, exist_ok=True)
    made = []
    async with Tour(url) as t:
        await t.login(key)
        for name, path in PAGES.items():
            await t.open(path + (f"?{query}" if query and name in ("overview", "models", "requests") else ""))
            if name == "alerts" and send_test and await t.page.locator("button.send-test").count():
                await t.page.click("button.send-test >> nth=0")
                await t.page.wait_for_selector("#tested")
            made.append(out / f"{name}.png")
            await t.shot(made[-1], full_page=name != "requests")  # the list: its first screen
            if name == "requests":  # a routed request's page, with its explanation
                await t.open("/dashboard/requests?route=auto" + (f"&{query}" if query else ""))
                await t.page.click("a.request-link >> nth=0")
                await t.page.wait_for_selector("#explanation")
                made.append(out / "request.png")
                await t.shot(made[-1])
    return made


def shrink(paths: list[Path]) -> None:
    """Quantize each PNG to 256 colours (Pillow, when installed): a few times smaller."""
    try:
        from PIL import Image
    except ImportError:
        return
    for p in paths:
        with Image.open(p) as im:
            small = im.convert("RGB").quantize(colors=256)
        small.save(p, optimize=True)


def main() -> None:
    ap = argparse.ArgumentParser(description="Screenshots of every dashboard page.")
    ap.add_argument("--url", required=True)
    ap.add_argument("--key", required=True, help="the master key")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--query", default="", help="e.g. period=30d")
    ap.add_argument("--send-test", action="store_true", help="press the first alert channel's Send test first")
    a = ap.parse_args()
    made = asyncio.run(screenshots(a.url, a.key, a.out, a.query, a.send_test))
    shrink(made)
    for p in made:
        print(p, p.stat().st_size)


if __name__ == "__main__":
    main()
