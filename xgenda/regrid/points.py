"""Values of gridded fields at point observations (the xesmf "locstream" equivalent).

Linear sampling is xarray's vectorized :meth:`xarray.Dataset.interp` with indexers along
``obs``: bilinear in lat/lon and linear in time, with time converted to float seconds
so that interpolation weights are exact. Nearest sampling is vectorized positional
indexing. Longitudes of the points may use either convention.
"""

from __future__ import annotations

import datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from xgenda.grid import _edges, check_grid
from xgenda.regrid.common import LonFrame, from_dataset, is_dask, to_dataset
from xgenda.regrid.regular import pad_periodic_lon

_SAMPLE_METHODS = ("linear", "nearest")


def _seconds_since(values: np.ndarray, reference: Any) -> np.ndarray:
    """Times as float seconds after ``reference`` (datetime64, cftime or plain numbers)."""
    values = np.asarray(values)
    if np.issubdtype(values.dtype, np.datetime64):
        # Subtract in integer nanoseconds before converting: float64 datetimes since 1970
        # lose sub-microsecond precision, differences from a nearby reference do not.
        delta = values.astype("datetime64[ns]") - np.datetime64(reference, "ns")
        out = delta.astype("timedelta64[ns]").astype(np.int64).astype(float) / 1e9
        return np.where(np.isnat(delta), np.nan, out)
    if values.dtype == object:  # cftime dates
        return np.array([np.nan if v is None else (v - reference).total_seconds()
                         for v in values.ravel()]).reshape(values.shape)
    return values.astype(float) - float(reference)


def _tolerance_seconds(tolerance: Any, numeric_time: bool) -> float:
    if tolerance is None:
        return 0.0
    if numeric_time:
        return float(tolerance)
    if isinstance(tolerance, str | datetime.timedelta | np.timedelta64 | pd.Timedelta):
        return pd.Timedelta(tolerance).total_seconds()
    raise TypeError(
        f"time_tolerance must be a duration such as '12h', numpy.timedelta64 or "
        f"datetime.timedelta when time is a date; got {tolerance!r}"
    )


def _check_points(points: Any, need_time: bool) -> None:
    if not isinstance(points, xr.Dataset | xr.DataArray):
        raise TypeError(
            f"points must be an xarray Dataset with dim 'obs' and coords time, lat, lon "
            f"(e.g. xgenda.testing.point_observations), got {type(points).__name__}"
        )
    names = ("time", "lat", "lon") if need_time else ("lat", "lon")
    missing = [n for n in names if n not in points.coords]
    if missing:
        raise ValueError(
            f"points have no {', '.join(map(repr, missing))} coordinate(s); point "
            f"observations need coords {', '.join(names)} along dim 'obs' "
            f"(found coords {sorted(map(str, points.coords))})"
        )
    for n in names:
        if points[n].dims != ("obs",):
            raise ValueError(
                f"points coordinate {n!r} has dims {points[n].dims}; point observations "
                "need 1-D coords along dim 'obs'"
            )


