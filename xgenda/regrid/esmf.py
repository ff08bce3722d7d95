"""The xesmf (ESMF) regridding backend, used when xesmf can be imported.

ESMF computes weights on the sphere, so it handles curvilinear and global sources and
conservative regridding from any grid. Cell corners, which conservative regridding
needs, are estimated with cf-xarray when the source does not carry them.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import cf_xarray
import numpy as np
import xarray as xr

from xgenda._optional import require
from xgenda.grid import _edges
from xgenda.regrid.common import LonFrame, regrid_object
from xgenda.regrid.curvilinear import CurvilinearRegridder
from xgenda.regrid.regular import RegularRegridder

_XESMF_METHODS = {"bilinear": "bilinear", "nearest": "nearest_s2d",
                  "conservative": "conservative_normed"}


def import_xesmf() -> Any:
    """Import xesmf, or explain how to get it."""
    # xesmf needs ESMF (esmpy), which only conda-forge distributes.
    return require("xesmf", "backend='xesmf'",
                   hint="conda install -c conda-forge xesmf; or use backend='native'")


def _corners_1d(centres: np.ndarray) -> np.ndarray:
    return _edges(np.asarray(centres, dtype=float))


def _grid_for_esmf(
    lat: xr.DataArray, lon: xr.DataArray, with_bounds: bool
) -> xr.Dataset:
    """A Dataset with ``lat``/``lon`` (and ``lat_b``/``lon_b`` corners) as xesmf reads them."""
    grid = xr.Dataset(coords={"lat": lat.variable, "lon": lon.variable})
    if not with_bounds:
        return grid
    if lat.ndim == 1:
        return grid.assign_coords(lat_b=("lat_b", np.clip(_corners_1d(lat.values), -90, 90)),
                                  lon_b=("lon_b", _corners_1d(lon.values)))

    # cf-xarray guesses 2-D cell bounds from centres; ESMF wants (ny+1, nx+1) corners.
    dims = lat.dims
    bounded = grid.cf.add_bounds(["lat", "lon"], output_dim="bounds")
    lat_b = cf_xarray.bounds_to_vertices(bounded["lat_bounds"], "bounds", order=None)
    lon_b = cf_xarray.bounds_to_vertices(bounded["lon_bounds"], "bounds", order=None)
    corner_dims = tuple(f"{d}_b" for d in dims)
    return grid.assign_coords(lat_b=(corner_dims, np.clip(lat_b.values, -90, 90)),
                              lon_b=(corner_dims, lon_b.values))


class XesmfRegridder:
    """Regrid with an ``xesmf.Regridder`` built once for a source/target pair.

    Parameters
    ----------
    source_lat, source_lon : DataArray
        Source cell centres, 1-D (``lat``, ``lon``) or 2-D on the same two dims.
    target_lat, target_lon : DataArray
        1-D target cell centres (degrees north / east).
    method : {"bilinear", "nearest", "conservative"}
        Mapped to ESMF's ``bilinear``, ``nearest_s2d`` and ``conservative_normed``.
    **kwargs
        Passed on to :class:`xesmf.Regridder` (e.g. ``extrap_method``).

    Notes
    -----
    Targets outside the source domain are NaN (``unmapped_to_nan``); ``nearest`` targets
    beyond the source cell edges are masked to NaN too, as with the native backend.
    Conservative regridding skips NaN source cells (``skipna=True``): a target cell partly
    over land is the area-weighted mean of its ocean part.
    """

    def __init__(
        self,
        source_lat: xr.DataArray,
        source_lon: xr.DataArray,
        target_lat: xr.DataArray,
        target_lon: xr.DataArray,
        method: str,
        **kwargs: Any,
    ) -> None:
        xe = import_xesmf()
        self.method = method
        self.target_lat = target_lat
        self.target_lon = target_lon
        self.curvilinear = source_lat.ndim == 2
        self._source_lat = source_lat.variable
        self._source_lon = source_lon.variable
        self.dims: tuple[Hashable, Hashable] = (
            tuple(source_lat.dims) if self.curvilinear else ("lat", "lon")  # type: ignore[assignment]
        )
        bounds = method == "conservative"
        source = _grid_for_esmf(source_lat, source_lon, bounds)
        target = _grid_for_esmf(target_lat, target_lon, bounds)
        periodic = False
        if not self.curvilinear:
            edges = _corners_1d(source_lon.values)
            periodic = LonFrame.from_edges(edges[0], edges[-1]).periodic
        options = {"periodic": periodic, "unmapped_to_nan": True, **kwargs}
        self._regridder = xe.Regridder(source, target, _XESMF_METHODS[method], **options)
        self._outside = self._outside_mask(source_lat, source_lon) if method == "nearest" \
            else None

    def _outside_mask(self, source_lat: xr.DataArray, source_lon: xr.DataArray) -> np.ndarray:
        """Targets too far from the source for a nearest-neighbour value (ESMF fills all)."""
        if self.curvilinear:
            try:
                geometry = CurvilinearRegridder(source_lat, source_lon, self.target_lat,
                                                self.target_lon, "nearest")
            except NotImplementedError:  # a global grid: every target has a neighbour
                return np.zeros((self.target_lat.size, self.target_lon.size), dtype=bool)
            return ~geometry.inside.reshape(geometry.target_shape)
        regular = RegularRegridder(source_lat.values, source_lon.values, self.target_lat,
                                   self.target_lon, "nearest")
        return ~np.outer(regular.lat_inside, regular.lon_inside)

    def __call__(self, obj: xr.Dataset | xr.DataArray) -> xr.Dataset | xr.DataArray:
        return regrid_object(obj, self.dims, self._regrid_vars, self.target_lat, self.target_lon)

    def _regrid_vars(self, ds: xr.Dataset) -> xr.Dataset:
        conservative = self.method == "conservative"
        # Give xesmf the source coords back (regrid_object drops 2-D coords on the grid).
        src = ds.assign_coords(lat=self._source_lat, lon=self._source_lon) \
            if self.curvilinear else ds
        out = self._regridder(src, keep_attrs=True, skipna=conservative, na_thres=1.0)
        if self._outside is not None and self._outside.any():
            out = out.where(xr.DataArray(~self._outside, dims=("lat", "lon")))
        return out
