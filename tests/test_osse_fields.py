"""Cloudy L3 SST and smoothed L4 products: cloud statistics, smoothing scales, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from xgenda.grid import mean_spacing_km
from xgenda.osse import observe
from xgenda.osse.clouds import cloud_masks
from xgenda.osse.l4 import gaussian_smooth, l4_observations
from xgenda.testing import ocean_dataset

L3_ONLY = {"nadirs": 0, "l4_sigma_km": {}, "drifters": 0, "withheld_nadir": None}
L4_ONLY = {"nadirs": 0, "sst_cloud_cover": None, "drifters": 0, "withheld_nadir": None}


@pytest.fixture(scope="module")
def truth() -> xr.Dataset:
    return ocean_dataset(40, 64, 64, land=True, seed=1)


@pytest.mark.parametrize("cover", [0.0, 0.25, 0.6, 0.9, 1.0])
def test_cloud_fraction_matches_the_setting(truth: xr.Dataset, cover: float) -> None:
    l3 = observe(truth, sst_cloud_cover=cover, **L3_ONLY)["l3_sst"]
    ocean = np.isfinite(truth["sst"].values)
    clear = np.isfinite(l3["sst"].values)
    cloudy_fraction = 1.0 - clear.sum(axis=(1, 2)) / ocean.sum(axis=(1, 2))
    np.testing.assert_allclose(cloudy_fraction, cover, atol=0.01)
    np.testing.assert_allclose(l3["cloud_fraction"], cover, atol=0.01)


def test_cloud_masks_are_correlated_from_day_to_day() -> None:
    cover = 0.6
    ocean = np.ones((60, 64, 64), dtype=bool)
    cloudy = cloud_masks(ocean, cover, 14.0, 17.0, np.random.default_rng(0))
    stay = (cloudy[1:] & cloudy[:-1]).sum() / cloudy[:-1].sum()
    far = (cloudy[30:] & cloudy[:-30]).sum() / cloudy[:-30].sum()
    # By chance a cloudy pixel is cloudy the next day with probability `cover`.
    assert stay > cover + 0.12
    assert far == pytest.approx(cover, abs=0.08)


def test_cloud_masks_move_and_change() -> None:
    cloudy = cloud_masks(np.ones((10, 64, 64), dtype=bool), 0.5, 14.0, 17.0,
                         np.random.default_rng(1))
    assert (cloudy[1:] != cloudy[:-1]).mean(axis=(1, 2)).min() > 0.02


def test_frozen_clouds_stay_put(truth: xr.Dataset) -> None:
    frozen = {"speed_km_day": 0.0, "lifetime_days": float("inf")}
    l3 = observe(truth, cloud_options=frozen, **L3_ONLY)["l3_sst"]
    clear = np.isfinite(l3["sst"].values)
    np.testing.assert_array_equal(clear[0], clear[-1])


def test_l3_sst_is_truth_plus_noise_where_clear(truth: xr.Dataset) -> None:
    l3 = observe(truth, sst_cloud_cover=0.5, sst_noise=0.3, **L3_ONLY)["l3_sst"]
    diff = (l3["sst"] - truth["sst"]).values
    diff = diff[np.isfinite(diff)]
    assert abs(diff.mean()) < 0.01
    assert diff.std() == pytest.approx(0.3, rel=0.02)
    assert np.nanmax(l3["sst_error"].values) == np.nanmin(l3["sst_error"].values) == 0.3


def test_l3_sst_never_observes_land(truth: xr.Dataset) -> None:
    l3 = observe(truth, sst_cloud_cover=0.0, **L3_ONLY)["l3_sst"]
    np.testing.assert_array_equal(np.isfinite(l3["sst"].values), np.isfinite(truth["sst"].values))


def test_bad_cloud_cover_in_cloud_masks_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"cloud cover must be a fraction in \[0, 1\]"):
        cloud_masks(np.ones((2, 8, 8), dtype=bool), 1.2, 10.0, 10.0, np.random.default_rng(0))


# -- L4 ------------------------------------------------------------------------------------

def _waves(nt: int, ny: int, nx: int, wavelength_px: float, period_days: float | None
           ) -> xr.Dataset:
    """sst = cos(2 pi j / wavelength) (+ a slow oscillation in time) on the standard box."""
    grid = ocean_dataset(nt, ny, nx, land=False, variables=("sst",))
    j = np.arange(nx)
    t = np.arange(nt)
    wave = np.cos(2 * np.pi * j / wavelength_px)[None, None, :] * np.ones((nt, ny, 1))
    if period_days is not None:
        wave = np.cos(2 * np.pi * t / period_days)[:, None, None] * np.ones((1, ny, nx))
    return grid.assign(sst=(("time", "lat", "lon"), wave, grid["sst"].attrs))


def _amplitude(field: np.ndarray, pattern: np.ndarray) -> float:
    return float(np.sum(field * pattern) / np.sum(pattern * pattern))


@pytest.mark.parametrize("wavelength_px", [8.0, 12.0, 24.0])
def test_l4_blur_has_the_gaussian_transfer_function_of_its_sigma(wavelength_px: float) -> None:
    truth = _waves(3, 40, 96, wavelength_px, None)
    sigma_km = 25.0
    l4 = l4_observations(truth, "sst", np.random.default_rng(0), sigma_km=sigma_km, error=0.0)
    dx_km, _ = mean_spacing_km(truth)
    k = 2 * np.pi / (wavelength_px * dx_km)  # rad per km
    inner = slice(24, 72)  # away from the reflecting edges
    pattern = truth["sst"].values[1][:, inner]
    power_ratio = _amplitude(l4["sst"].values[1][:, inner], pattern) ** 2
    assert power_ratio == pytest.approx(np.exp(-(k**2) * sigma_km**2), rel=0.02, abs=1e-4)


def test_l4_time_window_has_the_gaussian_transfer_function_of_its_sigma() -> None:
    period, sigma_days = 10.0, 2.0
    truth = _waves(60, 8, 8, 8.0, period)
    l4 = l4_observations(truth, "sst", np.random.default_rng(0), sigma_km=1.0,
                         sigma_days=sigma_days, error=0.0)
    inner = slice(15, 45)
    ratio = _amplitude(l4["sst"].values[inner], truth["sst"].values[inner])
    omega = 2 * np.pi / period
    assert ratio == pytest.approx(np.exp(-(omega**2) * sigma_days**2 / 2), rel=0.02)
    assert l4.attrs["window_days"] == sigma_days


def test_gaussian_smooth_of_white_noise_has_the_variance_of_its_kernel() -> None:
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((40, 160, 160))
    sy, sx = 2.0, 3.0
    smooth = gaussian_smooth(noise, (sy, sx))[:, 16:-16, 16:-16]
    # Sum of squared weights of a normalised 2-D Gaussian kernel: 1 / (4 pi sy sx).
    assert smooth.var() == pytest.approx(1.0 / (4 * np.pi * sy * sx), rel=0.05)


def test_gaussian_smooth_keeps_land_and_does_not_leak_it() -> None:
    field = np.ones((2, 20, 20))
    field[:, :5, :5] = np.nan
    out = gaussian_smooth(field, (3.0, 3.0), 1.0)
    assert np.isnan(out[:, :5, :5]).all()
    np.testing.assert_allclose(out[np.isfinite(field)], 1.0)


def test_l4_error_has_the_requested_std_and_is_spatially_correlated(truth: xr.Dataset) -> None:
    clean = l4_observations(truth, "ssh", np.random.default_rng(0), sigma_km=25.0, error=0.0)
    noisy = l4_observations(truth, "ssh", np.random.default_rng(0), sigma_km=25.0, error=0.03)
    err = (noisy["ssh"] - clean["ssh"]).values
    ocean = np.isfinite(err)
    assert np.sqrt(np.mean(err[ocean] ** 2)) == pytest.approx(0.03, rel=0.25)
    assert np.sqrt(np.nanmean(noisy["ssh_error"].values ** 2)) == pytest.approx(0.03, rel=1e-6)
    a, b = err[:, :, :-1], err[:, :, 1:]
    both = np.isfinite(a) & np.isfinite(b)
    assert np.corrcoef(a[both], b[both])[0, 1] > 0.8


def test_l4_products_carry_their_smoothing_scales(truth: xr.Dataset) -> None:
    obs = observe(truth, l4_sigma_km={"ssh": 30.0, "sss": 10.0}, l4_sigma_days=0.0, **L4_ONLY)
    assert set(obs.children) == {"l4_ssh", "l4_sss"}
    assert obs["l4_ssh"].attrs["sigma_km"] == 30.0
    assert obs["l4_sss"].attrs["genda_obs"] == "smoothed"
    assert "window_days" not in obs["l4_ssh"].attrs


def test_l4_on_land_stays_nan(truth: xr.Dataset) -> None:
    l4 = observe(truth, **L4_ONLY)["l4_sst"]
    np.testing.assert_array_equal(np.isfinite(l4["sst"].values), np.isfinite(truth["sst"].values))


def test_bad_l4_sigma_is_a_clear_error(truth: xr.Dataset) -> None:
    with pytest.raises(ValueError, match="must be a positive blur in km"):
        observe(truth, l4_sigma_km={"ssh": -5.0}, **L4_ONLY)


def test_irregular_daily_time_is_accepted() -> None:
    truth = ocean_dataset(6, 16, 16, land=False)
    truth = truth.assign_coords(time=pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-04",
                                                     "2020-01-05", "2020-01-06", "2020-01-08"]))
    obs = observe(truth, nadirs=1, drifters=2)
    assert obs["l4_ssh"].sizes["time"] == 6
