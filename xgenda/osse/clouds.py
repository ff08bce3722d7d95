"""Cloud masks and cloudy L3 SST.

Clouds are the high values of a smooth random field that drifts with the
weather and evolves over a few days (:func:`evolving_field`, Matern-like so
cloud edges are ragged). Each day the threshold is the quantile that makes the
cloudy fraction of ocean pixels equal the requested cover, so the statistics are
exact while the masks stay correlated from one day to the next, as real
infrared SST gaps are.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import xarray as xr

from xgenda.grid import mean_spacing_km
from xgenda.osse._random_fields import evolving_field
from xgenda.osse._sampling import time_step_days
from xgenda.variables import VARIABLES

__all__ = ["cloud_masks", "l3_observations"]


def cloud_masks(
    ocean: np.ndarray,
    cover: float,
    dx_km: float,
    dy_km: float,
    rng: np.random.Generator,
    *,
    scale_km: float = 200.0,
    speed_km_day: float = 50.0,
    lifetime_days: float = 4.0,
    dt_days: float = 1.0,
) -> np.ndarray:
    """Boolean cloud masks (True = cloudy), array (time, lat, lon).

    Parameters
    ----------
    ocean : ndarray of bool (time, lat, lon)
        Pixels that can be observed (False on land); the cloud fraction is over these.
    cover : float
        Fraction of ocean pixels that are cloudy each day, in [0, 1].
    dx_km, dy_km : float
        Grid spacing in km.
    rng : numpy.random.Generator
        Source of randomness (pattern and drift direction).
    scale_km : float
        Size of cloud systems (correlation length of the underlying field).
    speed_km_day : float
        Drift speed of the cloud pattern; the direction is mostly eastward
        (westerlies), drawn once from ``rng``.
    lifetime_days : float
        e-folding time over which the pattern renews itself.
    dt_days : float
        Time between consecutive masks.
    """
    if not 0.0 <= cover <= 1.0:
        raise ValueError(f"cloud cover must be a fraction in [0, 1], got {cover}")
    nt, ny, nx = ocean.shape
    direction = rng.normal(0.0, np.deg2rad(30.0))
    velocity = (speed_km_day * np.cos(direction), speed_km_day * np.sin(direction))
    field = evolving_field(nt, ny, nx, dx_km, dy_km, rng, length_km=scale_km,
                           lifetime_days=lifetime_days, velocity_km_day=velocity,
                           dt_days=dt_days, spectrum="matern")
    cloudy = np.zeros(ocean.shape, dtype=bool)
    for t in range(nt):
        idx = np.flatnonzero(ocean[t])
        n_cloudy = round(cover * idx.size)
        if n_cloudy == 0:
            continue
        # The n_cloudy highest values of the field: a threshold that hits the cover exactly.
        top = np.argpartition(field[t].ravel()[idx], idx.size - n_cloudy)[idx.size - n_cloudy:]
        cloudy[t].ravel()[idx[top]] = True
    return cloudy


def l3_observations(
    truth: xr.Dataset,
    rng: np.random.Generator,
    *,
    cover: float = 0.6,
    noise: float = 0.3,
    var: str = "sst",
    cloud_options: Mapping[str, float] | None = None,
) -> xr.Dataset:
    """Daily gridded L3 product: the truth plus noise where clear, NaN under clouds.

    Parameters
    ----------
    truth : Dataset
        Nature run with ``var`` on (time, lat, lon).
    rng : numpy.random.Generator
        Source of randomness (clouds, then noise).
    cover : float
        Cloudy fraction of ocean pixels, in [0, 1].
    noise : float
        Retrieval error std (K for SST).
    cloud_options : mapping, optional
        Passed to :func:`cloud_masks` (``scale_km``, ``speed_km_day``, ``lifetime_days``).

    Returns
    -------
    Dataset
        ``var`` and ``<var>_error`` on the grid (NaN where unobserved), a
        ``cloud_fraction`` coordinate along time, ``attrs["genda_obs"] = "grid"``.
    """
    field = truth[var].transpose("time", "lat", "lon")
    values = np.asarray(field.values, dtype=float)
    ocean = np.isfinite(values)
    dx_km, dy_km = mean_spacing_km(truth)
    dt_days = time_step_days(truth)
    cloudy = cloud_masks(ocean, cover, dx_km, dy_km, rng, dt_days=dt_days,
                         **dict(cloud_options or {}))
    observed = ocean & ~cloudy
    obs = np.where(observed, values + noise * rng.standard_normal(values.shape), np.nan)
    error = np.where(observed, noise, np.nan)
    n_ocean = np.maximum(ocean.sum(axis=(1, 2)), 1)
    attrs = dict(VARIABLES[var].attrs) if var in VARIABLES else dict(field.attrs)
    dims = ("time", "lat", "lon")
    coords = {"time": truth["time"], "lat": truth["lat"], "lon": truth["lon"],
              "cloud_fraction": ("time", cloudy.sum(axis=(1, 2)) / n_ocean,
                                 {"long_name": "cloudy fraction of ocean pixels", "units": "1"})}
    return xr.Dataset(
        {
            var: (dims, obs, attrs),
            f"{var}_error": (dims, error, {"long_name": f"{var} observation error standard "
                                                       "deviation", "units": attrs.get("units", "1")}),
        },
        coords=coords,
        attrs={"genda_obs": "grid", "title": f"simulated L3 {var} with cloud gaps",
               "cloud_cover": float(cover), "noise_std": float(noise)},
    )

