"""Optimal interpolation: exact Gaussian-process posterior, L3 input, laziness, OSSE skill."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xgenda
from xgenda.baselines import optimal_interpolation
from xgenda.testing import ocean_dataset, point_observations, raise_if_dask_computes

R_KM = 6371.0


def gp_posterior(obs_t: np.ndarray, obs_lat: np.ndarray, obs_lon: np.ndarray, y: np.ndarray,
                 grid: list[tuple[float, float, float]], *, lx: float, ly: float, lt: float,
                 s2: float, noise_var: np.ndarray, mean: float) -> tuple[np.ndarray, np.ndarray]:
    """Dense GP regression written out point by point (the reference)."""
    def k(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
        dx = R_KM * np.deg2rad(a[2] - b[2]) * np.cos(np.deg2rad((a[1] + b[1]) / 2))
        dy = R_KM * np.deg2rad(a[1] - b[1])
        return s2 * np.exp(-(dx / lx) ** 2 - (dy / ly) ** 2 - ((a[0] - b[0]) / lt) ** 2)

    pts = list(zip(obs_t, obs_lat, obs_lon, strict=True))
    koo = np.array([[k(a, b) for b in pts] for a in pts]) + np.diag(noise_var)
    kgo = np.array([[k(g, b) for b in pts] for g in grid])
    post_mean = mean + kgo @ np.linalg.solve(koo, y - mean)
    post_var = s2 - np.einsum("ij,ji->i", kgo, np.linalg.solve(koo, kgo.T))
    return post_mean, post_var


def days(values: np.ndarray, t0: np.datetime64) -> np.ndarray:
    return (values - t0) / np.timedelta64(1, "D")


@pytest.fixture
def small() -> tuple[xr.Dataset, xr.Dataset]:
    ds = ocean_dataset(nt=3, ny=6, nx=7, land=False)
    return ds, point_observations(ds, n=25, seed=1)


def test_oi_equals_exact_gaussian_process_posterior(small: tuple[xr.Dataset, xr.Dataset]
                                                    ) -> None:
    ds, obs = small
    oi = optimal_interpolation(obs, ds, Lx_km=150, Ly_km=100, Lt_days=2, noise=0.1, mean=0.2,
                               signal_var=0.5, time_window_days=100)
    t0 = ds.time.values[0]
    grid = [(t, la, lo) for t in days(ds.time.values, t0) for la in ds.lat.values
            for lo in ds.lon.values]
    mean, var = gp_posterior(days(obs.time.values, t0), obs.lat.values, obs.lon.values,
                             obs.ssh.values, grid, lx=150, ly=100, lt=2, s2=0.5,
                             noise_var=np.full(25, 0.05), mean=0.2)
    np.testing.assert_allclose(oi.ssh.values.ravel(), mean, atol=1e-12)
    np.testing.assert_allclose(oi.ssh_error.values.ravel(), np.sqrt(var), atol=1e-12)
    assert oi.ssh.attrs["units"] == "m"
    assert oi.ssh_error.attrs["units"] == "m"
    assert oi.attrs["method"] == "optimal_interpolation"


def test_oi_with_observation_errors_and_fitted_prior(small: tuple[xr.Dataset, xr.Dataset]
                                                     ) -> None:
    ds, obs = small
    obs["ssh_error"] = ("obs", np.linspace(0.01, 0.2, 25), {"units": "m"})
    oi = optimal_interpolation(obs, ds, noise="obs", time_window_days=100)
    y = obs.ssh.values
    t0 = ds.time.values[0]
    grid = [(t, la, lo) for t in days(ds.time.values, t0) for la in ds.lat.values
            for lo in ds.lon.values]
    mean, var = gp_posterior(days(obs.time.values, t0), obs.lat.values, obs.lon.values, y,
                             grid, lx=111, ly=111, lt=7, s2=float(np.var(y - y.mean())),
                             noise_var=obs.ssh_error.values**2, mean=float(y.mean()))
    np.testing.assert_allclose(oi.ssh.values.ravel(), mean, atol=1e-10)
    np.testing.assert_allclose(oi.ssh_error.values.ravel(), np.sqrt(var), atol=1e-10)


def test_time_window_limits_the_observations(small: tuple[xr.Dataset, xr.Dataset]) -> None:
    ds, obs = small
    first_day = obs.isel(obs=np.flatnonzero(obs.time.values < ds.time.values[1]))
    windowed = optimal_interpolation(obs, ds, Lt_days=0.25, time_window_days=0.5, mean=0.0,
                                     signal_var=1.0)
    only = optimal_interpolation(first_day, ds, Lt_days=0.25, time_window_days=0.5, mean=0.0,
                                 signal_var=1.0)
    # at the first analysis time the window holds exactly the first half-day's observations
    near = first_day.isel(obs=np.flatnonzero(
        days(first_day.time.values, ds.time.values[0]) <= 0.5))
    ref = optimal_interpolation(near, ds.isel(time=[0]), Lt_days=0.25, time_window_days=0.5,
                                mean=0.0, signal_var=1.0)
    np.testing.assert_allclose(windowed.ssh.isel(time=0).values, ref.ssh.isel(time=0).values)
    np.testing.assert_allclose(only.ssh.isel(time=0).values, ref.ssh.isel(time=0).values)


def test_no_observation_in_window_gives_the_prior() -> None:
    ds = ocean_dataset(nt=3, ny=4, nx=5, land=False)
    obs = point_observations(ds, n=10).isel(obs=slice(0, 3))
    obs = obs.assign_coords(time=obs.time - np.timedelta64(30, "D"))
    oi = optimal_interpolation(obs, ds, mean=0.3, signal_var=0.04, time_window_days=5)
    np.testing.assert_allclose(oi.ssh.values, 0.3)
    np.testing.assert_allclose(oi.ssh_error.values, 0.2)


def test_prior_mean_field_is_added_back(small: tuple[xr.Dataset, xr.Dataset]) -> None:
    ds, obs = small
    mdt = (0.1 * ds.lat / ds.lat.max()).broadcast_like(ds.lon).transpose("lat", "lon")
    with_field = optimal_interpolation(obs, ds, mean=mdt, signal_var=0.5, time_window_days=100)
    anomalies = obs.copy()
    anomalies["ssh"] = obs.ssh - mdt.genda.sample_points(obs).values
    zero = optimal_interpolation(anomalies, ds, mean=0.0, signal_var=0.5, time_window_days=100)
    np.testing.assert_allclose(with_field.ssh.values, (zero.ssh + mdt).values, atol=1e-12)


def test_gridded_l3_observations_equal_their_points() -> None:
    ds = ocean_dataset(nt=3, ny=6, nx=7, land=False, variables=("sst",))
    rng = np.random.default_rng(0)
    l3 = ds.where(rng.uniform(size=ds.sst.shape) > 0.7)
    l3["sst_error"] = xr.full_like(l3.sst, 0.3).where(l3.sst.notnull())
    stacked = l3.stack(obs=("time", "lat", "lon")).reset_index("obs")
    points = stacked.isel(obs=np.flatnonzero(stacked.sst.notnull().values))
    kw = {"noise": 0.05, "time_window_days": 10.0, "Lx_km": 200.0}
    np.testing.assert_allclose(optimal_interpolation(l3, ds, "sst", **kw).sst.values,
                               optimal_interpolation(points, ds, "sst", **kw).sst.values)


def test_dense_observations_are_subsampled_reproducibly() -> None:
    ds = ocean_dataset(nt=2, ny=5, nx=5, land=False)
    obs = point_observations(ds, n=300, seed=3)
    a = optimal_interpolation(obs, ds, max_obs=50, seed=1)
    b = optimal_interpolation(obs, ds, max_obs=50, seed=1)
    c = optimal_interpolation(obs, ds, max_obs=50, seed=2)
    full = optimal_interpolation(obs, ds)
    np.testing.assert_array_equal(a.ssh.values, b.ssh.values)
    assert not np.allclose(a.ssh.values, c.ssh.values)
    # fewer observations: larger posterior error than with all 300
    assert (a.ssh_error.values >= full.ssh_error.values - 1e-12).all()
    # the subset is chosen per analysis time, independently of the time blocks
    lazy = optimal_interpolation(obs, ds.chunk({"time": 1}), max_obs=50, seed=1)
    np.testing.assert_allclose(lazy.ssh.values, a.ssh.values)


def test_oi_is_lazy_with_one_task_per_time_block(small: tuple[xr.Dataset, xr.Dataset]) -> None:
    ds, obs = small
    with raise_if_dask_computes():
        lazy = optimal_interpolation(obs, ds.chunk({"time": 2}))
        chunked_obs = optimal_interpolation(obs.chunk({"obs": 10}), ds, time_chunk=1)
    assert lazy.ssh.chunks[0] == (2, 1)
    assert chunked_obs.ssh.chunks[0] == (1, 1, 1)
    eager = optimal_interpolation(obs, ds)
    xr.testing.assert_allclose(lazy.compute(), eager)
    xr.testing.assert_allclose(chunked_obs.compute(), eager)


def test_bad_inputs_raise(small: tuple[xr.Dataset, xr.Dataset]) -> None:
    ds, obs = small
    with pytest.raises(ValueError, match="no variable 'sst'"):
        optimal_interpolation(obs, ds, "sst")
    with pytest.raises(ValueError, match="needs the variable 'ssh_error'"):
        optimal_interpolation(obs.drop_vars("ssh_error"), ds, noise="obs")
    with pytest.raises(ValueError, match="Lt_days must be positive"):
        optimal_interpolation(obs, ds, Lt_days=0)
    with pytest.raises(ValueError, match="no 'time' coordinate"):
        optimal_interpolation(obs, ds.isel(time=0, drop=True))
    with pytest.raises(ValueError, match="different grids"):
        optimal_interpolation(obs, ds, mean=ocean_dataset(nt=1, ny=5, nx=7).ssh.isel(time=0))


def test_oi_maps_simulated_altimetry_of_a_synthetic_ocean() -> None:
    truth = ocean_dataset(nt=6, ny=24, nx=24, land=False)[["ssh"]]
    obs = xgenda.osse.observe(truth, nadirs=4, sst_cloud_cover=None, l4_sigma_km={},
                              drifters=0, seed=0)
    oi = optimal_interpolation(obs["nadir"], truth, max_obs=300)
    withheld = obs["withheld/nadir"].to_dataset()
    rmse = oi.genda.diag.alongtrack_rmse_scores(withheld, "ssh", time_tolerance="12h")
    flat = truth * 0 + float(obs["nadir"].ssh.mean())
    rmse_flat = flat.genda.diag.alongtrack_rmse_scores(withheld, "ssh", time_tolerance="12h")
    assert int(rmse.n_obs) > 100
    assert float(rmse.mu) > float(rmse_flat.mu) + 0.1
    # near the floor set by the 2.5 cm instrument noise and the field's 1.5 cm pixel noise
    assert float(rmse.rmse) < 0.7 * float(rmse_flat.rmse)
    # the posterior error is smallest where the tracks are
    at_tracks = oi.ssh_error.genda.sample_points(obs["nadir"].to_dataset())
    assert float(at_tracks.mean()) < float(oi.ssh_error.mean())


def toy_world(days_: int = 20, size: int = 48) -> xr.Dataset:
    """The offline ocean world: the QG nature run when it is available."""
    datasets = pytest.importorskip("xgenda.datasets")
    if not hasattr(datasets, "toy_ocean"):
        pytest.skip("xgenda.datasets.toy_ocean is not available")
    return datasets.toy_ocean(days=days_, size=size, seed=0)


@pytest.mark.slow
def test_oi_on_toy_ocean_osse_scores_against_withheld_track() -> None:
    truth = toy_world()
    obs = xgenda.osse.observe(truth, nadirs=4, sst_cloud_cover=None, seed=0)
    oi = optimal_interpolation(obs["nadir"], truth[["ssh"]], max_obs=800)
    withheld = obs["withheld/nadir"].to_dataset()
    extent_km = float(truth.genda.diag.isotropic_spectrum("ssh").wavelength.max())
    scores = oi.genda.diag.alongtrack_scores(withheld, "ssh", segment_km=0.8 * extent_km,
                                             time_tolerance="12h")
    mu, lam = float(scores.mu), float(scores.lambda_x)
    print(f"OI on the toy-ocean OSSE: mu = {mu:.3f}, lambda_x = {lam:.0f} km")
    # the OI must beat the best constant map (mu of the fitted mean) and resolve scales
    flat = truth[["ssh"]] * 0 + float(obs["nadir"].ssh.mean())
    mu_flat = float(flat.genda.diag.alongtrack_rmse_scores(withheld, "ssh",
                                                          time_tolerance="12h").mu)
    assert mu > mu_flat + 0.1
    assert np.isfinite(lam)
    gridded = oi.genda.diag.scores(truth, "ssh")
    assert float(gridded.mu.sel(variable="ssh")) > mu_flat


@pytest.mark.parametrize("lazy", [False, True])
def test_all_nan_observations_are_refused(small: tuple[xr.Dataset, xr.Dataset],
                                          lazy: bool) -> None:
    ds, obs = small
    obs = obs.assign(ssh=obs.ssh * np.nan)
    if lazy:
        obs = obs.chunk()
    with pytest.raises(ValueError, match="'ssh' are all NaN"):
        optimal_interpolation(obs, ds.chunk({"time": 1})).compute()


@pytest.mark.parametrize("bad", [0.0, -0.02])
def test_non_positive_errors_are_refused_with_observation_noise(
        small: tuple[xr.Dataset, xr.Dataset], bad: float) -> None:
    ds, obs = small
    obs = obs.assign(ssh_error=obs.ssh_error.where(obs.obs != 3, bad))
    with pytest.raises(ValueError, match="1 non-positive error std"):
        optimal_interpolation(obs, ds, noise="obs")
    # a noise-to-signal ratio does not read the errors: they may be anything
    assert np.isfinite(optimal_interpolation(obs, ds, noise=0.05).ssh.values).all()
