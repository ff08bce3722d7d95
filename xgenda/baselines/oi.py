"""Optimal interpolation (OI): the DUACS-like reference mapping of the Ocean Data Challenges.

The field is modelled as a Gaussian process with mean ``m`` and space-time covariance

    C(p, q) = s2 * exp(-(dx/Lx)^2 - (dy/Ly)^2 - (dt/Lt)^2)

(the ODC quickstart convention: ``L`` are e-folding scales, with no factor 1/2), where
``dx = R cos(mean lat) dlon`` and ``dy = R dlat`` in km and ``dt`` in days. Observations
``y = x + e`` have errors ``e ~ N(0, Rn)`` with ``Rn = noise * s2 * I`` (``noise`` is the
noise-to-signal variance ratio; ODC: 0.05) or, with ``noise="obs"``, the squared
``<var>_error`` of each observation. Each analysis time ``t`` uses the observations
within ``time_window_days`` of it and returns the exact Gaussian posterior

    mean = m + C_go (C_oo + Rn)^-1 (y - m_o),   var = s2 - diag(C_go (C_oo + Rn)^-1 C_og)

solved with a Cholesky factorization. Prior mean: ``mean="fit"`` (default) uses the
mean of all observations, a number a constant, a DataArray on the template grid a
field (e.g. a mean dynamic topography), sampled at the observations. The prior
variance ``s2`` is by default the variance of the observations about that mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import dask
import dask.array as dsa
import numpy as np
import xarray as xr
from scipy.linalg import cho_factor, cho_solve, solve_triangular

from xgenda._version import __version__
from xgenda.diagnostics._common import check_same_grid
from xgenda.grid import EARTH_RADIUS_M, check_grid, time_blocks
from xgenda.regrid import sample_points
from xgenda.variables import VARIABLES

__all__ = ["optimal_interpolation"]

_GRID_BATCH = 2048  # grid points per covariance block: bounds memory to batch x n_obs


@dataclass(frozen=True)
class _Points:
    """Observations as flat arrays; time in days since the template's first time."""

    t: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    y: np.ndarray
    err: np.ndarray
    prior: np.ndarray  # prior mean at the observations
    s2: float


