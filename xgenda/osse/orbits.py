"""Repeat orbits, their ground tracks, and simulated nadir altimetry.

A circular orbit of inclination ``i`` has its sub-satellite point at latitude
``asin(sin i sin u)`` and longitude ``lon0 + atan2(cos i sin u, cos u) - w t``, where
``u = u0 + 2 pi t / T`` is the argument of latitude, ``T`` the nodal period and ``w``
the rotation rate of the Earth relative to the precessing orbit plane. A repeat
orbit makes ``revolutions`` revolutions while the Earth turns ``nodal_days`` times
under it in ``repeat_days`` days, which fixes ``T`` and ``w``; the ground track then
closes on itself exactly, as the tracks of the real missions do.

Passes over a latitude band are found analytically (the band is crossed once
going north and once going south per revolution), so a year of 1 Hz samples
is only computed where it can fall in the domain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from xgenda.grid import EARTH_RADIUS_M, wrap_lon
from xgenda.osse._sampling import (
    POINT_LAT_ATTRS,
    POINT_LON_ATTRS,
    POINT_TIME_ATTRS,
    SECONDS_PER_DAY,
    GriddedTruth,
    to_datetime,
)
from xgenda.variables import VARIABLES

__all__ = ["DEFAULT_CONSTELLATION", "ORBITS", "WITHHELD_ORBIT", "Orbit", "get_orbit",
           "nadir_observations"]


@dataclass(frozen=True)
class Orbit:
    """A circular repeat orbit.

    Parameters
    ----------
    name : str
        Short name (``platform`` of its observations).
    inclination_deg : float
        Orbit inclination in degrees (> 90 for retrograde, sun-synchronous orbits).
    repeat_days : float
        Length of the repeat cycle in days.
    revolutions : int
        Revolutions per repeat cycle.
    nodal_days : int
        Turns of the Earth relative to the orbit plane per repeat cycle.
    description : str
        Which mission the orbit imitates.
    """

    name: str
    inclination_deg: float
    repeat_days: float
    revolutions: int
    nodal_days: int
    description: str = ""

    @property
    def period_s(self) -> float:
        """Nodal period in s."""
        return self.repeat_days * SECONDS_PER_DAY / self.revolutions

    @property
    def mean_motion(self) -> float:
        """Rate of the argument of latitude in rad s-1."""
        return 2.0 * np.pi / self.period_s

    @property
    def earth_rate(self) -> float:
        """Rotation rate of the Earth relative to the orbit plane in rad s-1."""
        return 2.0 * np.pi * self.nodal_days / (self.repeat_days * SECONDS_PER_DAY)

    @property
    def ground_speed_m_s(self) -> float:
        """Typical speed of the sub-satellite point in m s-1."""
        return EARTH_RADIUS_M * self.mean_motion

    def ground_track(
        self, seconds: np.ndarray, phase: tuple[float, float] = (0.0, 0.0)
    ) -> tuple[np.ndarray, np.ndarray]:
        """Latitude and longitude (degrees, lon in [-180, 180)) of the sub-satellite point.

        Parameters
        ----------
        seconds : ndarray
            Times in s since the orbit epoch.
        phase : (float, float)
            Argument of latitude ``u0`` and longitude of the ascending node ``lon0`` at
            the epoch, in radians.
        """
        u0, lon0 = phase
        inc = np.deg2rad(self.inclination_deg)
        u = u0 + self.mean_motion * np.asarray(seconds, dtype=float)
        lat = np.arcsin(np.sin(inc) * np.sin(u))
        lon = lon0 + np.arctan2(np.cos(inc) * np.sin(u), np.cos(u)) - self.earth_rate * seconds
        return np.rad2deg(lat), wrap_lon(np.rad2deg(lon))

    def band_passes(
        self, t_end: float, lat_range: tuple[float, float], phase: tuple[float, float]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Time intervals (s) when the track lies in a latitude band, within ``[0, t_end]``.

        Returns
        -------
        start, end : ndarray (passes,)
            Interval bounds in s.
        number : ndarray (passes,)
            Pass number: twice the revolution index, plus one for descending passes.
        """
        inc = np.deg2rad(self.inclination_deg)
        sin_i = np.sin(inc)
        a = np.sin(np.deg2rad(lat_range[0])) / sin_i
        b = np.sin(np.deg2rad(lat_range[1])) / sin_i
        if a >= 1.0 or b <= -1.0:  # the band lies poleward of the orbit's reach
            empty = np.zeros(0)
            return empty, empty, np.zeros(0, dtype=int)
        lo, hi = np.arcsin(max(a, -1.0)), np.arcsin(min(b, 1.0))
        u0 = phase[0]
        n = self.mean_motion
        k = np.arange(np.floor(u0 / (2 * np.pi)) - 1,
                      np.ceil((u0 + n * t_end) / (2 * np.pi)) + 2).astype(int)
        u_start = np.concatenate([lo + 2 * np.pi * k, np.pi - hi + 2 * np.pi * k])
        u_end = np.concatenate([hi + 2 * np.pi * k, np.pi - lo + 2 * np.pi * k])
        number = np.concatenate([2 * k, 2 * k + 1])
        start = np.clip((u_start - u0) / n, 0.0, t_end)
        end = np.clip((u_end - u0) / n, 0.0, t_end)
        keep = end > start
        order = np.argsort(start[keep], kind="stable")
        return start[keep][order], end[keep][order], number[keep][order]


