"""Nadir altimeter orbits, their coverage, and SWOT swath geometry."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from xgenda.grid import EARTH_RADIUS_M
from xgenda.osse import observe
from xgenda.osse.orbits import DEFAULT_CONSTELLATION, ORBITS, get_orbit
from xgenda.osse.swot import GAP_KM, SWATH_KM, karin_noise_std
from xgenda.regrid import sample_points
from xgenda.testing import ocean_dataset

ONLY_NADIR = {"sst_cloud_cover": None, "l4_sigma_km": {}, "drifters": 0, "withheld_nadir": None}


def _haversine_km(lat1, lon1, lat2, lon2):  # type: ignore[no-untyped-def]
    p1, p2 = np.deg2rad(lat1), np.deg2rad(lat2)
    dp, dl = p2 - p1, np.deg2rad(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M / 1000 * np.arcsin(np.sqrt(a))


@pytest.fixture(scope="module")
def twelfth_degree_truth() -> xr.Dataset:
    """30 days on the 120 x 120 1/12 deg grid of the Gulf Stream box (33-43N, 65-55W)."""
    return ocean_dataset(31, 120, 120, land=False, variables=("ssh",))


@pytest.mark.parametrize("satellite", DEFAULT_CONSTELLATION)
def test_nadir_coverage_per_day_per_satellite_is_realistic(
        twelfth_degree_truth: xr.Dataset, satellite: str) -> None:
    truth = twelfth_degree_truth
    obs = observe(truth, nadirs=[satellite], **ONLY_NADIR)["nadir"].to_dataset()
    day = ((obs.time.values - truth.time.values[0]) // np.timedelta64(1, "D")).astype(int)
    row = np.floor((obs.lat.values - 33.0) * 12).astype(int)
    col = np.floor((obs.lon.values + 65.0) * 12).astype(int)
    days = truth.sizes["time"] - 1
    hit = [np.unique(row[day == d] * 120 + col[day == d]).size / 120**2 for d in range(days)]
    # Real altimeters hit ~0.5-1.5 % of 1/12 deg pixels per day each (GenDA, DUACS).
    assert 0.005 <= np.mean(hit) <= 0.015


@pytest.mark.parametrize("satellite", ["jason3", "sentinel3a", "saral", "hy2b", "swot"])
def test_ground_track_repeats_after_one_cycle(satellite: str) -> None:
    orbit = ORBITS[satellite]
    t = np.linspace(0, 86400.0, 500)
    lat0, lon0 = orbit.ground_track(t, (0.3, 1.2))
    lat1, lon1 = orbit.ground_track(t + orbit.repeat_days * 86400.0, (0.3, 1.2))
    np.testing.assert_allclose(lat1, lat0, atol=1e-7)
    np.testing.assert_allclose(np.cos(np.deg2rad(lon1 - lon0)), 1.0, atol=1e-10)


@pytest.mark.parametrize("satellite", sorted(ORBITS))
def test_ground_track_reaches_the_latitude_set_by_the_inclination(satellite: str) -> None:
    orbit = ORBITS[satellite]
    lat, _ = orbit.ground_track(np.arange(0, orbit.period_s, 1.0))
    reach = min(orbit.inclination_deg, 180.0 - orbit.inclination_deg)
    assert np.abs(lat).max() == pytest.approx(reach, abs=1e-3)


@pytest.mark.parametrize("satellite", sorted(ORBITS))
def test_one_hertz_samples_are_six_to_seven_km_apart(satellite: str) -> None:
    orbit = ORBITS[satellite]
    lat, lon = orbit.ground_track(np.arange(0, 600.0, 1.0))
    step = _haversine_km(lat[:-1], lon[:-1], lat[1:], lon[1:])
    assert 5.5 <= np.median(step) <= 7.0


def test_nadir_passes_are_continuous_tracks(twelfth_degree_truth: xr.Dataset) -> None:
    obs = observe(twelfth_degree_truth.isel(time=slice(0, 8)), nadirs=1,
                  **ONLY_NADIR)["nadir"].to_dataset()
    same = np.diff(obs.pass_number.values) == 0
    dt = np.diff(obs.time.values)[same] / np.timedelta64(1, "s")
    np.testing.assert_allclose(dt, 1.0, atol=1e-6)
    step = _haversine_km(obs.lat.values[:-1], obs.lon.values[:-1], obs.lat.values[1:],
                         obs.lon.values[1:])[same]
    assert step.max() < 7.0


def test_get_orbit_accepts_usual_spellings() -> None:
    assert get_orbit("Jason-3").name == "jason3"
    assert get_orbit("SENTINEL_3A").name == "sentinel3a"
    assert get_orbit("AltiKa").name == "saral"


def test_get_orbit_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown satellite 'geosat'; known satellites are"):
        get_orbit("geosat")


# -- SWOT ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def swot_obs(twelfth_degree_truth: xr.Dataset) -> xr.Dataset:
    truth = twelfth_degree_truth.isel(time=slice(0, 22))
    return observe(truth, nadirs=0, swot=True, swot_pixel_km=5.0, swot_noise=0.0,
                   **ONLY_NADIR)["swot"].to_dataset()


def test_swot_has_two_fifty_km_swaths_around_a_twenty_km_gap(swot_obs: xr.Dataset) -> None:
    x = np.abs(swot_obs.cross_track_distance.values)
    assert x.min() == pytest.approx(GAP_KM / 2 + 2.5)
    assert x.max() == pytest.approx(GAP_KM / 2 + SWATH_KM - 2.5)
    assert np.unique(np.round(swot_obs.cross_track_distance.values, 6)).size == 2 * 10


def test_swot_pixels_lie_across_track_at_their_distance(swot_obs: xr.Dataset) -> None:
    # Pixels of one line at +x and -x are 2x apart on the great circle through nadir.
    line = swot_obs.time.values
    x = swot_obs.cross_track_distance.values
    checked = 0
    for t in np.unique(line)[::50]:
        sel = line == t
        xs = x[sel]
        for d in np.unique(np.abs(xs)):
            right, left = sel & np.isclose(x, d), sel & np.isclose(x, -d)
            if right.any() and left.any():
                dist = _haversine_km(swot_obs.lat.values[right][0], swot_obs.lon.values[right][0],
                                     swot_obs.lat.values[left][0], swot_obs.lon.values[left][0])
                assert dist == pytest.approx(2 * d, rel=1e-6)
                checked += 1
    assert checked > 20


def test_swot_values_equal_the_truth_without_noise(
        swot_obs: xr.Dataset, twelfth_degree_truth: xr.Dataset) -> None:
    ref = sample_points(twelfth_degree_truth[["ssh"]], swot_obs[["platform"]])
    np.testing.assert_allclose(swot_obs["ssh"], ref["ssh"], atol=1e-10)


def test_karin_noise_grows_towards_swath_edges_and_falls_with_pixel_size() -> None:
    mid = GAP_KM / 2 + SWATH_KM / 2
    edges = karin_noise_std(np.array([GAP_KM / 2, GAP_KM / 2 + SWATH_KM]), 2.0, 0.02)
    assert karin_noise_std(np.array([mid]), 2.0, 0.02)[0] == pytest.approx(0.02)
    np.testing.assert_allclose(edges, 0.02 * 1.75)
    assert karin_noise_std(np.array([mid]), 8.0, 0.02)[0] == pytest.approx(0.005)
