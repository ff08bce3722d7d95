"""Offline datasets: the toy-ocean nature run.

:func:`toy_ocean` returns a CF Dataset of daily ``ssh``, ``sst``, ``sss``, ``u``, ``v``
(and optionally ``uwind``, ``vwind``) from a two-layer quasi-geostrophic model: the
"Phillips" eddy set-up on a doubly periodic beta-plane covering a lat/lon box (the
Gulf Stream box 33-43N, 65-55W by default). A uniform vertical shear makes the flow
baroclinically unstable; bottom drag and a grid-scale hyperviscosity equilibrate
the eddies. SST and SSS are passive tracers stirred by the upper layer (background
gradient + anomaly with restoring and diffusion), and an optional wind field drives
an Ekman current of known amplitude and turning angle. The model
(:mod:`xgenda.datasets.qg`) is pseudo-spectral in torch (CPU or GPU) with third-order
Adams-Bashforth time stepping; a 64 x 64 year runs in seconds on a laptop CPU.

The nature run is the truth of offline OSSEs (see :mod:`xgenda.osse`): it is
deterministic for a seed, and different seeds give independent runs for
train/validation/test splits.

Examples
--------
>>> import xgenda
>>> truth = xgenda.datasets.toy_ocean(days=365, size=64, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

# The function shadows its module of the same name on the package; reach the module
# itself with importlib.import_module("xgenda.datasets.toy_ocean").
from xgenda.datasets.toy_ocean import ToyOceanParameters, toy_ocean

__all__ = ["ToyOceanParameters", "toy_ocean"]
