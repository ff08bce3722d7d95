"""xgenda: generative data assimilation of the surface ocean, native to xarray.

Importing xgenda registers the ``.genda`` accessor on xarray objects. Torch is
imported lazily, only by the diffusion, prior and assimilation parts.
"""

from __future__ import annotations

import importlib
from typing import Any

from xgenda import accessor as _accessor  # noqa: F401  (registers .genda)
from xgenda import grid, testing, variables
from xgenda._version import __version__

# Heavier parts are resolved on first attribute access so that ``import xgenda``
# stays light (no torch) for data-preparation work.
_LAZY = {
    "Normalizer": ("xgenda.normalize", "Normalizer"),
    "train": ("xgenda.training", "train"),
    "TrainConfig": ("xgenda.training", "TrainConfig"),
    "Prior": ("xgenda.prior", "Prior"),
    "load_demo_prior": ("xgenda.prior", "load_demo_prior"),
    "calibrate": ("xgenda.calibration", "calibrate"),
    "assimilate": ("xgenda.assimilation", "assimilate"),
    "resume_to_zarr": ("xgenda.stream", "resume_to_zarr"),
}
_LAZY_MODULES = {"datasets", "osse", "obs", "diffusion", "baselines", "diagnostics", "catalog",
                 "currents", "regrid", "patches", "prior", "stream", "config",
                 "assimilation", "calibration", "progress"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    if name in _LAZY_MODULES:
        return importlib.import_module(f"xgenda.{name}")
    raise AttributeError(f"module 'xgenda' has no attribute {name!r}")


__all__ = [
    "Normalizer",
    "Prior",
    "TrainConfig",
    "__version__",
    "assimilate",
    "calibrate",
    "grid",
    "load_demo_prior",
    "testing",
    "train",
    "variables",
]
