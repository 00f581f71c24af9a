"""The layout rules the codebase keeps: small modules and functions, imports flowing one way, no cycles.

Read from the source with ``ast`` (nothing is imported), so a violation names the file and line.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "faregate"

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

# Which top-level packages each package may import (eagerly or lazily). Imports flow
# core -> wire -> adapters -> endpoints/routing/storage/limits -> pipeline -> server/cli.
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "config": {"core", "adapters"},  # provider names come from the adapter registry
    "wire": {"core"},
    "adapters": {"core"},  # never config: a translator is pure data to data
    "endpoints": {"core", "config", "adapters"},
    "routing": {"core", "config"},
    "storage": {"core", "config"},
    "limits": {"core", "config"},
    "keys": {"core", "config", "storage"},
    "catalogue": {"core", "config"},
    "importers": {
        "core",
        "config",
        "catalogue",
    },  # the shipped model catalogue: data about models, no I/O beyond its file
    "learning": {"core", "config", "storage", "routing"},
    # catalogue: the offline analyses complete the config's models as the server does (analysis/config.py).
    "analysis": {"core", "config", "wire", "routing", "storage", "catalogue"},
    "observability": {"core", "config", "endpoints"},  # events.py: a deployment's failures and breaker
    "alerts": {"core", "config", "storage"},
    "cache": {"core", "config", "storage", "routing"},  # the embedder comes from routing
    "cluster": {"core", "config"},  # `faregate cluster`: starts `faregate serve` processes and nginx
    "guardrails": {"core", "config"},  # pure text inspection: detectors, masking, stream windows
    "pipeline": {
        "core",
        "config",
        "wire",
        "adapters",
        "endpoints",
        "routing",
        "storage",
        "limits",
        "keys",
        "learning",
        "catalogue",
        "observability",
        "alerts",
        "cache",
        "guardrails",
    },
    "server": {
        "core",
        "config",
        "wire",
        "adapters",
        "endpoints",
        "routing",
        "storage",
        "limits",
        "keys",
        "learning",
        "cache",
        "pipeline",
        "catalogue",
        "observability",
        "alerts",
        "batch",  # the batch tier's store and runner behind server/batch_routes.py
        "dashboard",  # the one mount hook (dashboard.mount), which loads the pages only when enabled
    },
    # The web dashboard reads through the APIs' own services and route helpers.
    "dashboard": {"core", "config", "storage", "keys", "limits", "pipeline", "server", "alerts", "cache"},
    # The batch tier runs each line through the Gateway pipeline (so every step applies).
    # limits: the up-front batch reservation; adapters and endpoints: lines sent by a provider's batch API.
    "batch": {"core", "config", "wire", "adapters", "endpoints", "storage", "limits", "pipeline"},
    "testing": {"core", "wire", "adapters"},
    "demo": {"core", "config", "wire", "routing", "storage", "testing", "server", "pipeline"},
    "cli": {"*"},
    "__main__": {"cli"},
    "__init__": set(),
}

# Lazy imports that may close a loop: a backend factory in a package's base module picks the
# backend named by a URL at run time.
LAZY_FACTORY_EDGES = {
    ("faregate.limits.base", "faregate.limits.memory"),
    ("faregate.limits.base", "faregate.limits.redis_store"),
}


def _modules() -> dict[str, Path]:
    out = {}
    for p in SRC.rglob("*.py"):
        parts = list(p.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _package_of(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(mod: str, path: Path, known: set[str]) -> list[tuple[str, bool, int]]:
    """(imported module, lazy?, line) for every faregate import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(n) for n in tree.body}
    # Imports under `if TYPE_CHECKING:` at module level are not executed: treat them as lazy.
    for n in tree.body:
        if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test):
            top -= {id(x) for x in ast.walk(n)}
    pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [target] + [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            if not name.startswith("faregate"):
                continue
            while name not in known and "." in name:
                name = name.rsplit(".", 1)[0]
            if name != mod and name in known:
                out.append((name, id(node) not in top, node.lineno))
    return out


def test_no_module_over_the_size_limit():
    big = []
    for p in _modules().values():
        n = len(p.read_text(encoding="utf-8").splitlines())
        if n > MAX_MODULE_LINES:
            big.append(f"{p.relative_to(SRC.parent)}: {n} lines")
    assert not big, f"modules over {MAX_MODULE_LINES} lines: {big}"


def test_no_function_over_the_size_limit():
    long = []
    for p in _modules().values():
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{p.relative_to(SRC.parent)}:{node.lineno} {node.name} ({n} lines)")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_imports_flow_one_way():
    mods = _modules()
    bad = []
    for mod, p in mods.items():
        src_pkg = _package_of(mod)
        allowed = ALLOWED.get(src_pkg)
        assert allowed is not None, f"package {src_pkg!r} has no layering rule in ALLOWED"
        for target, _lazy, line in _imports(mod, p, set(mods)):
            dst_pkg = _package_of(target)
            if dst_pkg in (src_pkg, "__init__") or "*" in allowed or dst_pkg in allowed:
                continue
            bad.append(f"{p.relative_to(SRC.parent)}:{line} {src_pkg} -> {dst_pkg} ({target})")
    assert not bad, "imports against the layering:\n  " + "\n  ".join(bad)


def test_no_import_cycles():
    mods = _modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for mod, p in mods.items():
        for target, lazy, _line in _imports(mod, p, set(mods)):
            if lazy and (mod, target) in LAZY_FACTORY_EDGES:
                continue
            if target == mod.rsplit(".", 1)[0] and lazy:
                continue
            graph[mod].add(target)
    # Tarjan's strongly connected components: any component of two or more modules is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(mods):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"
