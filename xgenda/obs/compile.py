"""Compile observation sets onto the analysis grid: one :class:`ObservationTable` per time.

Everything here is NumPy: tables are small and picklable, so a dask task can
carry the observations of its own block. Torch enters only in
:class:`~xgenda.obs.operators.ObservationOperator`, which turns tables into a
differentiable operator in normalized units.

Rules (DESIGN.md conventions):

- point observations are interpolated bilinearly at their exact positions and
  used for the analysis times whose window ``[t - w, t + w)`` holds their time;
- gridded and smoothed products are regridded bilinearly to the analysis grid when
  on another grid; each product time inside the window is compared pixel by pixel
  (smoothed: with the blurred state);
- observations outside the grid's extent or every window are dropped (and counted
  by :func:`route`); NaN values or errors are ignored; nothing that touches a land
  pixel (a bilinear stencil with weight on land, a land pixel of a product) is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import xarray as xr

from xgenda.obs.collect import ObservationSet, to_days
from xgenda.obs.table import DERIVED, ObservationTable

__all__ = ["AnalysisGrid", "compile_tables", "route", "subset_for_times"]


@dataclass(frozen=True)
class AnalysisGrid:
    """The grid observations are compiled onto.

    Attributes
    ----------
    lat, lon : ndarray (H,), (W,)
        Ascending cell-centre coordinates (degrees).
    land : ndarray (H, W) bool
        True where the state is never observed and stays NaN.
    variables : tuple of str
        Channel order of the state.
    spacing_km : (float, float)
        Mean ``(dx, dy)`` in km (converts blur scales to pixels).
    """

    lat: np.ndarray
    lon: np.ndarray
    land: np.ndarray
    variables: tuple[str, ...]
    spacing_km: tuple[float, float]

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.lat.size), int(self.lon.size)

    @classmethod
    def from_coords(cls, lat: Any, lon: Any, variables: Sequence[str],
                    land: np.ndarray | None = None) -> AnalysisGrid:
        """Grid from 1-D ``lat``/``lon`` (degrees) and an optional land mask (True = land)."""
        from xgenda.grid import mean_spacing_km

        lat = np.asarray(lat, dtype=np.float64)
        lon = np.asarray(lon, dtype=np.float64)
        if lat.size < 2 or lon.size < 2:
            raise ValueError(f"the analysis grid needs at least 2 points along lat and lon, "
                             f"got {lat.size} x {lon.size}")
        like = xr.Dataset(coords={"lat": ("lat", lat), "lon": ("lon", lon)})
        dx, dy = mean_spacing_km(like)
        land = np.zeros((lat.size, lon.size), bool) if land is None else \
            np.asarray(land, dtype=bool)
        if land.shape != (lat.size, lon.size):
            raise ValueError(f"land mask shape {land.shape} does not match the grid "
                             f"({lat.size}, {lon.size})")
        return cls(lat, lon, land, tuple(variables), (dx, dy))

    def channel(self, variable: str) -> tuple[int, int]:
        """``(channel, derived)`` of an observed variable (see :class:`ObservationTable`).

        A channel of the state gives ``(its position, -1)``; the total current ``u``
        (``v``) of a decomposed state (channels ``ssh``, ``u_res``, ``v_res``) gives the
        position of ``u_res`` (``v_res``) and its position in :data:`DERIVED`.
        """
        if variable in self.variables:
            return self.variables.index(variable), -1
        if variable in DERIVED and {"ssh", f"{variable}_res"} <= set(self.variables):
            return self.variables.index(f"{variable}_res"), DERIVED.index(variable)
        raise ValueError(f"the state ({list(self.variables)}) cannot be compared with "
                         f"observations of {variable!r}")

    def coords_dataset(self) -> xr.Dataset:
        from xgenda.grid import LAT_ATTRS, LON_ATTRS

        return xr.Dataset(coords={"lat": ("lat", self.lat, LAT_ATTRS),
                                  "lon": ("lon", self.lon, LON_ATTRS)})

    def contains(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """True for positions inside the grid's cell-centre hull (bilinear is defined)."""
        from xgenda.grid import wrap_lon

        lon = wrap_lon(lon)
        return (lat >= self.lat[0]) & (lat <= self.lat[-1]) & \
            (lon >= self.lon[0]) & (lon <= self.lon[-1])


