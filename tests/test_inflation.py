"""Inflation of the ensemble's anomalies by scale: filter, invariants, assimilation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xgenda
from xgenda._inflation import KM_PER_DEG, inflate, inflate_dataset, lowpass
from xgenda.calibration import inflation_grid
from xgenda.config import Configuration, Inflation


def _grid(n_lat: int = 24, n_lon: int = 32, res: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    return 30.0 + res * np.arange(n_lat), -60.0 + res * np.arange(n_lon)


def test_lowpass_passes_half_the_amplitude_at_the_split_wavelength():
    """A zonal sinusoid at the equator of a grid that goes round the globe (the filter
    wraps): transfer exp(-2 pi^2 s^2 / L^2) = 1/2 at the wavelength L, ~1 far above it."""
    lon = -180.0 + 0.5 * np.arange(720)
    lat = np.array([-0.5, 0.0, 0.5])
    x_km = lon * KM_PER_DEG
    ocean = np.ones((lat.size, lon.size), bool)
    for wavelength, expected in ((600.0, 0.5), (6000.0, 0.5 ** (1 / 100))):
        wave = np.cos(2 * np.pi * x_km / wavelength)[None].repeat(3, axis=0)
        low = lowpass(wave, ocean, lat, lon, 600.0)[1]
        amplitude = np.sqrt(2 * np.mean(low**2))
        np.testing.assert_allclose(amplitude, expected, rtol=0.02)


def test_inflation_keeps_the_mean_and_scales_each_band_by_its_factor():
    lat, lon = _grid()
    rng = np.random.default_rng(0)
    ocean = np.ones((lat.size, lon.size), bool)
    ocean[:5, :7] = False  # a coast: left out of the averages
    offsets = rng.normal(size=(6, 1, 1))  # a large-scale (uniform) anomaly per member
    checker = np.indices(ocean.shape).sum(axis=0) % 2 * 2.0 - 1.0  # grid-scale
    signs = rng.choice([-1.0, 1.0], size=(6, 1, 1))
    base = rng.normal(size=ocean.shape)
    members = np.where(ocean, base + offsets + 0.3 * signs * checker, np.nan)
    out = inflate(members, ocean, lat, lon, Inflation(1.7, 0.6, 200.0))
    assert np.isnan(out[:, ~ocean]).all()
    assert np.isfinite(out[:, ocean]).all()
    np.testing.assert_allclose(out[:, ocean].mean(axis=0), members[:, ocean].mean(axis=0),
                               atol=1e-12)
    anomaly = out - out.mean(axis=0)
    # a uniform field is its own low-pass over any mask (normalized convolution)
    large = np.nanmean(anomaly, axis=(1, 2))
    np.testing.assert_allclose(large, 1.7 * (offsets - offsets.mean()).ravel(), rtol=1e-9)
    # the checkerboard is far below 200 km on a 25 km grid: scaled by `small`
    small = np.nanmean((anomaly - large[:, None, None]) * checker, axis=(1, 2))
    ref = 0.3 * (signs - signs.mean()).ravel()
    np.testing.assert_allclose(small, 0.6 * ref, rtol=0.01, atol=1e-3)


def test_inflation_off_or_one_member_changes_nothing():
    lat, lon = _grid()
    ocean = np.ones((lat.size, lon.size), bool)
    members = np.random.default_rng(1).normal(size=(4, lat.size, lon.size))
    assert inflate(members, ocean, lat, lon, Inflation()) is members
    one = members[:1]
    assert inflate(one, ocean, lat, lon, Inflation(2.0)) is one


def test_inflate_dataset_needs_members():
    ds = xr.Dataset({"ssh": (("lat", "lon"), np.zeros((3, 3)))},
                    coords={"lat": [0.0, 1.0, 2.0], "lon": [0.0, 1.0, 2.0]})
    with pytest.raises(ValueError, match="needs an ensemble with a 'member' dim"):
        inflate_dataset(ds, Inflation(1.5))


@pytest.fixture
def setup(in_prior_range):
    pytest.importorskip("torch")
    from xgenda.testing import gaussian_prior, point_observations

    prior = gaussian_prior(8, mean=0.1, std=0.2)[0]
    template = xgenda.grid.regular(lon=(-60, -58), lat=(35, 37), res_deg=0.25,
                                   time=pd.date_range("2020-01-01", periods=2))
    obs = in_prior_range(point_observations(template, n=40, error=0.05, seed=2), 0.1, 0.2)
    return prior, template, obs


@pytest.mark.usefixtures("one_torch_thread")
def test_assimilate_applies_the_inflation_that_calibrate_applies_afterwards(setup):
    """The engine inflates each time's members in its block; the same function on the
    un-inflated ensemble gives the same numbers, and the chunking does not matter."""
    prior, template, obs = setup
    plain = xgenda.assimilate(template, prior, obs, members=5, seed=4).compute()
    inflation = Inflation(1.6, 0.8, 150.0)
    ens = xgenda.assimilate(template.chunk({"time": 1}), prior, obs, members=5, seed=4,
                            inflation=inflation).compute()
    assert Configuration.from_json(ens.attrs["configuration"]).inflation == inflation
    after = inflate_dataset(plain, inflation)
    np.testing.assert_allclose(ens.ssh.values, after.ssh.values, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ens.ssh.mean("member").values,
                               plain.ssh.mean("member").values, atol=1e-6)
    ratio = float(ens.ssh.std("member").mean() / plain.ssh.std("member").mean())
    assert 0.8 < ratio < 1.6  # each band moved by its factor
    assert abs(ratio - 1) > 0.05


def test_inflation_grid_varies_only_the_inflation():
    base = Configuration()
    grid = inflation_grid(base, large=(1.0, 1.5), small=(1.0, 0.9), wavelength_km=150.0)
    assert [(c.inflation.large, c.inflation.small) for c in grid] == [
        (1.0, 1.0), (1.0, 0.9), (1.5, 1.0), (1.5, 0.9)]
    assert all(c.inflation.wavelength_km == 150.0 for c in grid)
    assert {c.sampler for c in grid} == {base.sampler}
    with pytest.raises(ValueError, match="at least one large-scale"):
        inflation_grid(base, large=())
