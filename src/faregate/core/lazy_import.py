"""A module imported on first attribute use, for heavy dependencies most configurations never call.

    from typing import TYPE_CHECKING
    if TYPE_CHECKING:
        import numpy as np
    else:
        np = lazy_module("numpy")

The type checker sees the real module; at run time ``np`` is a stand-in that imports numpy the
first time one of its attributes is read (``np.zeros``) and from then on serves numpy's own
attributes. A gateway that never learns from feedback never pays numpy's memory (about 12 MiB
resident) or import time; one that routes pays the import once, on the first request that needs it.

The stand-in is not put in ``sys.modules``: a plain ``import numpy`` anywhere, in any thread, is
an ordinary import, and the stand-in's first load is an ``importlib.import_module`` too, which
waits for a module another thread is importing: no thread sees numpy half initialised. A failed import
raises where the attribute was read and leaves nothing half-loaded behind.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from types import ModuleType

_STANDINS: dict[str, ModuleType] = {}
_LOCK = threading.Lock()  # guards _STANDINS


class _LazyModule(ModuleType):
    """Loads ``__name__`` on the first attribute that is not its own, then copies the module's
    namespace in, so later lookups are ordinary attribute reads."""

    def __getattr__(self, attr: str):  # called only for names not (yet) in the stand-in's dict
        return getattr(self._load(), attr)

    def _load(self) -> ModuleType:
        # Always through the import system: it waits for a module another thread is importing
        # (sys.modules holds it half-initialised meanwhile).
        module = importlib.import_module(self.__name__)
        if "__file__" not in self.__dict__:
            self.__dict__.update(module.__dict__)
        return module


def lazy_module(name: str) -> ModuleType:
    """``name`` from ``sys.modules`` when already imported, else one shared stand-in that loads
    it on first use (``ModuleNotFoundError`` now if it is not installed at all)."""
    module = sys.modules.get(name)
    if module is not None:
        return module
    with _LOCK:
        standin = _STANDINS.get(name)
        if standin is None:
            if importlib.util.find_spec(name) is None:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            standin = _STANDINS[name] = _LazyModule(name)
    return standin
