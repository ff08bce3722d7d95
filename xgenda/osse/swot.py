"""SWOT-like wide-swath altimetry: two 50 km swaths either side of a 20 km nadir gap.

Pixels lie on lines perpendicular to the ground track (whose heading includes
the Earth's rotation), every ``pixel_km`` along and across track. The KaRIn
random error grows towards the swath edges and falls with pixel size as the
square root of the number of 2 km x 2 km samples averaged into a pixel.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from xgenda.grid import EARTH_RADIUS_M, wrap_lon
from xgenda.osse._sampling import (
    POINT_LAT_ATTRS,
    POINT_LON_ATTRS,
    POINT_TIME_ATTRS,
    GriddedTruth,
    to_datetime,
)
from xgenda.osse.orbits import Orbit, get_orbit, sample_passes
from xgenda.variables import VARIABLES

__all__ = ["GAP_KM", "SWATH_KM", "karin_noise_std", "swot_observations"]

GAP_KM = 20.0
"""Width of the nadir gap between the two swaths (km)."""
SWATH_KM = 50.0
"""Width of each swath (km)."""


def karin_noise_std(cross_track_km: np.ndarray, pixel_km: float, noise: float) -> np.ndarray:
    """KaRIn-like random error (std, m) of ``pixel_km`` pixels at signed cross-track distances.

    ``noise`` is the error of a 2 km pixel at mid-swath; it rises to 1.75 times that at
    the inner and outer edges (parabola in cross-track distance).
    """
    x = np.abs(np.asarray(cross_track_km, dtype=float))
    mid = GAP_KM / 2 + SWATH_KM / 2
    shape = 1.0 + 0.75 * ((x - mid) / (SWATH_KM / 2)) ** 2
    return noise * shape * (2.0 / max(pixel_km, 2.0))


def swot_observations(
    truth: GriddedTruth,
    rng: np.random.Generator,
    *,
    pixel_km: float = 2.0,
    noise: float = 0.018,
    orbit: Orbit | str = "swot",
    var: str = "ssh",
) -> xr.Dataset:
    """Swath observations of ``var`` (point observations along dim ``obs``).

    Parameters
    ----------
    truth : GriddedTruth
        The truth holding ``var``.
    rng : numpy.random.Generator
        Generator for the orbit phase and the noise.
    pixel_km : float
        Pixel size along and across track (km); 2 km is the native KaRIn product,
        the grid spacing is enough for a 1/12 deg reconstruction.
    noise : float
        KaRIn error std of a 2 km pixel at mid-swath (m), see :func:`karin_noise_std`.
    orbit : Orbit or str
        Orbit of the swath instrument.

    Returns
    -------
    Dataset
        ``var``, ``<var>_error``, ``platform`` along ``obs`` with coords ``time``,
        ``lat``, ``lon``, ``pass_number`` and ``cross_track_distance`` (km, positive
        to the right of the direction of flight).
    """
    if pixel_km <= 0:
        raise ValueError(f"swot pixel size must be positive (km), got {pixel_km}")
    orbit = get_orbit(orbit)
    col = truth.variables.index(var)
    phase = (rng.uniform(0, 2 * np.pi), rng.uniform(0, 2 * np.pi))
    half_width = GAP_KM / 2 + SWATH_KM
    margin_deg = np.rad2deg(half_width * 1000.0 / EARTH_RADIUS_M) / np.cos(
        np.deg2rad(max(abs(truth.lat[0]), abs(truth.lat[-1]))))
    step_s = pixel_km * 1000.0 / orbit.ground_speed_m_s
    seconds, lat0, lon0, number = sample_passes(orbit, truth, phase, margin_deg=margin_deg,
                                                step_s=step_s)
    heading = _heading(orbit, seconds, phase)
    n_across = int(np.floor(SWATH_KM / pixel_km))
    offsets = GAP_KM / 2 + pixel_km * (np.arange(n_across) + 0.5)
    cross = np.concatenate([-offsets[::-1], offsets])  # negative = left of the flight direction
    lat, lon = _destination(lat0[:, None], lon0[:, None], heading[:, None] + np.pi / 2,
                            cross[None, :] * 1000.0)
    seconds = np.broadcast_to(seconds[:, None], lat.shape).ravel()
    number = np.broadcast_to(number[:, None], lat.shape).ravel()
    cross_all = np.broadcast_to(cross[None, :], lat.shape).ravel()
    lat, lon = lat.ravel(), lon.ravel()
    value = truth(seconds, lat, lon)[:, col]
    ok = np.isfinite(value)
    seconds, lat, lon, number, cross_all, value = (
        a[ok] for a in (seconds, lat, lon, number, cross_all, value))
    error = karin_noise_std(cross_all, pixel_km, noise)
    value = value + error * rng.standard_normal(value.size)
    attrs = dict(VARIABLES[var].attrs) if var in VARIABLES else {}
    return xr.Dataset(
        {
            var: ("obs", value, attrs),
            f"{var}_error": ("obs", error, {"long_name": f"{var} observation error standard "
                                                         "deviation", "units": attrs.get("units", "1")}),
            "platform": ("obs", np.full(value.size, orbit.name, dtype=object),
                         {"long_name": "satellite"}),
        },
        coords={
            "time": ("obs", to_datetime(truth.start, seconds), POINT_TIME_ATTRS),
            "lat": ("obs", lat, POINT_LAT_ATTRS),
            "lon": ("obs", lon, POINT_LON_ATTRS),
            "pass_number": ("obs", number.astype("int64"), {"long_name": "pass number"}),
            "cross_track_distance": ("obs", cross_all, {
                "long_name": "cross-track distance, positive right of the flight direction",
                "units": "km"}),
        },
        attrs={"genda_obs": "points", "title": "simulated SWOT-like KaRIn swaths",
               "pixel_km": float(pixel_km), "karin_noise_2km_std": float(noise),
               "swath_km": SWATH_KM, "gap_km": GAP_KM},
    )


def _heading(orbit: Orbit, seconds: np.ndarray, phase: tuple[float, float]) -> np.ndarray:
    """Azimuth of the ground track (rad clockwise from north) from a centred difference."""
    lat_a, lon_a = orbit.ground_track(seconds - 0.5, phase)
    lat_b, lon_b = orbit.ground_track(seconds + 0.5, phase)
    p1, p2 = np.deg2rad(lat_a), np.deg2rad(lat_b)
    dl = np.deg2rad(wrap_lon(lon_b - lon_a))
    return np.arctan2(np.sin(dl) * np.cos(p2),
                      np.cos(p1) * np.sin(p2) - np.sin(p1) * np.cos(p2) * np.cos(dl))


def _destination(
    lat: np.ndarray, lon: np.ndarray, azimuth: np.ndarray, distance_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Point reached along a great circle from (lat, lon) (degrees) at azimuth (rad)."""
    p1, l1 = np.deg2rad(lat), np.deg2rad(lon)
    d = np.asarray(distance_m) / EARTH_RADIUS_M
    p2 = np.arcsin(np.sin(p1) * np.cos(d) + np.cos(p1) * np.sin(d) * np.cos(azimuth))
    l2 = l1 + np.arctan2(np.sin(azimuth) * np.sin(d) * np.cos(p1),
                         np.cos(d) - np.sin(p1) * np.sin(p2))
    return np.rad2deg(p2), wrap_lon(np.rad2deg(l2))
