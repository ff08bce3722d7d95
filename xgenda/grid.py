"""Grids: construction, validation, metrics (dx, dy in metres), lon/lat conventions.

Every other module checks its inputs with :func:`check_grid` and takes its metric
terms from :func:`metrics`, so the conventions live in one place:
1-D ``lat`` (ascending, degrees north) and ``lon`` (degrees east in [-180, 180)).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

EARTH_RADIUS_M = 6_371_000.0
"""Mean Earth radius (m)."""
OMEGA = 7.2921159e-5
"""Earth's rotation rate (rad s-1)."""
GRAVITY = 9.81
"""Gravitational acceleration (m s-2)."""

LAT_ATTRS = {"standard_name": "latitude", "long_name": "latitude", "units": "degrees_north",
             "axis": "Y"}
LON_ATTRS = {"standard_name": "longitude", "long_name": "longitude", "units": "degrees_east",
             "axis": "X"}
TIME_ATTRS = {"standard_name": "time", "long_name": "time", "axis": "T"}


def regular(
    lon: tuple[float, float] = (-65.0, -55.0),
    lat: tuple[float, float] = (33.0, 43.0),
    res_deg: float | tuple[float, float] = 1.0 / 12.0,
    time: Sequence | np.ndarray | xr.DataArray | None = None,
) -> xr.Dataset:
    """A regular lat/lon grid as an empty Dataset with CF coordinates.

    Cell centres start half a cell inside the box, so ``(w, e)`` and ``(s, n)``
    are cell edges.

    Parameters
    ----------
    lon, lat : (float, float)
        West/east and south/north edges in degrees.
    res_deg : float or (float, float)
        Grid spacing in degrees (one value, or ``(dlon, dlat)``).
    time : array-like, optional
        Values of a ``time`` coordinate to attach (e.g. ``pandas.date_range``).

    Examples
    --------
    >>> g = regular(lon=(-65, -55), lat=(33, 43), res_deg=1 / 12)
    >>> g.sizes["lat"], g.sizes["lon"]
    (120, 120)
    """
    dlon, dlat = (res_deg, res_deg) if np.isscalar(res_deg) else res_deg  # type: ignore[misc]
    if dlon <= 0 or dlat <= 0:
        raise ValueError(f"res_deg must be positive, got {res_deg!r}")
    (w, e), (s, n) = lon, lat
    if not (e > w and n > s):
        raise ValueError(
            f"grid box is empty: lon={lon}, lat={lat}; give (west, east) and (south, north) "
            "with west < east and south < north"
        )
    if s < -90 or n > 90:
        raise ValueError(f"lat edges must lie in [-90, 90], got {lat}")
    nlon = round((e - w) / dlon)
    nlat = round((n - s) / dlat)
    lons = w + dlon * (np.arange(nlon) + 0.5)
    lats = s + dlat * (np.arange(nlat) + 0.5)
    coords: dict[str, xr.DataArray] = {
        "lat": xr.DataArray(lats, dims="lat", attrs=LAT_ATTRS),
        "lon": xr.DataArray(wrap_lon(lons), dims="lon", attrs=LON_ATTRS),
    }
    if time is not None:
        coords["time"] = xr.DataArray(np.asarray(time), dims="time", attrs=TIME_ATTRS)
    return xr.Dataset(coords=coords)


def wrap_lon(lon: np.ndarray) -> np.ndarray:
    """Longitudes wrapped into [-180, 180)."""
    return (np.asarray(lon, dtype=float) + 180.0) % 360.0 - 180.0


def check_grid(
    obj: xr.Dataset | xr.DataArray, *, need_time: bool = False, what: str = "dataset"
) -> None:
    """Raise a clear error unless ``obj`` has 1-D ascending ``lat`` and ``lon`` (and ``time``).

    Parameters
    ----------
    obj : Dataset or DataArray
        Object to check.
    need_time : bool
        Also require a ``time`` coordinate.
    what : str
        How to name ``obj`` in the error message.
    """
    for name in ("lat", "lon") + (("time",) if need_time else ()):
        if name not in obj.coords:
            hint = " (run .genda.standardize() to rename latitude/longitude/nav_lat...)" \
                if name != "time" else ""
            raise ValueError(f"{what} has no {name!r} coordinate{hint}; "
                             f"found coords {sorted(map(str, obj.coords))}")
    for name in ("lat", "lon"):
        c = obj[name]
        if c.ndim != 1 or c.dims != (name,):
            raise ValueError(
                f"{what} has a {c.ndim}-D {name!r} coordinate with dims {c.dims}; a regular "
                f"grid needs 1-D {name!r} along dim {name!r} (regrid curvilinear data first: "
                ".genda.regrid(xgenda.grid.regular(...)))"
            )
        v = np.asarray(c.values, dtype=float)
        if v.size > 1 and not np.all(np.diff(v) > 0):
            raise ValueError(
                f"{what} coordinate {name!r} is not strictly increasing; sort it first "
                f"(ds.sortby({name!r})) or run .genda.standardize()"
            )