def optimal_interpolation(
    obs: xr.Dataset | Any,
    template: xr.Dataset | xr.DataArray,
    var: str | None = None,
    *,
    Lx_km: float = 111.0,
    Ly_km: float = 111.0,
    Lt_days: float = 7.0,
    noise: float | Literal["obs"] = 0.05,
    time_window_days: float | None = None,
    mean: Literal["fit"] | float | xr.DataArray = "fit",
    signal_var: float | None = None,
    max_obs: int = 2000,
    seed: int = 0,
    time_chunk: int | None = None,
) -> xr.Dataset:
    """Map observations onto the template's ``time``/``lat``/``lon`` by optimal interpolation.

    Parameters
    ----------
    obs : Dataset
        Point observations (dim ``obs``; coords ``time``, ``lat``, ``lon``; variable
        ``var`` and optionally ``<var>_error``), e.g. nadir SSH, or gridded L3
        observations (dims ``time``, ``lat``, ``lon``; NaN where unobserved), e.g.
        cloudy SST, whose observed pixels are used as points. A DataTree node is accepted.
    template : Dataset or DataArray
        Carries the target ``time``, ``lat``, ``lon``. When it is dask-chunked along
        ``time`` (or ``time_chunk`` is given) the result is lazy with one task per
        time block.
    var : str, optional
        Observed variable (default: the only data variable besides ``*_error``/``platform``).
    Lx_km, Ly_km : float
        Zonal and meridional e-folding scales in km (ODC: 1 degree, ~111 km).
    Lt_days : float
        Temporal e-folding scale in days (ODC: 7).
    noise : float or "obs"
        Observation-error variance as a fraction of the prior variance (ODC: 0.05),
        or ``"obs"`` to use ``<var>_error`` squared.
    time_window_days : float, optional
        Half-width of the window of observations used per analysis time
        (default ``2 * Lt_days``, as in the ODC quickstart).
    mean : "fit", float or DataArray
        Prior mean (see module notes).
    signal_var : float, optional
        Prior variance ``s2`` in squared units of ``var`` (default: fitted).
    max_obs : int
        Cap on observations per analysis time: above it a random subset (seeded by
        ``seed`` and the analysis time) is used, bounding the Cholesky cost at
        ``O(max_obs^3)``; this matters for dense L3 fields.
    seed : int
        Seed of that subsampling.
    time_chunk : int, optional
        Analysis times per dask task (default: the template's time chunks, or an
        eager computation for a numpy-backed template).

    Returns
    -------
    Dataset (time, lat, lon)
        ``<var>`` (analysis, posterior mean) and ``<var>_error`` (posterior standard
        deviation), both in the units of ``var``, with CF attrs.
    """
    obs_ds = _as_dataset(obs)
    var = _pick_var(obs_ds, var)
    if noise == "obs" and f"{var}_error" not in obs_ds.data_vars:
        raise ValueError(f"noise='obs' needs the variable '{var}_error' in the observations")
    if not (isinstance(noise, str) or noise >= 0):
        raise ValueError(f"noise must be >= 0 or 'obs', got {noise!r}")
    for name, value in (("Lx_km", Lx_km), ("Ly_km", Ly_km), ("Lt_days", Lt_days)):
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value!r}")
    check_grid(template, need_time=True, what="template")
    if obs_ds[var].chunks is None:  # dask-backed values are checked where they are read
        _check_values(obs_ds, var, noise)
    window = 2.0 * Lt_days if time_window_days is None else float(time_window_days)
    times = template["time"].values
    t0 = times[0]
    t_days = _days(times, t0)
    # subsampling is seeded by the analysis time itself (s since 1970), not its position
    labels = np.round(_days(times, np.datetime64("1970-01-01", "s") if np.issubdtype(
        np.asarray(times).dtype, np.datetime64) else 0.0) * 86400.0).astype(np.int64)
    lat, lon = template["lat"].values.astype(float), template["lon"].values.astype(float)
    grid_mean = _grid_mean(mean, template)
    params = {"L": (Lx_km, Ly_km, Lt_days), "noise": noise, "window": window,
              "max_obs": int(max_obs), "seed": int(seed)}

    blocks = time_blocks(template, time_chunk)
    if blocks is None:
        pts = _prepare(obs_ds, var, t0, mean, signal_var, noise)
        data = _analyse(t_days, labels, lat, lon, pts, grid_mean, **params)
    else:
        pts_d = dask.delayed(_prepare, pure=True)(obs_ds, var, t0, mean, signal_var, noise)
        parts = []
        start = 0
        for size in blocks:
            sl = slice(start, start + size)
            gm = grid_mean if np.ndim(grid_mean) < 3 else grid_mean[sl]
            task = dask.delayed(_analyse, pure=True)(t_days[sl], labels[sl], lat, lon, pts_d, gm,
                                                    **params)
            parts.append(dsa.from_delayed(task, (2, size, lat.size, lon.size), dtype=float))
            start += size
        data = dsa.concatenate(parts, axis=1)

    attrs = dict(VARIABLES[var].attrs) if var in VARIABLES else {}
    attrs.update({k: v for k, v in obs_ds[var].attrs.items() if k == "units"})
    units = attrs.get("units", "1")
    coords = {c: template[c] for c in ("time", "lat", "lon")}
    error_attrs = {"long_name": f"{var} optimal interpolation error standard deviation",
                   "units": units}
    if "standard_name" in attrs:  # CF standard-name modifier
        error_attrs["standard_name"] = f"{attrs['standard_name']} standard_error"
    out = xr.Dataset(
        {
            var: (("time", "lat", "lon"), data[0], attrs),
            f"{var}_error": (("time", "lat", "lon"), data[1], error_attrs),
        },
        coords=coords,
    )
    out.attrs = {
        "title": f"optimal interpolation of {var}",
        "method": "optimal_interpolation",
        "xgenda_version": __version__,
        "Lx_km": float(Lx_km), "Ly_km": float(Ly_km), "Lt_days": float(Lt_days),
        "noise": str(noise), "time_window_days": window, "max_obs": int(max_obs),
        "prior_mean": mean if isinstance(mean, str) else
        ("field" if isinstance(mean, xr.DataArray) else float(mean)),
        "seed": int(seed),
    }
    return out


# ---------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------
def _as_dataset(obs: Any) -> xr.Dataset:
    if isinstance(obs, xr.Dataset):
        return obs
    if hasattr(obs, "to_dataset"):
        return obs.to_dataset()
    raise TypeError(f"obs must be an observation Dataset, got {type(obs).__name__}")


