"""mkdocs hook: the source tree of ``docs/architecture.md``, one line per module, from the code.

Each module under ``src/faregate`` is listed with the first line of its docstring, so the page
cannot drift from the layout. The page carries the marker ``<!-- module-tree -->``;
``render_tree()`` is what the tests call.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

MARKER = "<!-- module-tree -->"
PAGE = "architecture.md"
SRC = Path(__file__).resolve().parents[2] / "src" / "faregate"
WIDTH = 84


def _summary(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    line = doc.strip().split("\n")[0].strip().replace("``", "`")
    return line if len(line) <= WIDTH else line[: WIDTH - 3].rstrip() + "..."


def render_tree(src: Path = SRC) -> str:
    rows = []
    for path in sorted(src.rglob("*.py")):
        summary = _summary(path)
        if path.name == "__init__.py" and not summary:
            continue
        rows.append(f"{str(path.relative_to(src)):<30} {summary}".rstrip())
    return "```\n" + "\n".join(rows) + "\n```"


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    if page.file.src_uri == PAGE and MARKER in markdown:
        return markdown.replace(MARKER, render_tree())
    return markdown
