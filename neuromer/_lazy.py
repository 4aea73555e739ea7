"""Public names of a package loaded on first use (PEP 562), so importing the package is cheap.

``import neuromer`` and the ``neuromer`` command must not pay for mne, scipy, scikit-learn,
librosa or pandas before a command needs them (start-up is most of a short command's time).
A package lists its public names and the submodule that defines each; :func:`lazy_exports`
returns the module-level ``__getattr__`` and ``__dir__`` that import the submodule when a name is
first used.

One trap of lazy packages is handled here: a public function named like its submodule
(``neuromer.align.align``, ``neuromer.live.play.play``). Importing the submodule makes the
import system bind the submodule on the package (``neuromer.align = <module>``), which would
hide the function from then on. The package's class is switched to :class:`_LazyPackage`, which
refuses that one binding, so ``neuromer.align`` stays the function as it was with eager imports
(``sys.modules["neuromer.align"]`` is still the module).
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable


class _LazyPackage(types.ModuleType):
    """A package module whose exported names are not replaced by same-named submodules."""

    def __setattr__(self, name: str, value) -> None:
        exports = self.__dict__.get("_lazy_exports", {})
        if (name in exports and isinstance(value, types.ModuleType)
                and value.__name__ == f"{self.__name__}.{name}"):
            return  # the import system binding the submodule; the public name is the function
        super().__setattr__(name, value)


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable, Callable]:
    """Module ``__getattr__`` and ``__dir__`` for a package whose public names load on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : dict of str to str
        Public name -> the submodule that defines it, relative to the package (``"io.xdf"``).

    Returns
    -------
    getattr, dir : callable
        Assign them to the package's ``__getattr__`` and ``__dir__``.
    """
    module = sys.modules[package]
    module.__dict__["_lazy_exports"] = exports
    module.__class__ = _LazyPackage

    def __getattr__(name: str):
        source = exports.get(name)
        if source is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{source}", package), name)
        module.__dict__[name] = value  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:  # the public names, for dir() and autocompletion
        return sorted(set(module.__dict__.get("__all__", ())) | set(exports))

    return __getattr__, __dir__
