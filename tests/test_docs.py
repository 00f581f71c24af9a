"""The documentation: the generated configuration reference covers every key, and the site builds.

The reference is checked against an independent walk of ``GatewayConfig``, so a field the
generator skipped (a new nesting shape, say) fails here. The site build is ``mkdocs build
--strict``: any warning, a broken link or anchor among them, fails it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from faregate.config import GatewayConfig

ROOT = Path(__file__).resolve().parents[1]
HOOK = ROOT / "docs" / "hooks" / "config_reference.py"


def _load_hook() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("config_reference_hook", HOOK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _nested(tp: Any) -> tuple[type[BaseModel] | None, str]:
    if get_origin(tp) in (Union, types.UnionType):
        found = [_nested(a) for a in get_args(tp)]
        return next((f for f in found if f[0] is not None), (None, ""))
    if get_origin(tp) is list:
        inner = get_args(tp)[0]
        return (inner, "[]") if isinstance(inner, type) and issubclass(inner, BaseModel) else (None, "")
    if get_origin(tp) is dict:
        inner = get_args(tp)[1]
        return (inner, ".<name>") if isinstance(inner, type) and issubclass(inner, BaseModel) else (None, "")
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp, ""
    return None, ""


def _leaves(cls: type[BaseModel], prefix: str = "") -> list[tuple[str, str]]:
    """(key path, default as JSON or "required") of every leaf field, walked from the models."""
    out = []
    for name, field in cls.model_fields.items():
        model, how = _nested(field.annotation)
        if model is not None:
            out += _leaves(model, f"{prefix}{name}{how}.")
        elif field.default is PydanticUndefined and field.default_factory is None:
            out.append((prefix + name, "required"))
        else:
            out.append((prefix + name, json.dumps(field.get_default(call_default_factory=True))))
    return out


def test_reference_lists_every_leaf_key_with_its_default():
    text = _load_hook().render_reference()
    rows = {}
    for line in text.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            rows[cells[0].strip("`")] = cells
    leaves = _leaves(GatewayConfig)
    assert len(leaves) > 100  # the walk itself reached the nested sections
    for path in ("models[].timeouts.ttfb", "limits.teams.<name>.rpm", "models[].deployments[].prices.input"):
        assert path in dict(leaves)
    missing = [p for p, _ in leaves if p not in rows]
    assert not missing, f"keys missing from the reference: {missing}"
    wrong = [(p, d, rows[p][2]) for p, d in leaves if rows[p][2] != f"`{d}`"]
    assert not wrong, f"defaults that differ (key, expected, shown): {wrong}"
    extra = sorted(set(rows) - {p for p, _ in leaves})
    assert not extra, f"rows for keys that are not leaf fields: {extra}"


def test_reference_marker_is_on_its_page():
    hook = _load_hook()
    assert hook.MARKER in (ROOT / "docs" / hook.PAGE).read_text(encoding="utf-8")


def test_site_builds_strict(tmp_path):
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None:
        pytest.skip("mkdocs and mkdocs-material are not installed (pip install -e '.[dev]')")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    page = (tmp_path / "site" / "config-reference" / "index.html").read_text(encoding="utf-8")
    assert "models[].timeouts.ttfb" in page


def test_the_module_tree_lists_every_module_with_its_summary():
    spec = importlib.util.spec_from_file_location("module_tree_hook", ROOT / "docs" / "hooks" / "module_tree.py")
    assert spec is not None and spec.loader is not None
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    tree = hook.render_tree()
    src = ROOT / "src" / "faregate"
    for path in src.rglob("*.py"):
        if path.name == "__init__.py":
            continue
        assert f"\n{path.relative_to(src)} " in tree or f"```\n{path.relative_to(src)} " in tree, path
    assert "pipeline/runtime.py" in tree and "compiled config" in tree