def _window(s: ObservationSet, default: float) -> float:
    return float(default if s.time_window is None else s.time_window)


def route(sets: Sequence[ObservationSet], times: Any, grid: AnalysisGrid,
          time_window: float) -> tuple[list[ObservationSet], list[dict[str, Any]]]:
    """Drop what no analysis can use, and count it.

    Parameters
    ----------
    sets : sequence of ObservationSet
        Validated sets (:func:`~xgenda.obs.collect.collect`).
    times : array-like (T,)
        Analysis times.
    grid : AnalysisGrid
    time_window : float
        Default half-width of the time window (days).

    Returns
    -------
    sets : list of ObservationSet
        Point sets restricted to the observations inside the grid and some window
        (coordinates are read; values stay lazy); gridded sets restricted to product
        times inside some window.
    summary : list of dict
        Per set: ``name``, ``kind``, ``variables``, ``count`` (observations, or product
        cells for gridded sets), ``outside_time``, ``outside_domain``, ``kept`` and
        ``nan`` (NaN values among the kept point observations; -1 for gridded sets and
        dask-backed data), ``used`` (kept observations, or in-domain cells, that are not
        NaN in every variable; NaN are not detected in dask-backed data).
    """
    days = np.sort(to_days(times))
    out, summary = [], []
    for s in sets:
        w = _window(s, time_window)
        info: dict[str, Any] = {"name": s.name, "kind": s.kind, "variables": list(s.variables)}
        if s.kind == "smoothed":
            info["sigma_km"] = s.sigma_km
            if "window_days" in s.data.attrs:
                info["window_days"] = float(s.data.attrs["window_days"])
        if s.kind == "points":
            d = to_days(s.data["time"].values)
            in_time = _in_any_window(d, days, w)
            in_space = grid.contains(np.asarray(s.data["lat"].values, dtype=float),
                                     np.asarray(s.data["lon"].values, dtype=float))
            keep = np.flatnonzero(in_time & in_space)
            info.update(count=int(d.size), outside_time=int((~in_time).sum()),
                        outside_domain=int((in_time & ~in_space).sum()))
            sub = s.data.isel(obs=keep)
        else:
            d = to_days(s.data["time"].values)
            in_time = _in_any_window(d, days, w)
            lat = np.asarray(s.data["lat"].values, dtype=float)
            lon = np.asarray(s.data["lon"].values, dtype=float)
            inside = np.outer((lat >= grid.lat[0]) & (lat <= grid.lat[-1]),
                              (lon >= grid.lon[0]) & (lon <= grid.lon[-1]))
            cells = lat.size * lon.size
            info.update(count=int(d.size * cells), outside_time=int((~in_time).sum() * cells),
                        outside_domain=int(in_time.sum() * (cells - inside.sum())))
            sub = s.data.isel(time=np.flatnonzero(in_time))
            info["kept"] = int(in_time.sum() * inside.sum())
        if s.kind == "points":
            info["kept"] = int(keep.size)
        # NaN in gridded products are their gaps (clouds): counted for points only
        info["nan"] = _nan_count(sub, s.variables) if s.kind == "points" else -1
        # kept values that are NaN in every variable are never used
        info["used"] = info["kept"] - _unusable(sub, s.variables, None if s.kind == "points"
                                                else inside)
        summary.append(info)
        out.append(replace(s, data=sub))
    return out, summary


