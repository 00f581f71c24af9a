"""A module imported on first attribute use, for heavy dependencies most configurations never call.

    from typing import TYPE_CHECKING
    if TYPE_CHECKING:
        import numpy as np
    else:
        np = lazy_module("numpy")

The type checker sees the real module; at run time ``np`` is a placeholder that imports numpy
the first time any attribute is read (``np.zeros``), then is numpy itself (the standard
library's ``importlib.util.LazyLoader``). A gateway that never learns from feedback never
pays numpy's memory (about 12 MiB resident) or import time. The first use should come from one
thread at a time (Python 3.11's ``LazyLoader`` takes no lock): the gateway's callers all run
on its event loop.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    """``name`` from ``sys.modules`` when already imported, else a module that loads on first use."""
    module = sys.modules.get(name)
    if module is not None:
        return module
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
