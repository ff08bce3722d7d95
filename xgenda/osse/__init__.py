"""Observation simulator for OSSEs: nadir orbits, SWOT swaths, clouds, L4 products, drifters.

``xgenda.osse.observe(truth)`` turns a nature run (e.g. :func:`xgenda.datasets.toy_ocean`)
into an :class:`xarray.DataTree` of observation Datasets that follow the conventions of
:mod:`xgenda.obs`: point observations along ``obs``, gridded L3 with NaN gaps, smoothed L4
products, and withheld nadir and drifter data for evaluation.
"""

from __future__ import annotations

from xgenda.osse.observe import observe
from xgenda.osse.orbits import DEFAULT_CONSTELLATION, ORBITS, Orbit, get_orbit

__all__ = ["DEFAULT_CONSTELLATION", "ORBITS", "Orbit", "get_orbit", "observe"]