def _nan_count(ds: xr.Dataset, variables: Sequence[str]) -> int:
    if any(ds[v].chunks is not None for v in variables):
        return -1
    return int(sum(np.isnan(np.asarray(ds[v].values, dtype=float)).sum() for v in variables))


def _unusable(ds: xr.Dataset, variables: Sequence[str], inside: np.ndarray | None) -> int:
    """Observations (points) or in-domain cells (grids) NaN in every variable; 0 if lazy."""
    if any(ds[v].chunks is not None for v in variables):
        return 0
    finite = None
    for v in variables:
        da = ds[v]
        if inside is not None:
            da = da.transpose(..., "lat", "lon")
        ok = np.isfinite(np.asarray(da.values, dtype=float))
        finite = ok if finite is None else finite | ok
    if finite is None:
        return 0
    if inside is not None:
        return int((~finite & inside).sum())
    return int((~finite).sum())


def _in_any_window(d: np.ndarray, days: np.ndarray, w: float) -> np.ndarray:
    """For each observation time ``d``, whether some analysis time ``t`` has t-w <= d < t+w."""
    if days.size == 0:
        return np.zeros(d.shape, bool)
    # the nearest analysis time at or above d - w... must be < d + w... checked both sides
    pos = np.searchsorted(days, d - w, side="right")  # first t > d - w
    ok = np.zeros(d.shape, bool)
    for shift in (0, -1):
        k = np.clip(pos + shift, 0, days.size - 1)
        t = days[k]
        ok |= (t - w <= d) & (d < t + w)
    return ok


def subset_for_times(sets: Sequence[ObservationSet], times: Any,
                     time_window: float) -> list[ObservationSet]:
    """The observations some analysis time in ``times`` can use (coordinates are read)."""
    days = np.sort(to_days(times))
    out = []
    for s in sets:
        w = _window(s, time_window)
        d = to_days(s.data["time"].values)
        keep = np.flatnonzero(_in_any_window(d, days, w))
        dim = "obs" if s.kind == "points" else "time"
        out.append(replace(s, data=s.data.isel({dim: keep})))
    return out


def compile_tables(sets: Sequence[ObservationSet], grid: AnalysisGrid, times: Any,
                   time_window: float) -> list[ObservationTable]:
    """One :class:`ObservationTable` per analysis time (values in canonical units).

    Parameters
    ----------
    sets : sequence of ObservationSet
        Validated (and routed) sets; their data are read here.
    grid : AnalysisGrid
    times : array-like (T,)
        Analysis times.
    time_window : float
        Default half-width of the window (days).
    """
    days = to_days(times)
    per_time: list[list[ObservationTable]] = [[] for _ in days]
    for s in sets:
        for v in s.variables:
            if s.kind == "points":
                tables = _compile_points(s, v, grid, days, _window(s, time_window))
            else:
                tables = _compile_gridded(s, v, grid, days, _window(s, time_window))
            for k, t in enumerate(tables):
                if len(t):
                    per_time[k].append(_error_model(s, t, grid, v))
    return [ObservationTable.concat(ts) for ts in per_time]


def correlated_error_inflation(length_km: float, dx_km: float, dy_km: float) -> float:
    """Factor on the error std of a gridded product whose errors are correlated.

    For errors of variance ``e^2`` and correlation ``exp(-r^2 / L^2)`` on a grid of
    spacing ``dx``, ``dy``, the sum of the correlations of one pixel with all others,
    ``f = sum_ij exp(-((i dx)^2 + (j dy)^2) / L^2)`` (about ``pi L^2 / (dx dy)``), is
    the number of pixels one independent error covers. A uniform (or large-scale)
    signal is an eigenvector of the correlated ``R`` with eigenvalue ``f e^2``: treating
    the errors as white with variance ``f e^2`` gives it exactly the weight the
    correlated ``R`` gives it. Returns ``sqrt(f)`` (>= 1).

    Parameters
    ----------
    length_km : float
        Correlation length L (km).
    dx_km, dy_km : float
        Grid spacing (km).
    """
    if not (length_km > 0 and dx_km > 0 and dy_km > 0):
        raise ValueError(f"correlation length and grid spacing must be > 0 km, got "
                         f"{length_km}, {dx_km}, {dy_km}")
    ni = int(np.ceil(6 * length_km / dy_km))
    nj = int(np.ceil(6 * length_km / dx_km))
    i = np.arange(-ni, ni + 1)[:, None] * dy_km
    j = np.arange(-nj, nj + 1)[None, :] * dx_km
    return float(np.sqrt(np.exp(-(i**2 + j**2) / length_km**2).sum()))


