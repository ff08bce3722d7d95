"""Surface drifters: Lagrangian particles advected by the total surface current.

Positions follow ``dlat/dt = v / R`` and ``dlon/dt = u / (R cos lat)`` (radians),
integrated with the classical fourth-order Runge-Kutta scheme; the current is
interpolated bilinearly in space and linearly in time. A drifter that leaves
the domain or runs aground (NaN current) stops; in :func:`drifter_observations`
a new one is then deployed at a random ocean position so that the number of
active drifters stays constant, as a sustained deployment programme does.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from xgenda.grid import EARTH_RADIUS_M, LAT_ATTRS, LON_ATTRS
from xgenda.osse._sampling import (
    POINT_LAT_ATTRS,
    POINT_LON_ATTRS,
    POINT_TIME_ATTRS,
    GriddedTruth,
    to_datetime,
)
from xgenda.variables import VARIABLES

__all__ = ["drifter_observations", "rk4_step", "trajectories"]

_DEG_PER_M = 180.0 / (np.pi * EARTH_RADIUS_M)


def _velocity_deg(field: GriddedTruth, seconds: float, lat: np.ndarray, lon: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Rates of change of (lat, lon) in degrees per second at the given positions."""
    u, v = field.at_time(seconds, lat, lon)
    return v * _DEG_PER_M, u * (_DEG_PER_M / np.cos(np.deg2rad(lat)))


def rk4_step(field: GriddedTruth, seconds: float, lat: np.ndarray, lon: np.ndarray,
             dt: float) -> tuple[np.ndarray, np.ndarray]:
    """One Runge-Kutta 4 step of ``dt`` s from time ``seconds``; NaN where the flow is unknown.

    Parameters
    ----------
    field : GriddedTruth
        Holds ``u`` then ``v`` (m s-1).
    lat, lon : ndarray (drifters,)
        Positions in degrees.
    """
    k1 = _velocity_deg(field, seconds, lat, lon)
    k2 = _velocity_deg(field, seconds + dt / 2, lat + dt / 2 * k1[0], lon + dt / 2 * k1[1])
    k3 = _velocity_deg(field, seconds + dt / 2, lat + dt / 2 * k2[0], lon + dt / 2 * k2[1])
    k4 = _velocity_deg(field, seconds + dt, lat + dt * k3[0], lon + dt * k3[1])
    new_lat = lat + dt / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
    new_lon = lon + dt / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
    return new_lat, new_lon


def trajectories(
    truth: xr.Dataset,
    lat: np.ndarray,
    lon: np.ndarray,
    *,
    hours: float | None = None,
    dt_s: float = 3600.0,
) -> xr.Dataset:
    """Trajectories of particles released at the first time of ``truth``.

    Parameters
    ----------
    truth : Dataset
        Holds ``u`` and ``v`` (m s-1) on (time, lat, lon).
    lat, lon : array-like (drifter,)
        Release positions in degrees.
    hours : float, optional
        Duration in hours (default: the time span of ``truth``).
    dt_s : float
        Time step (s); positions are returned every step.

    Returns
    -------
    Dataset
        ``lat`` and ``lon`` (degrees) on dims (time, drifter); NaN after a particle
        leaves the domain or reaches land.
    """
    field = GriddedTruth(truth, ("u", "v"))
    span = field.span_s if hours is None else min(hours * 3600.0, field.span_s)
    steps = int(np.floor(span / dt_s + 1e-9))
    lat_t = np.full((steps + 1, np.size(lat)), np.nan)
    lon_t = np.full_like(lat_t, np.nan)
    lat_t[0], lon_t[0] = np.asarray(lat, float), np.asarray(lon, float)
    for k in range(steps):
        lat_t[k + 1], lon_t[k + 1] = rk4_step(field, k * dt_s, lat_t[k], lon_t[k], dt_s)
    seconds = np.arange(steps + 1) * dt_s
    return xr.Dataset(
        {"lat": (("time", "drifter"), lat_t, LAT_ATTRS),
         "lon": (("time", "drifter"), lon_t, LON_ATTRS)},
        coords={"time": to_datetime(field.start, seconds)},
    )


