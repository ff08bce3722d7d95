"""Native regridding between regular (1-D ``lat``/``lon``) grids.

Bilinear interpolation is xarray's own :meth:`xarray.Dataset.interp`, nearest neighbour
is positional indexing with pandas' nearest lookup, and conservative regridding takes
its overlap weights from xarray-regrid. This module only adds what those libraries
leave to the caller: longitude conventions (targets are moved into the source's
longitude frame, global sources are padded periodically), NaN renormalisation for
conservative regridding, and masking of targets outside the source domain.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
import xarray_regrid  # noqa: F401  (registers the .regrid accessor)

from xgenda.grid import _edges
from xgenda.regrid.common import LonFrame, regrid_object


class RegularRegridder:
    """Regrid fields from one regular lat/lon grid to another (native backend).

    Parameters
    ----------
    source_lat, source_lon : numpy.ndarray
        1-D ascending source cell centres (degrees north / east).
    target_lat, target_lon : DataArray
        1-D target cell centres (degrees north / east, any longitude convention).
    method : {"bilinear", "nearest", "conservative"}
        Interpolation method.

    Notes
    -----
    Targets outside the source domain are NaN: for ``bilinear`` those beyond the outermost
    source cell centres, for ``nearest`` those beyond the outermost source cell edges,
    for ``conservative`` those whose centre lies beyond the outermost source centres.
    """

    def __init__(
        self,
        source_lat: np.ndarray,
        source_lon: np.ndarray,
        target_lat: xr.DataArray,
        target_lon: xr.DataArray,
        method: str,
    ) -> None:
        self.method = method
        self.source_lat = np.asarray(source_lat, dtype=float)
        self.source_lon = np.asarray(source_lon, dtype=float)
        self.target_lat = target_lat
        self.target_lon = target_lon
        lat_edges = _edges(self.source_lat)
        lon_edges = _edges(self.source_lon)
        self.frame = LonFrame.from_edges(lon_edges[0], lon_edges[-1])
        tlat = np.asarray(target_lat.values, dtype=float)
        # Target longitudes expressed in the source frame, in the target's own order.
        self.mapped_lon = self.frame.map(target_lon.values)
        self.lat_inside = (tlat >= lat_edges[0] - 1e-9) & (tlat <= lat_edges[-1] + 1e-9)
        self.lon_inside = self.frame.inside(self.mapped_lon)
        check_overlap(
            self.lat_inside, self.lon_inside,
            source=(lat_edges[0], lat_edges[-1], lon_edges[0], lon_edges[-1]),
            target=(tlat.min(), tlat.max(), float(np.min(target_lon)), float(np.max(target_lon))),
        )

    # -- application --------------------------------------------------------
    def __call__(self, obj: xr.Dataset | xr.DataArray) -> xr.Dataset | xr.DataArray:
        regrid_vars = {"bilinear": self._bilinear, "nearest": self._nearest,
                       "conservative": self._conservative}[self.method]
        return regrid_object(obj, ("lat", "lon"), regrid_vars, self.target_lat, self.target_lon)

    def _padded(self, ds: xr.Dataset) -> xr.Dataset:
        return pad_periodic_lon(ds) if self.frame.periodic else ds

    def _bilinear(self, ds: xr.Dataset) -> xr.Dataset:
        src = self._padded(ds)
        # interp wants increasing, unique targets: interpolate onto the sorted mapped
        # longitudes, then put columns back in target order.
        unique = np.unique(self.mapped_lon)
        out = src.interp(lat=self.target_lat.values, lon=unique, method="linear")
        return out.reindex(lon=self.mapped_lon)

    def _nearest(self, ds: xr.Dataset) -> xr.Dataset:
        src = self._padded(ds)
        ilat = pd.Index(src["lat"].values).get_indexer(self.target_lat.values, method="nearest")
        ilon = pd.Index(src["lon"].values).get_indexer(self.mapped_lon, method="nearest")
        # The picked source coordinates may repeat: drop them, the target ones replace them.
        out = src.isel(lat=ilat, lon=ilon).drop_vars(["lat", "lon"])
        inside = np.outer(self.lat_inside, self.lon_inside)
        if inside.all():
            return out  # exact source values, source dtype
        return out.where(xr.DataArray(inside, dims=("lat", "lon")))

    def _conservative(self, ds: xr.Dataset) -> xr.Dataset:
        # xarray-regrid's overlap weights assume contiguous target cells: give it only the
        # target columns over the source, sorted, and reindex onto the full target after.
        unique = np.unique(self.mapped_lon[self.lon_inside])
        grid = xr.Dataset(coords={"lat": ("lat", np.asarray(self.target_lat.values, float)),
                                  "lon": ("lon", unique)})
        valid = ds.notnull().astype(_weight_dtype(ds))
        summed = ds.fillna(0.0).regrid.conservative(grid, skipna=False, time_dim=None)
        weight = valid.regrid.conservative(grid, skipna=False, time_dim=None)
        # Renormalise by the valid (non-NaN) area fraction: a target cell partly over land
        # is the area-weighted mean of its ocean part, a cell entirely over land stays NaN.
        # Dividing by NaN rather than 0 keeps numpy quiet about 0/0.
        out = summed / weight.where(weight > 1e-9)
        out = out.reindex(lat=grid["lat"].values, lon=self.mapped_lon)
        return out


def pad_periodic_lon(ds: xr.Dataset) -> xr.Dataset:
    """A globally periodic source with one wrapped column on each side in ``lon``.

    Interpolation across the seam then needs no special case. A duplicated seam column
    (both 0 and 360 present) is dropped first.
    """
    lon = ds["lon"].values
    ds = ds.isel(lon=np.flatnonzero(lon < lon[0] + 360.0 - 1e-9))
    lon = ds["lon"].values
    padded = xr.concat([ds.isel(lon=[-1]), ds, ds.isel(lon=[0])], dim="lon",
                       data_vars="all", coords="minimal", compat="override", join="override")
    padded = padded.assign_coords(lon=np.concatenate([[lon[-1] - 360.0], lon, [lon[0] + 360.0]]))
    chunked = {v: padded[v].chunk({"lon": -1}) for v in padded.data_vars
               if hasattr(padded[v].data, "dask")}
    return padded.assign(chunked) if chunked else padded


def _weight_dtype(ds: xr.Dataset) -> np.dtype:
    dtypes = [v.dtype for v in ds.data_vars.values()]
    return np.result_type(np.float32, *dtypes)


def check_overlap(
    lat_inside: np.ndarray,
    lon_inside: np.ndarray,
    source: tuple[float, float, float, float],
    target: tuple[float, float, float, float],
) -> None:
    """Raise ``ValueError`` when no target point lies inside the source domain."""
    if lat_inside.any() and lon_inside.any():
        return
    s, n, w, e = source
    ts, tn, tw, te = target
    raise ValueError(
        f"target grid lies entirely outside the source grid: target lat [{ts:.4g}, {tn:.4g}], "
        f"lon [{tw:.4g}, {te:.4g}]; source lat [{s:.4g}, {n:.4g}], lon [{w:.4g}, {e:.4g}] (cell edges, "
        "degrees). Choose a target inside the source domain (longitudes may use either the "
        "0..360 or the -180..180 convention)"
    )