def _error_model(s: ObservationSet, t: ObservationTable, grid: AnalysisGrid,
                 v: str) -> ObservationTable:
    """Errors of a compiled table of variable ``v`` with the set's error model applied
    (physical units)."""
    factor = 1.0 if s.error_inflation is None else float(s.error_inflation)
    if s.error_correlation_km:  # None or 0: white errors
        dx, dy = grid.spacing_km
        factor *= correlated_error_inflation(float(s.error_correlation_km), dx, dy)
    growth = float(s.time_error_growth) if s.time_error_growth is not None else \
        float(s.kind_error_growth.get(v, 0.0))
    if factor == 1.0 and growth == 0.0:
        return t
    # a product averaged over a time window (std window_days, the L4 time blur) differs
    # from the state of one day even at dt = 0: its time distance is the spread of the
    # window about the analysis time, sqrt(dt^2 + window_days^2)
    blur = float(s.data.attrs.get("window_days", 0.0)) if s.kind == "smoothed" else 0.0
    distance = np.hypot(t.dt_days, blur)
    error = np.sqrt((t.error * factor) ** 2 + (growth * distance) ** 2)
    return replace(t, error=error)


def _values_and_errors(s: ObservationSet, v: str,
                       ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    da = ds[v]
    values = np.asarray(da.values, dtype=np.float64) * s.scale[v] + s.offset[v]
    name = f"{v}_error"
    if name in ds and ds[name].ndim:
        errors = np.asarray(ds[name].broadcast_like(da).transpose(*da.dims).values,
                            dtype=np.float64)
    else:
        scalar = ds[name].values if name in ds else \
            da.attrs.get("error", ds.attrs.get("error", np.nan))
        errors = np.full(values.shape, float(scalar))
    return values, np.abs(errors) * s.error_scale[v]


def _compile_points(s: ObservationSet, v: str, grid: AnalysisGrid, days: np.ndarray,
                    w: float) -> list[ObservationTable]:
    from xgenda.grid import wrap_lon

    ds = s.data
    lat = np.asarray(ds["lat"].values, dtype=np.float64)
    lon = wrap_lon(np.asarray(ds["lon"].values, dtype=np.float64))
    d = to_days(ds["time"].values)
    values, errors = _values_and_errors(s, v, ds)
    height, width = grid.shape
    fi = np.interp(lat, grid.lat, np.arange(height))
    fj = np.interp(lon, grid.lon, np.arange(width))
    i0 = np.clip(np.floor(fi).astype(np.int64), 0, height - 2)
    j0 = np.clip(np.floor(fj).astype(np.int64), 0, width - 2)
    di, dj = fi - i0, fj - j0
    index = np.stack([i0 * width + j0, i0 * width + j0 + 1,
                      (i0 + 1) * width + j0, (i0 + 1) * width + j0 + 1], axis=1)
    weight = np.stack([(1 - di) * (1 - dj), (1 - di) * dj, di * (1 - dj), di * dj], axis=1)
    on_land = (grid.land.reshape(-1)[index] & (weight > 1e-12)).any(axis=1)
    usable = grid.contains(lat, lon) & ~on_land & np.isfinite(values) & \
        np.isfinite(errors) & (errors > 0)
    channel, derived = grid.channel(v)
    tables = []
    for t in days:
        rows = usable & (t - w <= d) & (d < t + w)
        n = int(rows.sum())
        tables.append(ObservationTable(
            channel=np.full(n, channel, np.int64), blur=np.full(n, -1, np.int64), blurs=[],
            derived=np.full(n, derived, np.int64),
            index=index[rows], weight=weight[rows], value=values[rows], error=errors[rows],
            dt_days=d[rows] - t, source=np.zeros(n, np.int64), names=[s.name]))
    return tables


def _on_grid(ds: xr.Dataset, grid: AnalysisGrid) -> bool:
    lat, lon = np.asarray(ds["lat"].values, float), np.asarray(ds["lon"].values, float)
    if lat.shape != grid.lat.shape or lon.shape != grid.lon.shape:
        return False
    tol = 1e-6 * max(abs(grid.lat[1] - grid.lat[0]), abs(grid.lon[1] - grid.lon[0]))
    return bool(np.allclose(lat, grid.lat, atol=tol, rtol=0)
                and np.allclose(lon, grid.lon, atol=tol, rtol=0))


def _compile_gridded(s: ObservationSet, v: str, grid: AnalysisGrid, days: np.ndarray,
                     w: float) -> list[ObservationTable]:
    names = [v] + ([f"{v}_error"] if f"{v}_error" in s.data else [])
    ds = s.data[names]
    ds = ds.transpose("time", "lat", "lon", ...) if "time" in ds[v].dims else ds
    if ds.sizes.get("time", 0) == 0:
        return [ObservationTable() for _ in days]
    if not _on_grid(ds, grid):
        from xgenda.regrid import regrid

        ds = regrid(ds, grid.coords_dataset(), method="bilinear")
    values, errors = _values_and_errors(s, v, ds)
    if values.ndim == 2:
        values, errors = values[None], errors[None]
    d = to_days(ds["time"].values)
    channel, derived = grid.channel(v)
    if s.kind == "smoothed" and derived >= 0:
        raise ValueError(f"smoothed observations {s.name!r} of the total current {v!r} "
                         "cannot be compared with a prior of the decomposed state; give "
                         "them as 'grid' observations or leave them out")
    if s.kind == "smoothed":
        dx, dy = grid.spacing_km
        sigma_km = float(s.sigma_km or 0.0)
        blurs = [(sigma_km / dy, sigma_km / dx)]
        blur = 0
    else:
        blurs, blur = [], -1
    usable = np.isfinite(values) & np.isfinite(errors) & (errors > 0) & ~grid.land[None]
    tables = []
    for t in days:
        sel = np.flatnonzero((t - w <= d) & (d < t + w))
        parts_idx, parts_val, parts_err, parts_dt = [], [], [], []
        for k in sel:
            pix = np.flatnonzero(usable[k].reshape(-1))
            parts_idx.append(pix)
            parts_val.append(values[k].reshape(-1)[pix])
            parts_err.append(errors[k].reshape(-1)[pix])
            parts_dt.append(np.full(pix.size, d[k] - t))
        pix = np.concatenate(parts_idx) if parts_idx else np.zeros(0, np.int64)
        n = pix.size
        index = np.zeros((n, 4), np.int64)
        index[:, 0] = pix
        weight = np.zeros((n, 4))
        weight[:, 0] = 1.0
        tables.append(ObservationTable(
            channel=np.full(n, channel, np.int64), blur=np.full(n, blur, np.int64),
            blurs=list(blurs), derived=np.full(n, derived, np.int64), index=index,
            weight=weight,
            value=np.concatenate(parts_val) if n else np.zeros(0),
            error=np.concatenate(parts_err) if n else np.zeros(0),
            dt_days=np.concatenate(parts_dt) if n else np.zeros(0),
            source=np.zeros(n, np.int64), names=[s.name]))
    return tables