def drifter_observations(
    field: GriddedTruth,
    rng: np.random.Generator,
    *,
    n: int = 20,
    dt_s: float = 3600.0,
    velocity_noise: float = 0.02,
    position_noise_m: float = 20.0,
    redeploy: bool = True,
) -> xr.Dataset:
    """Hourly positions and velocities of ``n`` drifters (point observations of u and v).

    Parameters
    ----------
    field : GriddedTruth
        Holds ``u`` then ``v`` (m s-1).
    rng : numpy.random.Generator
        Deployment positions and noise.
    n : int
        Number of active drifters.
    dt_s : float
        Time step of the integration and of the reports (s).
    velocity_noise : float
        Error std of the reported velocities (m s-1).
    position_noise_m : float
        Error std of the reported positions (m), as GPS fixes.
    redeploy : bool
        Replace a drifter that leaves the domain by a new one (new ``drifter_id``).

    Returns
    -------
    Dataset
        ``u``, ``v``, ``u_error``, ``v_error``, ``platform`` along ``obs`` with coords
        ``time``, ``lat``, ``lon`` (reported, noisy) and ``drifter_id``.
    """
    steps = int(np.floor(field.span_s / dt_s + 1e-9))
    lat, lon = _deploy(field, rng, n, 0.0)
    ids = np.arange(n)
    next_id = n
    records: list[tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for k in range(steps + 1):
        t = k * dt_s
        active = np.isfinite(lat)
        uv = field(np.full(int(active.sum()), t), lat[active], lon[active])
        records.append((t, ids[active], lat[active], lon[active], uv))
        if k == steps:
            break
        lat, lon = rk4_step(field, t, lat, lon, dt_s)
        stopped = ~np.isfinite(lat) | ~np.isfinite(lon)
        lat[stopped] = lon[stopped] = np.nan
        if redeploy and stopped.any():
            new_lat, new_lon = _deploy(field, rng, int(stopped.sum()), t + dt_s)
            lat[stopped], lon[stopped] = new_lat, new_lon
            ids = ids.copy()
            ids[stopped] = np.arange(next_id, next_id + stopped.sum())
            next_id += int(stopped.sum())
    seconds = np.concatenate([np.full(r[1].size, r[0]) for r in records])
    drifter = np.concatenate([r[1] for r in records])
    lat_o = np.concatenate([r[2] for r in records])
    lon_o = np.concatenate([r[3] for r in records])
    uv = np.concatenate([r[4] for r in records])
    ok = np.isfinite(uv).all(axis=1)
    seconds, drifter, lat_o, lon_o, uv = (a[ok] for a in (seconds, drifter, lat_o, lon_o, uv))
    size = seconds.size
    u = uv[:, 0] + velocity_noise * rng.standard_normal(size)
    v = uv[:, 1] + velocity_noise * rng.standard_normal(size)
    lat_o = lat_o + position_noise_m * _DEG_PER_M * rng.standard_normal(size)
    lon_o = lon_o + (position_noise_m * _DEG_PER_M * rng.standard_normal(size)
                     / np.cos(np.deg2rad(lat_o)))
    # GPS noise must not push a report out of the domain.
    lat_o = np.clip(lat_o, field.lat[0], field.lat[-1])
    lon_o = np.clip(lon_o, field.lon[0], field.lon[-1])
    err_attrs = {"long_name": "velocity error standard deviation", "units": "m s-1"}
    return xr.Dataset(
        {
            "u": ("obs", u, dict(VARIABLES["u"].attrs)),
            "v": ("obs", v, dict(VARIABLES["v"].attrs)),
            "u_error": ("obs", np.full(size, velocity_noise), err_attrs),
            "v_error": ("obs", np.full(size, velocity_noise), err_attrs),
            "platform": ("obs", np.full(size, "drifter", dtype=object),
                         {"long_name": "platform"}),
        },
        coords={
            "time": ("obs", to_datetime(field.start, seconds), POINT_TIME_ATTRS),
            "lat": ("obs", lat_o, POINT_LAT_ATTRS),
            "lon": ("obs", lon_o, POINT_LON_ATTRS),
            "drifter_id": ("obs", drifter.astype("int64"), {"long_name": "drifter identifier"}),
        },
        attrs={"genda_obs": "points", "title": "simulated surface drifters (hourly)",
               "integration": "RK4, bilinear in space, linear in time",
               "time_step_s": float(dt_s), "velocity_noise_std": float(velocity_noise),
               "position_noise_std_m": float(position_noise_m),
               "active_drifters": int(n)},
    )


def _deploy(field: GriddedTruth, rng: np.random.Generator, n: int, seconds: float
            ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random positions over the ocean, at least one grid cell inside the domain."""
    lat = np.full(n, np.nan)
    lon = np.full(n, np.nan)
    dlat = np.diff(field.lat).mean() if field.lat.size > 1 else 0.0
    dlon = np.diff(field.lon).mean() if field.lon.size > 1 else 0.0
    todo = np.arange(n)
    for _ in range(100):  # rejection sampling of land; a domain without ocean gives up
        if todo.size == 0:
            break
        cand_lat = rng.uniform(field.lat[0] + dlat, field.lat[-1] - dlat, todo.size)
        cand_lon = rng.uniform(field.lon[0] + dlon, field.lon[-1] - dlon, todo.size)
        ok = np.isfinite(field(np.full(todo.size, seconds), cand_lat, cand_lon)).all(axis=1)
        lat[todo[ok]], lon[todo[ok]] = cand_lat[ok], cand_lon[ok]
        todo = todo[~ok]
    return lat, lon
