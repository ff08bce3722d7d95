"""Along-track evaluation (ODC 2021a): RMSE scores and Welch PSD score on track segments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from xgenda.diagnostics import alongtrack
from xgenda.grid import EARTH_RADIUS_M, regular
from xgenda.testing import ocean_dataset, raise_if_dask_computes

CROSSING = np.sqrt(-2.0 * np.log(1.0 - 1.0 / np.sqrt(2.0))) / (2.0 * np.pi)
LAT0 = 37.0


def zonal_world(sigma_km: float = 30.0, seed: int = 0) -> tuple[xr.Dataset, xr.Dataset]:
    """A truth varying only along lon (a sum of 400 random sinusoids of x in km at LAT0)
    and its exact Gaussian-filtered map, on a 0.05 degree grid, constant in time."""
    g = regular(lon=(-70.0, -50.0), lat=(36.5, 37.5), res_deg=0.05,
                time=pd.date_range("2020-01-01", periods=3))
    x_km = np.deg2rad(g.lon.values + 70.0) * EARTH_RADIUS_M / 1000 * np.cos(np.deg2rad(LAT0))
    rng = np.random.default_rng(seed)
    k = np.exp(rng.uniform(np.log(1 / 2000), np.log(1 / 10), 400))
    amp, phase = k**-0.5, rng.uniform(0, 2 * np.pi, 400)
    gain = np.exp(-((2 * np.pi * k * sigma_km) ** 2) / 2)

    def field(weights: np.ndarray) -> xr.Dataset:
        row = (amp * weights * np.cos(2 * np.pi * k * x_km[:, None] + phase)).sum(-1)
        data = np.broadcast_to(row, (3, g.sizes["lat"], g.sizes["lon"])).copy()
        return xr.Dataset({"ssh": (("time", "lat", "lon"), data, {"units": "m"})},
                          coords=g.coords)

    return field(np.ones_like(k)), field(gain)


def zonal_tracks(truth: xr.Dataset, lats: tuple[float, ...] = (LAT0,), spacing_km: float = 7.0,
                 lon: tuple[float, float] = (-69.9, -50.1)) -> xr.Dataset:
    """1 Hz zonal tracks (one pass each) sampling ``truth`` exactly."""
    parts = []
    for i, la in enumerate(lats):
        dlon = np.rad2deg(spacing_km / (EARTH_RADIUS_M / 1000 * np.cos(np.deg2rad(la))))
        lo = np.arange(lon[0], lon[1], dlon)
        t = np.datetime64("2020-01-01T06") + np.timedelta64(3600 * i, "s") + \
            np.arange(lo.size).astype("timedelta64[s]")
        parts.append(pd.DataFrame({"lat": la, "lon": lo, "time": t, "pass_number": i}))
    df = pd.concat(parts, ignore_index=True)
    trk = xr.Dataset(coords={c: ("obs", df[c].values) for c in df.columns},
                     attrs={"genda_obs": "points"})
    trk["ssh"] = ("obs", truth.genda.sample_points(trk).ssh.values, {"units": "m"})
    return trk


def test_lambda_x_of_gaussian_filtered_map_matches_analytic() -> None:
    truth, smooth = zonal_world(sigma_km=30.0)
    tracks = zonal_tracks(truth, lats=(LAT0,))
    out = alongtrack.alongtrack_psd_score(smooth, tracks, segment_km=1000.0)
    assert float(out.lambda_x) == pytest.approx(30.0 / CROSSING, rel=0.03)
    assert out.lambda_x.attrs["units"] == "km"
    assert out.attrs["track_spacing_km"] == pytest.approx(7.0, rel=1e-3)
    assert out.attrs["segment_points"] == int(1000.0 / out.attrs["track_spacing_km"])


def test_welch_spectrum_matches_scipy_on_one_segment() -> None:
    import scipy.signal

    truth, smooth = zonal_world()
    tracks = zonal_tracks(truth, lon=(-69.9, -58.0))  # ~1000 km: a single segment
    out = alongtrack.alongtrack_psd_score(smooth, tracks, segment_km=900.0)
    assert int(out.n_segments) == 1
    npt = out.attrs["segment_points"]
    k, p = scipy.signal.welch(tracks.ssh.values[:npt], fs=1 / out.attrs["track_spacing_km"],
                              nperseg=npt)
    np.testing.assert_allclose(out.wavenumber.values, k)
    np.testing.assert_allclose(out.psd_obs.values, p)


def test_rmse_scores_match_numpy() -> None:
    truth = ocean_dataset(nt=4, ny=16, nx=20, land=False)
    rng = np.random.default_rng(1)
    t = truth.time.values[0] + (np.sort(rng.uniform(0, 3 * 86400, 300)) * 1e9).astype(
        "timedelta64[ns]")
    tracks = xr.Dataset(coords={"time": ("obs", t), "lat": ("obs", rng.uniform(34, 42, 300)),
                                "lon": ("obs", rng.uniform(-64, -56, 300))})
    tracks["ssh"] = ("obs", truth.genda.sample_points(tracks).ssh.values + 0.05 *
                     rng.standard_normal(300), {"units": "m"})
    out = alongtrack.alongtrack_rmse_scores(truth, tracks)
    mapped = truth.genda.sample_points(tracks).ssh.values
    err, ref = mapped - tracks.ssh.values, tracks.ssh.values
    day = pd.DatetimeIndex(t).floor("D")
    daily = [1 - np.sqrt(np.mean(err[day == d] ** 2)) / np.sqrt(np.mean(ref[day == d] ** 2))
             for d in np.unique(day)]
    assert float(out.mu) == pytest.approx(1 - np.sqrt(np.mean(err**2)) / np.sqrt(np.mean(ref**2)))
    assert float(out.sigma) == pytest.approx(np.std(daily))
    np.testing.assert_allclose(out.score_t.values, daily)
    assert float(out.rmse) == pytest.approx(np.sqrt(np.mean(err**2)))


def test_perfect_map_scores_one() -> None:
    truth, _ = zonal_world()
    tracks = zonal_tracks(truth, lats=(36.8, 37.2))
    out = alongtrack.alongtrack_scores(truth, tracks, segment_km=500.0)
    assert float(out.mu) == pytest.approx(1.0, abs=1e-6)
    assert float(out.lambda_x) == pytest.approx(float(out.wavelength[-1]))


def test_ensemble_mean_is_evaluated() -> None:
    truth, _ = zonal_world()
    tracks = zonal_tracks(truth)
    ens = xr.concat([truth + 0.5, truth - 0.5], dim="member")
    out = alongtrack.alongtrack_rmse_scores(ens, tracks)
    assert float(out.rmse) == pytest.approx(0.0, abs=1e-9)


def test_segments_follow_passes_and_gaps() -> None:
    truth, _ = zonal_world()
    tracks = zonal_tracks(truth, lats=(36.8, 37.2))
    segments, dx = alongtrack.track_segments(tracks, segment_km=600.0, overlap=0.0)
    passes = tracks.pass_number.values[segments]
    assert (passes == passes[:, :1]).all()  # no segment straddles two passes
    steps = np.diff(tracks.lon.values[segments], axis=1)
    assert (steps > 0).all()
    assert dx == pytest.approx(7.0, rel=1e-3)
    # a pass of 252 points holds 2 segments of 85; a 20-point gap after 560 km leaves 1
    assert len(segments) == 4
    gappy = tracks.isel(obs=np.r_[0:80, 100:tracks.sizes["obs"]])
    broken, _ = alongtrack.track_segments(gappy, segment_km=600.0, overlap=0.0)
    assert len(broken) == 3
    assert not ((broken < 80).any(axis=1) & (broken >= 80).any(axis=1)).any()


def test_too_few_points_for_welch_raise() -> None:
    truth, smooth = zonal_world()
    short = zonal_tracks(truth, lon=(-69.9, -66.0))  # ~350 km of track
    with pytest.raises(ValueError, match="too few points for along-track Welch segments"):
        alongtrack.alongtrack_psd_score(smooth, short, segment_km=1000.0)
    with pytest.raises(ValueError, match="holds only"):
        alongtrack.alongtrack_psd_score(smooth, short, segment_km=30.0)


def test_segments_on_land_are_left_out() -> None:
    truth, smooth = zonal_world()
    tracks = zonal_tracks(truth, lats=(36.8, 37.2))
    land = smooth.where(smooth.lat < 37.0)  # the northern track crosses only land
    full = alongtrack.alongtrack_psd_score(smooth, tracks, segment_km=500.0)
    half = alongtrack.alongtrack_psd_score(land, tracks, segment_km=500.0)
    assert int(half.n_segments) == int(full.n_segments) // 2
    assert np.isfinite(float(half.lambda_x))


def test_alongtrack_scores_are_lazy() -> None:
    truth, smooth = zonal_world()
    tracks = zonal_tracks(truth)
    with raise_if_dask_computes():
        out = alongtrack.alongtrack_scores(smooth.chunk({"time": 1}), tracks, segment_km=800.0)
    assert out.lambda_x.chunks is not None
    assert out.mu.chunks is not None
    eager = alongtrack.alongtrack_scores(smooth, tracks, segment_km=800.0)
    xr.testing.assert_allclose(out.compute(), eager)


def test_tracks_without_obs_dim_raise() -> None:
    truth, smooth = zonal_world()
    with pytest.raises(ValueError, match="no 'obs' dim"):
        alongtrack.alongtrack_rmse_scores(smooth, truth)


def test_accessor_delegates() -> None:
    truth, smooth = zonal_world()
    tracks = zonal_tracks(truth)
    xr.testing.assert_identical(smooth.genda.diag.alongtrack_scores(tracks, segment_km=800.0),
                                alongtrack.alongtrack_scores(smooth, tracks, segment_km=800.0))