def _pick_var(obs: xr.Dataset, var: str | None) -> str:
    if var is not None:
        if var not in obs.data_vars:
            raise ValueError(f"observations have no variable {var!r}; found "
                             f"{sorted(map(str, obs.data_vars))}")
        return var
    names = [str(v) for v in obs.data_vars if not str(v).endswith("_error")
             and v != "platform" and np.issubdtype(obs[v].dtype, np.number)]
    if len(names) != 1:
        raise ValueError(f"cannot tell which observed variable to map among {names}; pass var=")
    return names[0]


def _days(values: np.ndarray, t0: Any) -> np.ndarray:
    values = np.asarray(values)
    if np.issubdtype(values.dtype, np.datetime64):
        return (values - np.datetime64(t0)) / np.timedelta64(1, "D")
    return values.astype(float) - float(t0)


def _grid_mean(mean: Any, template: xr.Dataset | xr.DataArray) -> Any:
    """Prior mean on the grid: a float (fit later) or an array (time?, lat, lon)."""
    if isinstance(mean, str):
        if mean != "fit":
            raise ValueError(f"mean must be 'fit', a number or a DataArray, got {mean!r}")
        return np.nan  # replaced by the fitted constant in _analyse
    if isinstance(mean, xr.DataArray):
        extra = set(mean.dims) - {"time", "lat", "lon"}
        if extra or not {"lat", "lon"} <= set(mean.dims):
            raise ValueError(f"a prior-mean field needs dims (lat, lon) or (time, lat, lon); "
                             f"got {mean.dims}")

        check_same_grid(mean, template, names=("prior mean", "template"))
        if "time" in mean.dims:
            mean = mean.interp(time=template["time"])
            return np.asarray(mean.transpose("time", "lat", "lon").values, dtype=float)
        return np.asarray(mean.transpose("lat", "lon").values, dtype=float)
    return float(mean)


def _check_values(obs: xr.Dataset, var: str, noise: Any) -> None:
    """Refuse observations without any finite value, and non-positive errors."""
    values = np.asarray(obs[var].values, dtype=float)
    if values.size and not np.isfinite(values).any():
        raise ValueError(f"the observations of {var!r} are all NaN: there is nothing to "
                         "map; check the selection (time, region) or the fill values")
    name = f"{var}_error"
    if name in obs.data_vars:
        err = np.asarray(obs[name].values, dtype=float)
        bad = np.isfinite(err) & (err <= 0)
        if noise == "obs" and bad.any():
            raise ValueError(f"{name} holds {int(bad.sum())} non-positive error std(s) (e.g. "
                             f"{err[bad].ravel()[0]}); errors must be > 0 with noise='obs'")


def _prepare(obs: xr.Dataset, var: str, t0: Any, mean: Any, signal_var: float | None,
             noise: Any = None) -> _Points:
    """Flatten (point or gridded) observations to arrays and fit the prior."""
    values = obs[var]
    if "obs" in values.dims:
        stacked = values
        err = obs[f"{var}_error"] if f"{var}_error" in obs.data_vars else None
    elif {"time", "lat", "lon"} <= set(values.dims):
        extra = set(values.dims) - {"time", "lat", "lon"}
        if extra:
            raise ValueError(f"gridded observations have extra dims {sorted(map(str, extra))}")
        stacked = values.stack(obs=("time", "lat", "lon")).reset_index("obs")
        err = obs[f"{var}_error"].broadcast_like(values).stack(
            obs=("time", "lat", "lon")).reset_index("obs") \
            if f"{var}_error" in obs.data_vars else None
    else:
        raise ValueError(f"observations of {var!r} have dims {values.dims}: expected point "
                         "observations along 'obs' or a gridded (time, lat, lon) field")
    for c in ("time", "lat", "lon"):
        if c not in stacked.coords:
            raise ValueError(f"observations have no {c!r} coordinate; point observations "
                             "need time, lat, lon")
    _check_values(obs, var, noise)
    y = np.asarray(stacked.values, dtype=float)
    e = np.asarray(err.values, dtype=float) if err is not None else np.zeros_like(y)
    ok = np.isfinite(y) & np.isfinite(e)
    t = _days(stacked["time"].values, t0)[ok]
    lat = np.asarray(stacked["lat"].values, dtype=float)[ok]
    lon = np.asarray(stacked["lon"].values, dtype=float)[ok]
    y, e = y[ok], e[ok]
    if isinstance(mean, xr.DataArray):
        pts = xr.Dataset(coords={"time": ("obs", stacked["time"].values[ok]),
                                 "lat": ("obs", lat), "lon": ("obs", lon)})
        if "time" not in mean.dims:
            pts = pts.drop_vars("time")
        prior = np.asarray(sample_points(mean, pts).values, dtype=float)
    elif isinstance(mean, str):
        prior = np.full(y.shape, float(np.mean(y)) if y.size else 0.0)
    else:
        prior = np.full(y.shape, float(mean))
    anomaly = y - prior
    s2 = float(signal_var) if signal_var is not None else (
        float(np.nanvar(anomaly)) if y.size > 1 else 1.0)
    if not s2 > 0:
        raise ValueError("the prior variance is zero (observations all equal the prior mean); "
                         "pass signal_var=")
    return _Points(t, lat, lon, y, e, prior, s2)


