"""L4-like products: the truth blurred in space and time plus a correlated mapping error.

An L4 analysis (DUACS SSH, OSTIA SST, SMOS/CCI SSS) resolves only the large
scales: it is simulated as the truth convolved with a Gaussian of standard
deviation ``sigma_km`` in space (converted to pixels with the grid's mean
spacing, reflecting at the edges) and ``sigma_days`` in time, plus an error that
is smooth in space (correlation length a few ``sigma_km``), evolves over a few
days, and is larger where the truth holds the small-scale energy the analysis
misses. Land (NaN) is excluded from the blur by normalised convolution.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.ndimage import gaussian_filter

from xgenda.grid import mean_spacing_km
from xgenda.osse._random_fields import evolving_field
from xgenda.osse._sampling import time_step_days
from xgenda.variables import VARIABLES

__all__ = ["DEFAULT_L4_ERROR", "DEFAULT_L4_SIGMA_KM", "gaussian_smooth", "l4_observations"]

DEFAULT_L4_SIGMA_KM: dict[str, float] = {"ssh": 25.0, "sst": 16.0, "sss": 16.0}
"""Spatial blur (km) of the L4 products of the GenDA OSSE."""

DEFAULT_L4_ERROR: dict[str, float] = {"ssh": 0.02, "sst": 0.3, "sss": 0.1}
"""Domain-mean standard deviation of the L4 mapping error (m, degC, 1e-3)."""


def gaussian_smooth(
    values: np.ndarray, sigma_px: tuple[float, float], sigma_steps: float = 0.0
) -> np.ndarray:
    """Gaussian blur of a (time, lat, lon) array, ignoring NaN, with reflecting edges.

    Parameters
    ----------
    values : ndarray (time, lat, lon)
        Field; NaN marks land, which stays NaN and does not leak into the ocean.
    sigma_px : (float, float)
        Standard deviation along lat and lon in pixels.
    sigma_steps : float
        Standard deviation along time in time steps (0: no time blur).
    """
    valid = np.isfinite(values)
    sigma = (sigma_steps, *sigma_px)
    num = gaussian_filter(np.where(valid, values, 0.0), sigma, mode="reflect")
    if valid.all():
        return num
    den = gaussian_filter(valid.astype(float), sigma, mode="reflect")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    return np.where(valid, out, np.nan)


def l4_observations(
    truth: xr.Dataset,
    var: str,
    rng: np.random.Generator,
    *,
    sigma_km: float,
    sigma_days: float = 0.0,
    error: float | None = None,
    error_length_factor: float = 3.0,
    error_lifetime_days: float = 5.0,
) -> xr.Dataset:
    """A smoothed L4-like product of ``var`` with its error field.

    Parameters
    ----------
    truth : Dataset
        Nature run with ``var`` on (time, lat, lon).
    var : str
        Variable to map.
    rng : numpy.random.Generator
        Source of the mapping error.
    sigma_km : float
        Standard deviation of the spatial Gaussian blur (km).
    sigma_days : float
        Standard deviation of the temporal Gaussian blur (days; 0 for none).
    error : float, optional
        Domain-mean std of the mapping error (units of ``var``); default from
        :data:`DEFAULT_L4_ERROR`.
    error_length_factor : float
        Correlation length of the error in units of ``sigma_km``.
    error_lifetime_days : float
        e-folding time of the error.

    Returns
    -------
    Dataset
        ``var`` and ``<var>_error`` (std of the error) on the grid,
        ``attrs["genda_obs"] = "smoothed"``, ``attrs["sigma_km"]`` and, with a
        time blur, ``attrs["window_days"]`` (the std of the Gaussian time window).
    """
    if sigma_km < 0 or sigma_days < 0:
        raise ValueError(f"L4 {var}: sigma_km and sigma_days must be >= 0, got "
                         f"{sigma_km} and {sigma_days}")
    error = DEFAULT_L4_ERROR.get(var, 0.0) if error is None else float(error)
    if error < 0:
        raise ValueError(f"L4 {var}: error std must be >= 0, got {error}")
    field = truth[var].transpose("time", "lat", "lon")
    values = np.asarray(field.values, dtype=float)
    dx_km, dy_km = mean_spacing_km(truth)
    dt_days = time_step_days(truth)
    sigma_px = (sigma_km / dy_km, sigma_km / dx_km)
    smooth = gaussian_smooth(values, sigma_px, sigma_days / dt_days)
    error_std = error * _error_pattern(values, smooth, sigma_px)
    nt, ny, nx = values.shape
    length = max(error_length_factor * sigma_km, 2 * max(dx_km, dy_km))
    noise = evolving_field(nt, ny, nx, dx_km, dy_km, rng, length_km=length,
                           lifetime_days=error_lifetime_days, dt_days=dt_days)
    obs = smooth + error_std * noise
    attrs = dict(VARIABLES[var].attrs) if var in VARIABLES else dict(field.attrs)
    dims = ("time", "lat", "lon")
    out_attrs: dict[str, object] = {
        "genda_obs": "smoothed", "sigma_km": float(sigma_km),
        "title": f"simulated L4 {var} (Gaussian blur of the truth plus mapping error)",
        "error_std": error, "error_correlation_km": float(length),
        "error_lifetime_days": float(error_lifetime_days),
    }
    if sigma_days > 0:
        out_attrs["window_days"] = float(sigma_days)
        out_attrs["comment"] = "window_days is the std of the Gaussian time window (days)"
    return xr.Dataset(
        {
            var: (dims, obs, attrs),
            f"{var}_error": (dims, np.broadcast_to(error_std, values.shape).copy(),
                             {"long_name": f"{var} mapping error standard deviation",
                              "units": attrs.get("units", "1")}),
        },
        coords={"time": truth["time"], "lat": truth["lat"], "lon": truth["lon"]},
        attrs=out_attrs,
    )


def _error_pattern(values: np.ndarray, smooth: np.ndarray, sigma_px: tuple[float, float]
                   ) -> np.ndarray:
    """Relative error std (lat, lon), mean square one: larger where small scales are energetic."""
    square = (values - smooth) ** 2
    count = np.isfinite(square).sum(axis=0)
    residual = np.where(count > 0, np.nansum(square, axis=0) / np.maximum(count, 1), np.nan)
    local = gaussian_smooth(residual[None], (2 * sigma_px[0], 2 * sigma_px[1]))[0]
    mean = float(np.nanmean(local)) if np.isfinite(local).any() else np.nan
    if not np.isfinite(mean) or mean <= 0:
        return np.where(np.isfinite(residual), 1.0, np.nan)
    # Half uniform, half following the local small-scale variance: mean of the square is 1.
    return np.sqrt(0.5 + 0.5 * local / mean)

