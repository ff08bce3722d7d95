"""Spectra, PSD scores and effective resolution against analytic references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xgenda
from xgenda.diagnostics import spectra
from xgenda.grid import mean_spacing_km, regular
from xgenda.testing import ocean_dataset, raise_if_dask_computes

# 0.5 crossing of 1 - (1 - G)^2 for G(k) = exp(-(2 pi k s)^2 / 2): G = 1 - 1/sqrt(2)
CROSSING = np.sqrt(-2.0 * np.log(1.0 - 1.0 / np.sqrt(2.0))) / (2.0 * np.pi)


def random_field(n: int = 96, nt: int = 6, beta: float = 3.0, seed: int = 0) -> xr.DataArray:
    """Gaussian random field whose isotropic spectrum is E(k) ~ k^-beta (2-D PSD k^-(beta+1)),
    isotropic in km on a 1/12 degree grid near 35N (periodic, synthesized by FFT)."""
    g = regular(lon=(-60.0, -60.0 + n / 12), lat=(35.0, 35.0 + n / 12), res_deg=1 / 12,
                time=pd.date_range("2020-01-01", periods=nt))
    dx, dy = mean_spacing_km(g)
    k = np.fft.fftfreq(n, dx)[None, :]
    lk = np.fft.fftfreq(n, dy)[:, None]
    kk = np.hypot(k, lk)
    kk[0, 0] = np.inf
    amp = kk ** (-(beta + 1.0) / 2.0)
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((nt, n, n)) + 1j * rng.standard_normal((nt, n, n))
    data = np.real(np.fft.ifft2(noise * amp, axes=(-2, -1)))
    data /= data.std()
    return xr.DataArray(data, dims=("time", "lat", "lon"), coords=g.coords, name="ssh",
                        attrs={"units": "m"})


def gaussian_filtered(da: xr.DataArray, sigma_km: float) -> xr.DataArray:
    """Exact (spectral, periodic) Gaussian filter of std ``sigma_km``."""
    dx, dy = mean_spacing_km(da)
    k = np.fft.fftfreq(da.sizes["lon"], dx)[None, :]
    lk = np.fft.fftfreq(da.sizes["lat"], dy)[:, None]
    gain = np.exp(-((2 * np.pi * sigma_km) ** 2) * (k**2 + lk**2) / 2.0)
    out = np.real(np.fft.ifft2(np.fft.fft2(da.values, axes=(-2, -1)) * gain, axes=(-2, -1)))
    return da.copy(data=out)


@pytest.mark.parametrize("beta", [2.0, 3.0])
def test_power_law_slope_is_recovered(beta: float) -> None:
    e = spectra.isotropic_spectrum(random_field(n=128, nt=8, beta=beta))
    k = e.freq_r.values
    # the first rings hold few modes (their mean over a wide ring is biased): fit from the 4th
    slope = float(spectra.spectral_slope(e, k[3], k[-1]))
    assert slope == pytest.approx(-beta, abs=0.1)


def test_parseval_holds_for_2d_psd_without_window() -> None:
    da = random_field(n=48, nt=3, beta=1.0)
    ps = spectra.wavenumber_spectrum(da, window=None, detrend=None, average=None)
    dk = np.diff(ps.freq_lon.values)[0] * np.diff(ps.freq_lat.values)[0]
    power = (ps.sum(["freq_lat", "freq_lon"]) * dk).values
    np.testing.assert_allclose(power, (da**2).mean(["lat", "lon"]).values, rtol=1e-10)


def test_isotropic_spectrum_integrates_to_variance_with_hann_window() -> None:
    rng = np.random.default_rng(1)
    da = random_field(n=64, nt=10).copy(data=rng.standard_normal((10, 64, 64)))
    e = spectra.isotropic_spectrum(da)
    dk = np.diff(e.freq_r.values).mean()
    # white noise: the power inside the Nyquist circle is pi/4 of the square's (dx ~ dy)
    ps = spectra.wavenumber_spectrum(da)
    kr = np.hypot(ps.freq_lat, ps.freq_lon)
    kmax = float(e.freq_r.max()) + dk / 2
    inside = float(ps.where(kr <= kmax).sum()) * np.diff(ps.freq_lon.values)[0] * \
        np.diff(ps.freq_lat.values)[0]
    assert float(e.sum()) * dk == pytest.approx(inside, rel=0.05)
    total = float(ps.sum()) * np.diff(ps.freq_lon.values)[0] * np.diff(ps.freq_lat.values)[0]
    assert total == pytest.approx(float((da**2).mean()), rel=0.03)


def test_spectrum_coordinates_and_units() -> None:
    e = spectra.isotropic_spectrum(random_field(n=32, nt=2))
    assert e.freq_r.attrs["units"] == "cycles km-1"
    np.testing.assert_allclose(e.wavelength.values, 1.0 / e.freq_r.values)
    assert e.attrs["units"] == "(m)2 km"
    dx, dy = mean_spacing_km(random_field(n=32, nt=1))
    assert float(e.freq_r.max()) <= 1.0 / (2 * max(dx, dy)) + 1e-12


@pytest.mark.parametrize(("beta", "sigma_km", "rel"), [(0.0, 20.0, 0.02), (2.0, 20.0, 0.04),
                                                       (0.0, 10.0, 0.02)])
def test_effective_resolution_of_gaussian_filter_matches_analytic(
        beta: float, sigma_km: float, rel: float) -> None:
    truth = random_field(n=128, nt=8, beta=beta, seed=1)
    rec = gaussian_filtered(truth, sigma_km)
    lam = float(spectra.effective_resolution(rec, truth))
    assert lam == pytest.approx(sigma_km / CROSSING, rel=rel)


def test_lon_time_effective_resolution_matches_separable_gaussian_filter() -> None:
    n, nt, dlon = 128, 128, 0.1
    rng = np.random.default_rng(2)
    lon = -60 + dlon * np.arange(n)
    truth = xr.DataArray(
        rng.standard_normal((nt, 4, n)), dims=("time", "lat", "lon"), name="ssh",
        coords={"time": pd.date_range("2020-01-01", periods=nt), "lat": [35.0, 35.1, 35.2, 35.3],
                "lon": lon}, attrs={"units": "m"})
    sx, st = 0.5, 3.0  # degrees, days
    w = np.fft.fftfreq(nt, 1.0)[:, None, None]
    k = np.fft.fftfreq(n, dlon)[None, None, :]
    gain = np.exp(-((2 * np.pi) ** 2) * ((w * st) ** 2 + (k * sx) ** 2) / 2)
    rec = truth.copy(data=np.real(np.fft.ifftn(np.fft.fftn(truth.values, axes=(0, 2)) * gain,
                                               axes=(0, 2))))
    res = spectra.effective_resolution(rec, truth, kind="lon_time")
    # the contour's extremes sit at the lowest frequency / wavenumber, where the other
    # factor of the gain is ~0.99 rather than 1: within a few percent of the 1-D values
    assert float(res.lambda_x) == pytest.approx(sx / CROSSING, rel=0.05)
    assert float(res.lambda_t) == pytest.approx(st / CROSSING, rel=0.05)
    assert res.lambda_x.attrs["units"] == "degree"
    assert res.lambda_t.attrs["units"] == "days"


def test_wavenumber_frequency_spectrum_units_and_averaging() -> None:
    ds = ocean_dataset(nt=8, ny=6, nx=12, land=False)
    ps = spectra.wavenumber_frequency_spectrum(ds, "ssh")
    assert set(ps.dims) == {"freq_time", "freq_lon"}
    assert ps.freq_time.attrs["units"] == "cycles day-1"
    assert ps.freq_lon.attrs["units"] == "cycles degree-1"
    kept = spectra.wavenumber_frequency_spectrum(ds, "ssh", average=None)
    np.testing.assert_allclose(kept.mean("lat").values, ps.values)


def test_perfect_reconstruction_resolves_down_to_grid_scale() -> None:
    truth = random_field(n=32, nt=2)
    rec = truth + 1e-6 * random_field(n=32, nt=2, seed=3)
    lam = float(spectra.effective_resolution(rec, truth))
    e = spectra.isotropic_spectrum(truth)
    assert lam == pytest.approx(float(e.wavelength.min()))


def test_unrelated_field_has_no_effective_resolution() -> None:
    truth = random_field(n=32, nt=2)
    assert np.isnan(float(spectra.effective_resolution(random_field(n=32, nt=2, seed=5),
                                                        truth)))


def test_spectra_are_lazy_and_equal_to_numpy() -> None:
    truth = ocean_dataset(nt=4, ny=24, nx=24)
    rec = (truth + 0.01 * truth.shift(lon=1)).chunk({"time": 1})
    with raise_if_dask_computes():
        e = spectra.isotropic_spectrum(rec, "ssh")
        lam = spectra.effective_resolution(rec, truth.chunk({"time": 2}), "ssh")
        wf = spectra.effective_resolution(rec, truth, "ssh", kind="lon_time")
    assert e.chunks is not None
    assert lam.chunks is not None
    np.testing.assert_allclose(e.values, spectra.isotropic_spectrum(rec.compute(), "ssh").values)
    eager = spectra.effective_resolution(rec.compute(), truth, "ssh")
    np.testing.assert_allclose(float(lam), float(eager))
    assert wf.lambda_x.chunks is not None


def test_chunked_core_dims_are_rechunked() -> None:
    da = random_field(n=32, nt=4)
    chunked = da.chunk({"lat": 8, "lon": 16, "time": 1})
    np.testing.assert_allclose(spectra.isotropic_spectrum(chunked).values,
                               spectra.isotropic_spectrum(da).values)
    wf = spectra.wavenumber_frequency_spectrum(chunked.chunk({"time": 1}))
    np.testing.assert_allclose(wf.values, spectra.wavenumber_frequency_spectrum(da).values)


def test_land_keeps_variance_per_ocean_area() -> None:
    rng = np.random.default_rng(4)
    da = random_field(n=64, nt=8).copy(data=rng.standard_normal((8, 64, 64)))
    land = da.where((da.lat > 36.0) | (da.lon > -58.0))  # a 1x2 degree land block
    assert land.isnull().any()
    ps = spectra.wavenumber_spectrum(land)
    assert np.isfinite(ps.values).all()
    power = float(ps.sum()) * np.diff(ps.freq_lon.values)[0] * np.diff(ps.freq_lat.values)[0]
    assert power == pytest.approx(float((land**2).mean()), rel=0.05)


def test_land_does_not_bias_effective_resolution() -> None:
    truth = random_field(n=96, nt=8, beta=1.0, seed=1)
    rec = gaussian_filtered(truth, 20.0)
    mask = (truth.lat > 35.8) | (truth.lon > -59.0)
    lam = float(spectra.effective_resolution(rec.where(mask), truth.where(mask)))
    assert lam == pytest.approx(20.0 / CROSSING, rel=0.05)


def test_ensemble_mean_is_scored_by_default() -> None:
    truth = random_field(n=32, nt=2)
    noise = 0.3 * random_field(n=32, nt=2, seed=3)
    ens = xr.concat([truth + noise, truth - noise], dim="member")
    score = spectra.psd_score(ens, truth)
    # the mean is the truth: error spectrum 0, score 1
    np.testing.assert_allclose(score.values, 1.0)
    each = spectra.psd_score(ens, truth, member="each")
    assert np.all(each.values < 1.0)


def test_accessor_delegates() -> None:
    ds = ocean_dataset(nt=2, ny=24, nx=24, land=False)
    np.testing.assert_allclose(ds.genda.diag.isotropic_spectrum("ssh").values,
                               spectra.isotropic_spectrum(ds, "ssh").values)
    assert isinstance(ds.genda.diag, xgenda.diagnostics.Diagnostics)


def test_mismatched_grids_raise() -> None:
    truth = ocean_dataset(nt=2, ny=16, nx=16)
    other = ocean_dataset(nt=2, ny=16, nx=16, lon=(-66.0, -56.0))
    with pytest.raises(ValueError, match=r"different grids along 'lon'.*regrid"):
        spectra.effective_resolution(other, truth, "ssh")


def test_no_common_time_raises() -> None:
    truth = ocean_dataset(nt=2, ny=16, nx=16)
    later = ocean_dataset(nt=2, ny=16, nx=16, start="2021-01-01")
    with pytest.raises(ValueError, match="share no time"):
        spectra.psd_score(later, truth, "ssh")


def test_missing_dims_raise() -> None:
    da = random_field(n=16, nt=2).isel(lon=0)
    with pytest.raises(ValueError, match=r"no 'lon' coordinate|lacks dimension"):
        spectra.isotropic_spectrum(da.drop_vars("lon"))
    with pytest.raises(ValueError, match="'time'"):
        spectra.wavenumber_frequency_spectrum(random_field(n=16, nt=2).isel(time=0,
                                                                             drop=True))


def test_too_small_and_uneven_axes_raise() -> None:
    with pytest.raises(ValueError, match="at least 4 points"):
        spectra.isotropic_spectrum(random_field(n=16, nt=1).isel(lat=slice(0, 3)))
    ds = ocean_dataset(nt=6, ny=8, nx=8).isel(time=[0, 1, 2, 4, 5])
    with pytest.raises(ValueError, match="evenly spaced 'time'"):
        spectra.wavenumber_frequency_spectrum(ds, "ssh")


def test_dataset_needs_a_variable_name() -> None:
    with pytest.raises(ValueError, match="say which one"):
        spectra.isotropic_spectrum(ocean_dataset(nt=1))