def spacing_deg(obj: xr.Dataset | xr.DataArray) -> tuple[float, float]:
    """Mean grid spacing ``(dlon, dlat)`` in degrees of a regular grid."""
    check_grid(obj)
    lon, lat = obj["lon"].values, obj["lat"].values
    if lon.size < 2 or lat.size < 2:
        raise ValueError("grid needs at least 2 points along lat and lon to have a spacing")
    return float(np.mean(np.diff(lon))), float(np.mean(np.diff(lat)))


def metrics(obj: xr.Dataset | xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """Local grid spacings ``dx`` (along lon, depends on lat) and ``dy`` in metres.

    Returns
    -------
    dx : DataArray (lat,)
        ``R cos(lat) dlon`` in m.
    dy : DataArray (lat,)
        ``R dlat`` in m (centred differences of the coordinate).
    """
    check_grid(obj)
    lat = obj["lat"]
    dlon = np.deg2rad(np.gradient(obj["lon"].values)).mean() if obj.sizes["lon"] > 1 else np.nan
    dlat = np.deg2rad(np.gradient(lat.values)) if lat.size > 1 else np.array([np.nan])
    dx = EARTH_RADIUS_M * np.cos(np.deg2rad(lat)) * dlon
    dy = xr.DataArray(EARTH_RADIUS_M * dlat, dims="lat", coords={"lat": lat})
    dx.attrs = {"long_name": "zonal grid spacing", "units": "m"}
    dy.attrs = {"long_name": "meridional grid spacing", "units": "m"}
    return dx, dy


def mean_spacing_km(obj: xr.Dataset | xr.DataArray) -> tuple[float, float]:
    """Domain-mean ``(dx, dy)`` in km: the spacing used for spectra and km-scale kernels."""
    dx, dy = metrics(obj)
    return float(dx.mean()) / 1000.0, float(dy.mean()) / 1000.0


def coriolis(lat: xr.DataArray | np.ndarray) -> xr.DataArray | np.ndarray:
    """Coriolis parameter ``f = 2 Omega sin(lat)`` in s-1."""
    f = 2.0 * OMEGA * np.sin(np.deg2rad(lat))
    if isinstance(f, xr.DataArray):
        f.attrs = {"long_name": "Coriolis parameter", "units": "s-1"}
    return f


def cell_area(obj: xr.Dataset | xr.DataArray) -> xr.DataArray:
    """Area of each cell of a regular grid in m^2 (exact on the sphere), dims (lat, lon)."""
    check_grid(obj)
    lat, lon = obj["lat"].values, obj["lon"].values
    lat_e = _edges(lat)
    lon_e = _edges(lon)
    band = np.abs(np.diff(np.sin(np.deg2rad(np.clip(lat_e, -90, 90)))))
    width = np.deg2rad(np.diff(lon_e))
    area = EARTH_RADIUS_M**2 * np.outer(band, width)
    return xr.DataArray(area, dims=("lat", "lon"), coords={"lat": obj["lat"], "lon": obj["lon"]},
                        attrs={"long_name": "cell area", "units": "m2"})


def time_blocks(
    obj: xr.Dataset | xr.DataArray, time_chunk: int | None = None
) -> tuple[int, ...] | None:
    """Lengths of the blocks of analysis times a lazy computation runs over.

    ``time_chunk`` when given, else the ``time`` chunks of a dask-backed ``obj``,
    else ``None`` (not chunked along time: the caller decides).
    """
    nt = obj.sizes["time"]
    if time_chunk is not None:
        if int(time_chunk) < 1:
            raise ValueError(f"time_chunk must be >= 1, got {time_chunk}")
        step = int(time_chunk)
        return tuple(min(step, nt - s) for s in range(0, nt, step))
    chunks = obj.chunksizes
    return tuple(int(c) for c in chunks["time"]) if "time" in chunks else None


def _edges(centres: np.ndarray) -> np.ndarray:
    c = np.asarray(centres, dtype=float)
    if c.size == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mid = 0.5 * (c[1:] + c[:-1])
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])


def select_time_range(obj: xr.Dataset, time_range: Any, *, what: str = "the data"
                      ) -> xr.Dataset:
    """``obj`` restricted to ``time_range``: ``(start, end)`` (inclusive) or a slice.

    ``None`` returns ``obj``. Raises a ValueError naming ``what`` when it has no
    ``time`` dim, the range is malformed, or it selects no time step.
    """
    if time_range is None:
        return obj
    if "time" not in obj.dims:
        raise ValueError(f"time_range={time_range!r} was given but {what} has no 'time' dim "
                         f"(dims {sorted(map(str, obj.dims))})")
    if isinstance(time_range, slice):
        window = time_range
    else:
        try:
            start, end = time_range
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"time_range must be (start, end), e.g. ('2020-01-01', '2020-12-31'), or a "
                f"slice; got {time_range!r}") from err
        window = slice(start, end)
    out = obj.sel(time=window)
    if out.sizes["time"] == 0:
        times = obj.indexes["time"]
        span = f"{times.min()} .. {times.max()}" if len(times) else "no time"
        raise ValueError(f"time_range {time_range!r} selects no time step of {what}, which "
                         f"spans {span}")
    return out