# ---------------------------------------------------------------------------
# the analysis
# ---------------------------------------------------------------------------
def _covariance(t1: np.ndarray, lat1: np.ndarray, lon1: np.ndarray, t2: np.ndarray,
                lat2: np.ndarray, lon2: np.ndarray, L: tuple[float, float, float],
                s2: float) -> np.ndarray:
    # built in place: these (n_grid x n_obs) arrays dominate the cost besides the solves
    r_rad = EARTH_RADIUS_M / 1000.0 * np.pi / 180.0  # km per degree
    dlon = np.subtract.outer(lon1, lon2)
    if dlon.size and np.abs(dlon).max() > 180.0:  # only when the pair straddles the dateline
        dlon = (dlon + 180.0) % 360.0 - 180.0
    mean_lat = np.add.outer(lat1, lat2)
    mean_lat *= np.pi / 360.0
    np.cos(mean_lat, out=mean_lat)
    dlon *= mean_lat
    dlon *= r_rad / L[0]
    out = np.square(dlon, out=dlon)
    dy = np.subtract.outer(lat1, lat2)
    dy *= r_rad / L[1]
    out += np.square(dy, out=dy)
    dt = np.subtract.outer(t1, t2)
    dt /= L[2]
    out += np.square(dt, out=dt)
    np.negative(out, out=out)
    np.exp(out, out=out)
    out *= s2
    return out


def _analyse(t_days: np.ndarray, labels: np.ndarray, lat: np.ndarray, lon: np.ndarray, pts: _Points,
             grid_mean: Any, *, L: tuple[float, float, float], noise: float | str,
             window: float, max_obs: int, seed: int) -> np.ndarray:
    """Posterior mean and std on the grid at each of ``t_days``: array (2, nt, ny, nx)."""
    glat, glon = (a.ravel() for a in np.meshgrid(lat, lon, indexing="ij"))
    out = np.empty((2, t_days.size, lat.size * lon.size))
    fitted = float(pts.prior[0]) if pts.prior.size else 0.0
    for i, t in enumerate(t_days):
        if np.ndim(grid_mean) == 0:
            prior = np.full(glat.size, fitted if np.isnan(grid_mean) else float(grid_mean))
        else:
            prior = np.asarray(grid_mean if np.ndim(grid_mean) == 2 else grid_mean[i]).ravel()
        sel = np.flatnonzero(np.abs(pts.t - t) <= window)
        if sel.size > max_obs:
            rng = np.random.default_rng([seed, int(labels[i]) & 0x7FFFFFFFFFFF])
            sel = np.sort(rng.choice(sel, size=max_obs, replace=False))
        if sel.size == 0:
            out[0, i], out[1, i] = prior, np.sqrt(pts.s2)
            continue
        to, lao, loo = pts.t[sel], pts.lat[sel], pts.lon[sel]
        c_oo = _covariance(to, lao, loo, to, lao, loo, L, pts.s2)
        r = pts.err[sel] ** 2 if noise == "obs" else np.full(sel.size, float(noise) * pts.s2)
        c_oo[np.diag_indices_from(c_oo)] += r
        chol = cho_factor(c_oo, lower=True)
        alpha = cho_solve(chol, pts.y[sel] - pts.prior[sel])
        for b in range(0, glat.size, _GRID_BATCH):
            gs = slice(b, b + _GRID_BATCH)
            c_go = _covariance(np.full(glat[gs].size, t), glat[gs], glon[gs], to, lao, loo, L,
                               pts.s2)
            out[0, i, gs] = prior[gs] + c_go @ alpha
            v = solve_triangular(chol[0], c_go.T, lower=True)
            out[1, i, gs] = np.sqrt(np.clip(pts.s2 - np.einsum("ij,ij->j", v, v), 0.0, None))
    return out.reshape(2, t_days.size, lat.size, lon.size)
