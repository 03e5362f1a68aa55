"""Callable packages: ``prep.fix(...)``, ``prep.build(...)`` and ``prep.submit(...)`` run a package's main
function, while ``prep.fix.plan`` and the rest stay its modules (the API the issues name)."""

from __future__ import annotations

import sys
import types


class _CallablePackage(types.ModuleType):
    _main: str

    def __call__(self, *args, **kwargs):
        return getattr(self, self._main)(*args, **kwargs)


def make_callable(module_name: str, main: str) -> None:
    """Make the (already imported) module ``module_name`` callable as its function ``main``."""
    module = sys.modules[module_name]
    module.__class__ = type("CallablePackage", (_CallablePackage,), {"_main": main})
