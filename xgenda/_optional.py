"""Optional packages: import them, or say in one line which extra installs them.

Every place that imports an optional package goes through :func:`require`, so a
missing package always reads the same way (``xgenda.catalog needs intake>=2.0:
pip install 'xgenda[catalog]'``) and the ``xgenda`` command prints it as one line.
This module imports nothing from xgenda, so any layer may use it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["EXTRAS", "MissingOptionalDependency", "require"]

EXTRAS: dict[str, tuple[str, str]] = {
    "intake": ("catalog", "intake>=2.0"),
    "matplotlib": ("plot", "matplotlib>=3.8"),
    "distributed": ("distributed", "distributed>=2024.8"),
    "xesmf": ("xesmf", "xesmf>=0.8"),
}
"""Top-level module name -> (extra of the ``xgenda`` package, requirement)."""


class MissingOptionalDependency(ImportError):
    """An optional package is not installed; the message names the extra that installs it."""


def require(module: str, needed_by: str, *, hint: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingOptionalDependency` with a one-line fix.

    Parameters
    ----------
    module : str
        Module to import, e.g. ``"intake"`` or ``"matplotlib.figure"``.
    needed_by : str
        What needs it, for the message (``"xgenda.catalog"``, ``"backend='xesmf'"``).
    hint : str, optional
        How to install it when pip alone is not enough (default: the pip command of
        the extra in :data:`EXTRAS`).

    Returns
    -------
    module
        The imported module.

    Raises
    ------
    MissingOptionalDependency
        When the module, or a package it needs, cannot be imported.
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        top = module.split(".")[0]
        extra, requirement = EXTRAS.get(top, (None, top))
        if hint is None:
            hint = (f"pip install 'xgenda[{extra}]'" if extra is not None
                    else f"pip install '{requirement}'")
        missing = getattr(err, "name", None) or top
        detail = "" if missing.split(".")[0] == top else f" (its dependency {missing} is missing)"
        raise MissingOptionalDependency(
            f"{needed_by} needs {requirement}{detail}: {hint}", name=top) from err
