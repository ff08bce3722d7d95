"""Inflation of an ensemble's anomalies by scale (:class:`xgenda.config.Inflation`).

The anomalies of the members about their mean are split by a Gaussian low-pass filter
on the sphere's local metric (transfer 1/2 at the inflation's wavelength) and each part is
multiplied by its factor. The filter is a normalized convolution over the ocean pixels:
land and the domain's edges are left out of every average instead of being padded, so
that a coast does not leak zeros (or mirrored values) into the large scales.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from xgenda.config import Inflation
from xgenda.grid import EARTH_RADIUS_M

__all__ = ["KM_PER_DEG", "inflate", "inflate_dataset", "lowpass"]

#: Kilometres per degree of latitude (:data:`xgenda.grid.EARTH_RADIUS_M`).
KM_PER_DEG = math.radians(1.0) * EARTH_RADIUS_M / 1000.0


def _sigma_km(wavelength_km: float) -> float:
    """Std (km) of the Gaussian whose transfer ``exp(-2 pi^2 s^2 / L^2)`` is 1/2 at
    wavelength ``L``."""
    return wavelength_km * math.sqrt(2 * math.log(2)) / (2 * math.pi)


def lowpass(field: np.ndarray, ocean: np.ndarray, lat: np.ndarray, lon: np.ndarray,
            wavelength_km: float) -> np.ndarray:
    """Gaussian low-pass of ``field`` (..., H, W) over the ``ocean`` (H, W) pixels.

    The filter passes half the amplitude at ``wavelength_km``; its width in pixels follows the
    grid's spacing (the zonal width of each row its own ``cos(lat)``). Longitudes that go
    round the globe wrap. Land pixels come back as NaN.
    """
    from scipy.ndimage import gaussian_filter1d

    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    sigma = _sigma_km(wavelength_km)
    dlat = abs(float(lat[1] - lat[0])) if lat.size > 1 else 1.0
    dlon = abs(float(lon[1] - lon[0])) if lon.size > 1 else 1.0
    periodic = lon.size > 1 and abs(lon.size * dlon - 360.0) < 0.5 * dlon
    num = np.where(ocean, np.nan_to_num(np.asarray(field, dtype=np.float64)), 0.0)
    den = ocean.astype(np.float64)  # the same for every field: filtered once, (H, W)
    sy = sigma / (dlat * KM_PER_DEG)
    num = gaussian_filter1d(num, sy, axis=-2, mode="constant")
    den = gaussian_filter1d(den, sy, axis=-2, mode="constant")
    km_per_px = dlon * KM_PER_DEG * np.maximum(np.cos(np.deg2rad(lat)), 1e-3)
    mode = "wrap" if periodic else "constant"
    for i, step in enumerate(km_per_px):
        sx = min(sigma / step, 4.0 * lon.size)  # near a pole the row is one average
        num[..., i, :] = gaussian_filter1d(num[..., i, :], sx, axis=-1, mode=mode)
        den[..., i, :] = gaussian_filter1d(den[..., i, :], sx, axis=-1, mode=mode)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    return np.where(ocean, out, np.nan)


def inflate(members: np.ndarray, ocean: np.ndarray, lat: np.ndarray, lon: np.ndarray,
            inflation: Inflation, axis: int = 0) -> np.ndarray:
    """``members`` with their anomalies about the mean along ``axis`` inflated by scale.

    ``members`` is (..., H, W) with the members along ``axis`` (a leading axis); the
    result has its dtype and NaN on land. Nothing changes when the inflation is off or
    there is a single member.
    """
    members = np.asarray(members)
    if not inflation.enabled or members.shape[axis] < 2:
        return members
    x = np.where(ocean, members.astype(np.float64), 0.0)
    mean = x.mean(axis=axis, keepdims=True)
    anomaly = x - mean
    large = np.nan_to_num(lowpass(anomaly, ocean, lat, lon, inflation.wavelength_km))
    out = mean + inflation.large * large + inflation.small * (anomaly - large)
    return np.where(ocean, out, np.nan).astype(members.dtype)


def inflate_dataset(ens: xr.Dataset, inflation: Inflation) -> xr.Dataset:
    """An ensemble Dataset (``member``, ..., ``lat``, ``lon``) with its anomalies inflated
    (:func:`inflate`, land where the first member is NaN); computed, attrs kept."""
    if "member" not in ens.dims:
        raise ValueError(f"inflation needs an ensemble with a 'member' dim; dims are "
                         f"{tuple(ens.dims)}")
    if not inflation.enabled:
        return ens
    out = ens.copy()
    for name, var in ens.data_vars.items():
        if "member" not in var.dims or not {"lat", "lon"} <= set(var.dims):
            continue
        order = ("member", *[d for d in var.dims if d not in ("member", "lat", "lon")],
                 "lat", "lon")
        values = var.transpose(*order).values
        first = values[(0,) * (values.ndim - 2)]
        data = inflate(values, np.isfinite(first), ens["lat"].values, ens["lon"].values,
                       inflation)
        out[name] = var.copy(data=xr.DataArray(data, dims=order).transpose(*var.dims).values)
    return out
