"""Deferred execution of heavy modules a library imports but a caller never uses.

Great Expectations imports SciPy (490 modules, for statistical expectations) and Altair (for rendering
reports) when it is imported itself; the candle suite uses neither. Inside ``lazily("scipy", "altair")``
those packages' Python modules are created by ``importlib.util.LazyLoader``: they run on first attribute
access, so code that does use them still gets them whole. Measured in a fresh process: importing GX costs
+67 MB and 1.2 s instead of +147 MB and 2.5 s, and validate_data runs in a fresh task process every 15
minutes (issue 5's memory target). Not thread-safe on first access (Python 3.11's LazyLoader): use it
around imports done on one thread.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType

__all__ = ["lazily"]

_SOURCE_LOADERS = (importlib.machinery.SourceFileLoader, importlib.machinery.SourcelessFileLoader)


class _LazyFinder(importlib.abc.MetaPathFinder):
    """Finds modules under ``roots`` with the other finders and makes their loader lazy (Python modules
    only: extension modules are loaded as usual)."""

    def __init__(self, roots: frozenset[str]) -> None:
        self.roots = roots

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] not in self.roots:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if isinstance(spec.loader, _SOURCE_LOADERS):
                    spec.loader = importlib.util.LazyLoader(spec.loader)
                return spec
        return None


@contextmanager
def lazily(*roots: str) -> Iterator[None]:
    """Within the block, modules of the packages ``roots`` imported for the first time run on first use."""
    finder = _LazyFinder(frozenset(roots))
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