def _orbits(*orbits: Orbit) -> dict[str, Orbit]:
    return {o.name: o for o in orbits}


ORBITS: dict[str, Orbit] = _orbits(
    Orbit("jason3", 66.04, 9.9156, 127, 10, "Jason-like reference orbit, 9.9156-day repeat"),
    Orbit("sentinel3a", 98.65, 27.0, 385, 27, "Sentinel-3-like sun-synchronous, 27-day repeat"),
    Orbit("saral", 98.55, 35.0, 501, 35, "SARAL/Envisat-like sun-synchronous, 35-day repeat"),
    Orbit("cryosat2", 92.0, 369.0, 5344, 369, "CryoSat-like drifting orbit, 369-day repeat"),
    Orbit("hy2b", 99.34, 14.0, 193, 14, "HY-2B-like sun-synchronous, 14-day repeat"),
    Orbit("swot", 77.6, 20.86, 292, 21, "SWOT-like science orbit, 20.86-day repeat"),
)
"""Known orbits by name (see :func:`get_orbit` for accepted spellings)."""

DEFAULT_CONSTELLATION: tuple[str, ...] = ("jason3", "sentinel3a", "saral", "cryosat2")
"""Default nadir constellation, in the order ``observe(nadirs=n)`` takes them."""

WITHHELD_ORBIT = "hy2b"
"""Default orbit of the withheld, independent nadir altimeter."""


def get_orbit(name: str | Orbit) -> Orbit:
    """The :class:`Orbit` called ``name`` (case, '-', '_' and spaces ignored)."""
    if isinstance(name, Orbit):
        return name
    key = "".join(ch for ch in str(name).lower() if ch not in "-_ ")
    aliases = {"jason": "jason3", "sentinel6": "jason3", "s3a": "sentinel3a",
               "sentinel3": "sentinel3a", "altika": "saral", "envisat": "saral",
               "cryosat": "cryosat2", "c2": "cryosat2", "hy2": "hy2b"}
    key = aliases.get(key, key)
    if key not in ORBITS:
        raise ValueError(
            f"unknown satellite {name!r}; known satellites are {sorted(ORBITS)} "
            "(or pass an xgenda.osse.orbits.Orbit for a custom orbit)"
        )
    return ORBITS[key]


def nadir_observations(
    truth: GriddedTruth,
    orbits: Sequence[Orbit],
    rngs: Sequence[np.random.Generator],
    *,
    noise: float = 0.025,
    long_wavelength_error: float = 0.0,
    long_wavelength_km: tuple[float, float] = (1000.0, 10000.0),
    var: str = "ssh",
) -> xr.Dataset:
    """Along-track 1 Hz observations of ``var`` by a constellation of nadir altimeters.

    Parameters
    ----------
    truth : GriddedTruth
        The truth holding ``var``.
    orbits : sequence of Orbit
        One orbit per satellite.
    rngs : sequence of numpy.random.Generator
        One generator per satellite (orbit phase and noise).
    noise : float
        Standard deviation of the white instrument noise (units of ``var``, m for SSH).
    long_wavelength_error : float
        Standard deviation of a correlated along-track error (orbit, roll, wet
        troposphere residuals), a random sum of sinusoids per pass with wavelengths
        log-uniform in ``long_wavelength_km``.

    Returns
    -------
    Dataset
        Point observations along dim ``obs``, sorted by time, with ``var``,
        ``<var>_error``, ``platform`` and a ``pass_number`` coordinate.
    """
    col = truth.variables.index(var)
    parts = [_one_satellite(truth, col, o, rng, noise, long_wavelength_error,
                            long_wavelength_km) for o, rng in zip(orbits, rngs, strict=True)]
    seconds = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0)
    order = np.argsort(seconds, kind="stable")

    def cat(i: int, dtype: type | None = None) -> np.ndarray:
        out = np.concatenate([p[i] for p in parts]) if parts else np.zeros(0, dtype=dtype)
        return out[order]

    lat, lon, value, number = cat(1), cat(2), cat(3), cat(4, int)
    platform = cat(5, object).astype(object)
    error = float(np.hypot(noise, long_wavelength_error))
    attrs = dict(VARIABLES[var].attrs) if var in VARIABLES else {}
    return xr.Dataset(
        {
            var: ("obs", value, attrs),
            f"{var}_error": ("obs", np.full(value.size, error),
                             {"long_name": f"{var} observation error standard deviation",
                              "units": attrs.get("units", "1")}),
            "platform": ("obs", platform, {"long_name": "satellite"}),
        },
        coords={
            "time": ("obs", to_datetime(truth.start, cat(0)), POINT_TIME_ATTRS),
            "lat": ("obs", lat, POINT_LAT_ATTRS),
            "lon": ("obs", lon, POINT_LON_ATTRS),
            "pass_number": ("obs", number.astype("int64"),
                            {"long_name": "pass number (unique per platform)"}),
        },
        attrs={
            "genda_obs": "points",
            "title": "simulated nadir altimetry (1 Hz along-track)",
            "white_noise_std": float(noise),
            "long_wavelength_error_std": float(long_wavelength_error),
            "platforms": ", ".join(o.name for o in orbits),
        },
    )


