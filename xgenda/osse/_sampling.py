"""Sampling a gridded truth at scattered (time, lat, lon) points.

Every simulated instrument needs the nature run at its own positions and times:
bilinear in space, linear in time, NaN outside the grid's hull or next to land.
The truth is loaded once into a numpy array (variable, time, lat, lon); sampling
is a single compiled multilinear interpolation per variable at fractional
indices, cheap enough to be called at every stage of a drifter's RK4 step.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import xarray as xr
from scipy.ndimage import map_coordinates

from xgenda.grid import LAT_ATTRS, LON_ATTRS

SECONDS_PER_DAY = 86400.0

# Coordinates of point observations are not grid axes: CF attrs without "axis".
POINT_LAT_ATTRS = {k: v for k, v in LAT_ATTRS.items() if k != "axis"}
POINT_LON_ATTRS = {k: v for k, v in LON_ATTRS.items() if k != "axis"}
POINT_TIME_ATTRS = {"standard_name": "time", "long_name": "time of the observation"}


def component_rng(seed: int, component: str) -> np.random.Generator:
    """Random generator for one part of the simulator, seeded from ``(seed, component)``.

    The component name is hashed with CRC32 (stable across processes, unlike
    ``hash``) so that adding or dropping one instrument leaves the draws of the
    others unchanged.
    """
    return np.random.default_rng([int(seed), zlib.crc32(component.encode())])


class GriddedTruth:
    """Variables of a truth Dataset, ready for point sampling.

    Parameters
    ----------
    truth : Dataset
        Nature run with 1-D ``time`` (datetime64), ``lat`` and ``lon`` (ascending).
    variables : sequence of str
        Variables to sample, each with dims (time, lat, lon) in any order.

    Attributes
    ----------
    seconds : ndarray (time,)
        Time axis in s since ``start``.
    start : numpy.datetime64
        First time of the truth.
    lat, lon : ndarray
        Grid axes in degrees.
    values : ndarray (variable, time, lat, lon)
        The loaded fields (float64, C-contiguous per variable).
    """

    def __init__(self, truth: xr.Dataset, variables: Sequence[str]) -> None:
        self.variables = tuple(variables)
        time = truth["time"].values
        self.start = time[0]
        self.seconds = (time - time[0]) / np.timedelta64(1, "s")
        self.lat = np.asarray(truth["lat"].values, dtype=float)
        self.lon = np.asarray(truth["lon"].values, dtype=float)
        self.values = np.stack(
            [np.asarray(truth[v].transpose("time", "lat", "lon").values, dtype=float)
             for v in self.variables])
        self._index = tuple(np.arange(n, dtype=float) for n in self.values.shape[1:])

    @property
    def span_s(self) -> float:
        """Length of the time axis in s."""
        return float(self.seconds[-1])

    def inside(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """True where ``(lat, lon)`` lies in the hull of the grid's cell centres."""
        return ((lat >= self.lat[0]) & (lat <= self.lat[-1])
                & (lon >= self.lon[0]) & (lon <= self.lon[-1]))

    def __call__(self, seconds: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Values at points, shape (points, variable); NaN outside the grid or time span.

        Parameters
        ----------
        seconds : ndarray (points,)
            Times in s since :attr:`start`.
        lat, lon : ndarray (points,)
            Positions in degrees.
        """
        seconds, lat, lon = np.broadcast_arrays(
            np.asarray(seconds, float), np.asarray(lat, float), np.asarray(lon, float))
        # Fractional indices along each axis (exact for non-uniform axes too); multilinear
        # interpolation in index space is then bilinear in space and linear in time.
        coords = np.stack([
            np.interp(seconds.ravel(), self.seconds, self._index[0]),
            np.interp(lat.ravel(), self.lat, self._index[1]),
            np.interp(lon.ravel(), self.lon, self._index[2]),
        ])
        out = np.stack([map_coordinates(v, coords, order=1, mode="nearest")
                        for v in self.values], axis=-1).reshape(*seconds.shape, len(self.variables))
        outside = ~self.inside(lat, lon) | (seconds < 0) | (seconds > self.span_s)
        out[outside] = np.nan
        return out

    def at_time(self, seconds: float, lat: np.ndarray, lon: np.ndarray) -> list[np.ndarray]:
        """Values of each variable at one time, list of arrays (points,); NaN outside.

        The fast path of :meth:`__call__` for many calls on few points (drifters).
        """
        if not 0.0 <= seconds <= self.span_s:
            return [np.full(lat.shape, np.nan) for _ in self.variables]
        coords = np.empty((3, lat.size))
        coords[0] = np.interp(seconds, self.seconds, self._index[0])
        coords[1] = np.interp(lat, self.lat, self._index[1])
        coords[2] = np.interp(lon, self.lon, self._index[2])
        outside = (lat < self.lat[0]) | (lat > self.lat[-1]) | (lon < self.lon[0]) | (
            lon > self.lon[-1]) | np.isnan(lat) | np.isnan(lon)
        out = [map_coordinates(v, coords, order=1, mode="nearest") for v in self.values]
        for o in out:
            o[outside] = np.nan
        return out


def to_datetime(start: np.datetime64, seconds: np.ndarray) -> np.ndarray:
    """``start + seconds`` as datetime64[ns] (rounded to the nanosecond)."""
    ns = np.round(np.asarray(seconds, dtype=float) * 1e9).astype("int64")
    return start.astype("datetime64[ns]") + ns.astype("timedelta64[ns]")


def time_step_days(truth: xr.Dataset) -> float:
    """Median time step of ``truth`` in days (1 for a single time)."""
    time = truth["time"].values
    if time.size < 2:
        return 1.0
    return float(np.median(np.diff(time) / np.timedelta64(1, "s"))) / SECONDS_PER_DAY
