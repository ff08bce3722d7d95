"""Observation simulator for OSSEs: nadir orbits, SWOT swaths, clouds, L4 products, drifters.

``xgenda.osse.observe(truth)`` turns a nature run (e.g. :func:`xgenda.datasets.toy_ocean`)
into an :class:`xarray.DataTree` of observation Datasets that follow the conventions of
:mod:`xgenda.obs`: point observations along ``obs``, gridded L3 with NaN gaps, smoothed L4
products, and withheld nadir and drifter data for evaluation.
``xgenda.osse.simulate(out, days)`` runs the toy ocean and the simulator and writes both to
zarr (the ``xgenda simulate`` command).
"""

from __future__ import annotations

from xgenda.osse.observe import observe
from xgenda.osse.orbits import DEFAULT_CONSTELLATION, ORBITS, Orbit, get_orbit
from xgenda.osse.store import simulate

__all__ = ["DEFAULT_CONSTELLATION", "ORBITS", "Orbit", "get_orbit", "observe", "simulate"]