def sample_points(
    obj: xr.Dataset | xr.DataArray,
    points: xr.Dataset | xr.DataArray,
    method: Literal["linear", "nearest"] = "linear",
    time_tolerance: Any = None,
) -> xr.Dataset | xr.DataArray:
    """Values of a gridded field at point observations.

    Parameters
    ----------
    obj : Dataset or DataArray
        Gridded field with dims ``(..., time, lat, lon)`` or ``(..., lat, lon)`` on a
        regular grid (1-D ascending ``lat`` in degrees north, ``lon`` in degrees east).
        May be dask-backed; other dims (e.g. ``member``) are kept.
    points : Dataset or DataArray
        Point observations: dim ``obs`` with coords ``lat``, ``lon`` (degrees; either
        longitude convention) and ``time`` (needed when ``obj`` has a time dim).
    method : {"linear", "nearest"}
        ``linear``: bilinear in lat/lon and linear in time between the grid's time
        steps; ``nearest``: the value of the nearest grid point and nearest time step.
    time_tolerance : str, timedelta or float, optional
        Points up to this long before the first or after the last time step take the
        value of that end step (e.g. ``"12h"`` for daily means stamped at midnight);
        a float in the time coordinate's units when it is numeric. With a single time
        step, points within the tolerance of it take its value. Default: no tolerance.

    Returns
    -------
    Dataset or DataArray
        Same type as ``obj``: its variables on ``(lat, lon)`` sampled along dim ``obs``
        (other dims first), with the points' coordinates (``time``, ``lat``, ``lon`` and
        any other coords along ``obs``) attached; attrs and floating dtypes kept. Lazy
        when ``obj`` is dask-backed.

    Notes
    -----
    Points outside the grid or its time range are NaN: for ``linear`` beyond the
    outermost grid cell centres or time steps, for ``nearest`` beyond the outermost cell
    edges or time steps (widened by ``time_tolerance``). A point next to a NaN (land)
    grid value is NaN with ``linear``.

    Examples
    --------
    >>> import xgenda
    >>> ds = xgenda.testing.ocean_dataset(land=False)
    >>> obs = xgenda.testing.point_observations(ds, n=10)
    >>> ds.genda.sample_points(obs).ssh.dims
    ('obs',)
    """
    if method not in _SAMPLE_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(_SAMPLE_METHODS)}")
    check_grid(obj, what="gridded field")
    ds, name = to_dataset(obj)
    sampled = [v for v, var in ds.data_vars.items() if {"lat", "lon"} <= set(var.dims)]
    if not sampled:
        raise ValueError("nothing to sample: no data variable has both dims ('lat', 'lon')")
    field = ds[sampled]
    has_time = "time" in field.dims
    _check_points(points, need_time=has_time)
    if has_time and "time" not in field.coords:
        raise ValueError("gridded field has a 'time' dim without a 'time' coordinate")
    if has_time and field.sizes["time"] > 1 and not np.all(
            np.diff(_seconds_since(field["time"].values, field["time"].values[0])) > 0):
        raise ValueError("gridded field 'time' is not strictly increasing; sort it first "
                         "(ds.sortby('time'))")

    # Non-index coords on the grid would be sampled too; the points' coords replace them.
    field = field.drop_vars([c for c in field.coords if c not in field.dims])
    # Spatial core dims in one chunk; time may stay chunked (xarray interpolates across).
    field = field.assign({v: field[v].chunk({"lat": -1, "lon": -1}) for v in sampled
                          if is_dask(field[v])})

    lat_edges = _edges(field["lat"].values)
    lon_edges = _edges(field["lon"].values)
    frame = LonFrame.from_edges(lon_edges[0], lon_edges[-1])
    if frame.periodic:
        field = pad_periodic_lon(field)
    plat = np.asarray(points["lat"].values, dtype=float)
    plon = frame.map(np.asarray(points["lon"].values, dtype=float))
    inside = frame.inside(plon) & (plat >= lat_edges[0]) & (plat <= lat_edges[-1])

    indexers: dict[str, np.ndarray] = {"lat": plat, "lon": plon}
    if has_time:
        ftime = field["time"].values
        numeric = not (np.issubdtype(ftime.dtype, np.datetime64) or ftime.dtype == object)
        tol = _tolerance_seconds(time_tolerance, numeric)
        seconds = _seconds_since(ftime, ftime[0])
        ptime = _seconds_since(points["time"].values, ftime[0])
        start, end = seconds[0], seconds[-1]
        inside &= (ptime >= start - tol) & (ptime <= end + tol)
        field = field.assign_coords(time=seconds)
        # Points within the tolerance outside the time range take the end step's value.
        indexers["time"] = np.clip(ptime, start, end)
        if field.sizes["time"] == 1:
            field = field.isel(time=0, drop=True)
            del indexers["time"]

    if method == "linear":
        out = field.interp({k: xr.DataArray(v, dims="obs") for k, v in indexers.items()},
                           method="linear")
    else:
        positions = {}
        for k, v in indexers.items():
            index = pd.Index(field[k].values)
            positions[k] = xr.DataArray(
                index.get_indexer(np.where(np.isfinite(v), v, index[0]), method="nearest"),
                dims="obs")
        out = field.isel(positions)
    out = out.drop_vars([c for c in out.coords if c in ("time", "lat", "lon")])
    if not inside.all():
        out = out.where(xr.DataArray(inside, dims="obs"))

    obs_coords = {c: points.coords[c] for c in points.coords
                  if set(points[c].dims) <= {"obs"}}
    out = out.assign_coords(obs_coords)
    for var_name in sampled:
        src_var = ds[var_name]
        if np.issubdtype(src_var.dtype, np.floating) and out[var_name].dtype != src_var.dtype:
            out[var_name] = out[var_name].astype(src_var.dtype)
        out[var_name].attrs = dict(src_var.attrs)
    out.attrs = dict(ds.attrs)
    return from_dataset(out, obj, name)
