"""Sampling a gridded truth at scattered (time, lat, lon) points.

Every simulated instrument needs the nature run at its own positions and times:
bilinear in space, linear in time, NaN outside the grid's hull or next to land.
The truth is loaded once into a numpy array (time, lat, lon, variable) so that
one call samples several variables (u and v for a drifter) with shared weights.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import xarray as xr

SECONDS_PER_DAY = 86400.0


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
    values : ndarray (time, lat, lon, variable)
        The loaded fields (float64).
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
             for v in self.variables],
            axis=-1,
        )

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
        nt, ny, nx, nv = self.values.shape
        it, wt = _locate(self.seconds, seconds.ravel())
        iy, wy = _locate(self.lat, lat.ravel())
        ix, wx = _locate(self.lon, lon.ravel())
        # The 8 corners as offsets into the flattened array (a length-1 axis has no
        # neighbour), gathered in one indexing call.
        step_t, step_y, step_x = ny * nx * (nt > 1), nx * (ny > 1), int(nx > 1)
        offsets = (np.array([0, step_t])[:, None, None] + np.array([0, step_y])[:, None]
                   + np.array([0, step_x])).ravel()
        weights = (np.stack([1.0 - wt, wt], -1)[:, :, None, None]
                   * np.stack([1.0 - wy, wy], -1)[:, None, :, None]
                   * np.stack([1.0 - wx, wx], -1)[:, None, None, :]).reshape(-1, 8, 1)
        corners = self.values.reshape(-1, nv)[((it * ny + iy) * nx + ix)[:, None] + offsets]
        # A corner with zero weight must not spread its NaN (land) to the point.
        corners = np.where((weights == 0) & np.isnan(corners), 0.0, corners)
        out = (weights * corners).sum(axis=1).reshape(*seconds.shape, nv)
        outside = ~self.inside(lat, lon) | (seconds < 0) | (seconds > self.span_s)
        out[outside] = np.nan
        return out


def _locate(axis: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the left neighbour of ``x`` on an ascending ``axis`` and the weight of the right."""
    if axis.size == 1:
        return np.zeros(x.shape, dtype=int), np.zeros(x.shape)
    i = np.searchsorted(axis, x, side="right") - 1
    i = np.minimum(np.maximum(i, 0), axis.size - 2)
    w = (x - axis[i]) / (axis[i + 1] - axis[i])
    return i, np.minimum(np.maximum(w, 0.0), 1.0)


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