def _one_satellite(
    truth: GriddedTruth, col: int, orbit: Orbit, rng: np.random.Generator, noise: float,
    long_std: float, long_km: tuple[float, float],
) -> tuple[np.ndarray, ...]:
    phase = (rng.uniform(0, 2 * np.pi), rng.uniform(0, 2 * np.pi))
    seconds, lat, lon, number = sample_passes(orbit, truth, phase, margin_deg=0.0, step_s=1.0)
    value = truth(seconds, lat, lon)[:, col]
    ok = np.isfinite(value)
    seconds, lat, lon, number, value = (a[ok] for a in (seconds, lat, lon, number, value))
    error = noise * rng.standard_normal(value.size)
    if long_std > 0 and value.size:
        distance_m = seconds * orbit.ground_speed_m_s
        error += long_std * _random_sinusoids(distance_m / 1000.0, number, long_km, rng)
    return (seconds, lat, lon, value + error, number,
            np.full(value.size, orbit.name, dtype=object))


def sample_passes(
    orbit: Orbit, truth: GriddedTruth, phase: tuple[float, float], *, margin_deg: float,
    step_s: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ground-track samples every ``step_s`` s that fall in the domain (+ margin) and span.

    Returns ``(seconds, lat, lon, pass_number)`` of the kept samples.
    """
    lat_band = (truth.lat[0] - margin_deg, truth.lat[-1] + margin_deg)
    start, end, number = orbit.band_passes(truth.span_s, lat_band, phase)
    lon_c = 0.5 * (truth.lon[0] + truth.lon[-1])
    half = 0.5 * (truth.lon[-1] - truth.lon[0]) + margin_deg

    def near_box(lon: np.ndarray, pad: float) -> np.ndarray:
        return np.abs(wrap_lon(lon - lon_c)) <= half + pad

    # Coarse look (9 points per pass) with a generous pad to skip passes far in longitude.
    frac = np.linspace(0.0, 1.0, 9)
    t_coarse = start[:, None] + (end - start)[:, None] * frac
    _, lon_coarse = orbit.ground_track(t_coarse, phase)
    # Longitude moves at most a few times faster than the argument of latitude.
    step_deg = 3.0 * np.rad2deg(orbit.mean_motion * (end - start).max(initial=0.0) / 8) + 1.0
    hit = near_box(lon_coarse, step_deg).any(axis=1)
    start, end, number = start[hit], end[hit], number[hit]
    # Samples on a regular clock (k * step_s), as an instrument's time stamps are.
    first = np.ceil(start / step_s).astype(np.int64)
    count = np.maximum(np.floor(end / step_s).astype(np.int64) - first + 1, 0)
    pass_idx = np.repeat(np.arange(count.size), count)
    offsets = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    seconds = (first[pass_idx] + offsets) * step_s
    lat, lon = orbit.ground_track(seconds, phase)
    keep = near_box(lon, 0.0) & (lat >= lat_band[0]) & (lat <= lat_band[1])
    keep &= (seconds >= 0) & (seconds <= truth.span_s)
    return seconds[keep], lat[keep], lon[keep], number[pass_idx][keep]


def _random_sinusoids(
    distance_km: np.ndarray, group: np.ndarray, wavelengths_km: tuple[float, float],
    rng: np.random.Generator, modes: int = 6,
) -> np.ndarray:
    """Unit-variance sum of random sinusoids of distance, independent per group (pass)."""
    out = np.zeros(distance_km.size)
    groups, inverse = np.unique(group, return_inverse=True)
    lo, hi = np.log(wavelengths_km[0]), np.log(wavelengths_km[1])
    wavelength = np.exp(rng.uniform(lo, hi, (groups.size, modes)))
    phase = rng.uniform(0, 2 * np.pi, (groups.size, modes))
    for m in range(modes):
        out += np.cos(2 * np.pi * distance_km / wavelength[inverse, m] + phase[inverse, m])
    return out * np.sqrt(2.0 / modes)
