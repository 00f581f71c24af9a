"""mkdocs hook: the configuration reference, generated from the pydantic models in ``faregate.config``.

Every key path under ``GatewayConfig`` gets a row (type, default, meaning), so the page cannot
drift from the code. A field's meaning is its ``description``; without one, the comment on its
line or directly above it in the source; a section's text is its class docstring.

The page ``config-reference.md`` carries the marker ``<!-- config-reference -->``; ``on_page_markdown``
replaces it with the generated tables. ``render_reference()`` is what the tests call.
"""

from __future__ import annotations

import ast
import inspect
import io
import json
import re
import tokenize
import types
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

MARKER = "<!-- config-reference -->"
PAGE = "config-reference.md"


def _model_in(tp: Any) -> tuple[type[BaseModel] | None, str]:
    """The model a field holds and how: "" (directly, or optional), "[]" (a list of), ".<name>" (a map of)."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        for arg in get_args(tp):
            model, how = _model_in(arg)
            if model is not None:
                return model, how
        return None, ""
    if origin is list:
        model, how = _model_in(get_args(tp)[0])
        return (model, "[]") if model is not None and how == "" else (None, "")
    if origin is dict:
        model, how = _model_in(get_args(tp)[1])
        return (model, ".<name>") if model is not None and how == "" else (None, "")
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp, ""
    return None, ""


def type_name(tp: Any) -> str:
    """A field type the way a YAML author reads it (no pipes: they would split table cells)."""
    if tp is type(None):
        return "null"
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(a) for a in get_args(tp))
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in get_args(tp))
    if origin is list:
        return f"list of {type_name(get_args(tp)[0])}"
    if origin is dict:
        k, v = get_args(tp)
        return f"map of {type_name(k)} to {type_name(v)}"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "section"
    return getattr(tp, "__name__", str(tp))


def default_of(field: Any) -> str:
    """A field's default as YAML-compatible JSON; "required" when it has none."""
    if field.default is PydanticUndefined and field.default_factory is None:
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        value = value.model_dump()
    return json.dumps(value)


@cache
def _source_comments(cls: type) -> dict[str, str]:
    """Field name -> the comment on its line(s) or in the comment block right above it."""
    try:
        src = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    lines = src.splitlines()
    comments: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
    out: dict[str, str] = {}
    body = ast.parse(src).body[0]
    for node in getattr(body, "body", []):
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        found = [comments[n] for n in range(node.lineno, (node.end_lineno or node.lineno) + 1) if n in comments]
        above = []
        n = node.lineno - 1
        while n >= 1 and n in comments and lines[n - 1].lstrip().startswith("#"):
            above.insert(0, comments[n])
            n -= 1
        text = " ".join(above + found).strip()
        if text:
            out[node.target.id] = text
    return out


def _rst_to_md(text: str) -> str:
    return re.sub(r"``([^`]+)``", r"`\1`", text)


def _cell(text: str) -> str:
    text = _rst_to_md(" ".join(text.split()))
    if text and not text.endswith("."):
        text += "."
    return (text[:1].upper() + text[1:]).replace("|", "\\|")


def meaning(cls: type[BaseModel], name: str) -> str:
    field = cls.model_fields[name]
    return _cell(field.description or _source_comments(cls).get(name, ""))


def _doc(cls: type) -> str:
    return _rst_to_md(inspect.cleandoc(cls.__doc__)) if cls.__doc__ else ""


Row = tuple[str, str, str, str]


class Section:
    """One nested model at one key path: its intro, its docstring and the rows of its leaf keys."""

    def __init__(self, path: str, cls: type[BaseModel], intro: str = "") -> None:
        self.path, self.cls, self.intro = path, cls, intro
        self.rows: list[Row] = []

    def markdown(self) -> str:
        parts = [f"## `{self.path}`" if self.path else "## Top level", ""]
        parts += [p + "\n" for p in (self.intro, _doc(self.cls)) if p]
        if self.rows:
            parts += ["| key | type | default | meaning |", "|---|---|---|---|"]
            parts += [f"| `{p}` | {t} | `{d}` | {m} |" for p, t, d, m in self.rows]
            parts.append("")
        return "\n".join(parts)


def _intro(parent: type[BaseModel], name: str, how: str) -> str:
    field = parent.model_fields[name]
    kind = {"[]": "A list; each item has the keys below.", ".<name>": "A map by name; each value has the keys below."}
    optional = "Optional (default `null`)." if how == "" and field.default is None else ""
    return " ".join(x for x in (meaning(parent, name), kind.get(how, ""), optional) if x)


def walk(cls: type[BaseModel], prefix: str = "", intro: str = "") -> list[Section]:
    """Sections depth-first, in field order: the model's own leaf keys, then each nested model."""
    section = Section(prefix.rstrip("."), cls, intro)
    nested: list[Section] = []
    for name, field in cls.model_fields.items():
        path = f"{prefix}{name}"
        model, how = _model_in(field.annotation)
        if model is None:
            section.rows.append((path, type_name(field.annotation), default_of(field), meaning(cls, name)))
        else:
            nested += walk(model, f"{path}{how}.", _intro(cls, name, how))
    return [section, *nested]


def render_reference(root: type[BaseModel] | None = None) -> str:
    """The whole reference in Markdown: one section per nested model, one row per leaf key."""
    if root is None:
        from faregate.config import GatewayConfig

        root = GatewayConfig
    return "\n".join(s.markdown() for s in walk(root))


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if page.file.src_uri == PAGE and MARKER in markdown:
        return markdown.replace(MARKER, render_reference())
    return markdown
