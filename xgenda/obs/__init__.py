"""Ocean observations and their differentiable operators.

- :func:`points`, :func:`grid`, :func:`smoothed`: wrap an observation Dataset with
  the way the state is compared with it (bilinear at points, masked identity on a
  grid, Gaussian blur for L4 products); :func:`collect` reads a DataTree or a list;
- :func:`compile_tables` turns observation sets into per-time NumPy tables on an
  :class:`AnalysisGrid`;
- :class:`ObservationOperator` (torch) applies them to a batch of normalized states.

Operators are linear; their adjoint is a vector-Jacobian product (:func:`adjoint`).
The torch parts are imported on first use, so ``import xgenda.obs`` stays light.
"""

from __future__ import annotations

from typing import Any

from xgenda.obs.collect import (
    KINDS,
    ObservationSet,
    apply_window,
    collect,
    grid,
    points,
    smoothed,
    to_days,
)
from xgenda.obs.compile import AnalysisGrid, compile_tables, route, subset_for_times
from xgenda.obs.table import ObservationTable

__all__ = [
    "KINDS",
    "AnalysisGrid",
    "GaussianBlur",
    "ObservationOperator",
    "ObservationSet",
    "ObservationTable",
    "adjoint",
    "apply_window",
    "collect",
    "compile_tables",
    "grid",
    "points",
    "route",
    "smoothed",
    "subset_for_times",
    "to_days",
]

_TORCH = {"GaussianBlur", "ObservationOperator", "adjoint"}


def __getattr__(name: str) -> Any:
    if name in _TORCH:
        from xgenda.obs import operators

        return getattr(operators, name)
    raise AttributeError(f"module 'xgenda.obs' has no attribute {name!r}")
