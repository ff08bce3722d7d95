"""Window (space-time) priors: K consecutive days as one state.

The prior, its training on windows of consecutive days, the routing of every
observation to the frame of its own day, determinism across chunkings, and the
centre frame of the analysis against the exact Gaussian conditional of an
AR(1)-in-time, Gaussian-in-space field; trajectories composed from the windows
(``Window(trajectory_days=L)``): the assembly, its exact limit at small noise on the
Markov AR(1) field, the guided posterior of the observed day against the exact Kalman
posterior, and the engine.
"""

from __future__ import annotations

import json
import math

import dask
import numpy as np
import pandas as pd
import pytest
import xarray as xr

torch = pytest.importorskip("torch")

import xgenda  # noqa: E402
from xgenda import _engine, cli  # noqa: E402
from xgenda.config import MMPS, Configuration, Heun, Window, from_json  # noqa: E402
from xgenda.diffusion.composition import ComposedDenoiser, composition_sources  # noqa: E402
from xgenda.diffusion.guidance import guided_denoiser  # noqa: E402
from xgenda.diffusion.samplers import run_sampler  # noqa: E402
from xgenda.obs import collect  # noqa: E402
from xgenda.prior import Prior  # noqa: E402
from xgenda.stream import missing_times, resume_to_zarr  # noqa: E402
from xgenda.testing import (  # noqa: E402
    GaussianDenoiser,
    ar1_window_covariance,
    gaussian_covariance,
    gaussian_prior,
)
from xgenda.training import TrainConfig, WindowSampler  # noqa: E402

MEAN, STD = 0.1, 0.2  # physical ssh = MEAN + STD * normalized state
RHO = 0.7  # lag-one correlation of the AR(1)-in-time field
N = 8  # the grid is N x N pixels, one patch
TINY_UNET = {"base_channels": 8, "channel_mult": [1, 2], "num_blocks": 1,
             "attn_resolutions": [], "dropout": 0.0}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def window():
    """A 3-day window prior of ssh with its exact Gaussian denoiser."""
    return gaussian_prior(N, mean=MEAN, std=STD, frames=3, correlation=RHO)


def _template(days: int = 1, start: str = "2020-01-02") -> xr.Dataset:
    g = xgenda.grid.regular(lon=(-60, -60 + 0.25 * N), lat=(35, 37), res_deg=0.25,
                            time=pd.date_range(start, periods=days))
    return g.assign(ssh=(("time", "lat", "lon"), np.zeros((days, N, N)), {"units": "m"}))


def _points(times, ii, jj, values, error: float) -> xr.Dataset:
    """Point ssh observations at pixel centres (ii, jj) of the template's grid."""
    lat, lon = _template().lat.values, _template().lon.values
    n = len(values)
    return xr.Dataset(
        {"ssh": ("obs", np.asarray(values, float), {"units": "m"}),
         "ssh_error": ("obs", np.full(n, error), {"units": "m"})},
        coords={"time": ("obs", np.asarray(times, dtype="datetime64[ns]")),
                "lat": ("obs", lat[ii]), "lon": ("obs", lon[jj])},
        attrs={"genda_obs": "points"})


# -- the prior -------------------------------------------------------------------------------
def test_snapshot_priors_have_one_frame_and_keep_their_config():
    demo = xgenda.load_demo_prior(snapshot=True)
    assert demo.frames == 1
    assert "frames" not in demo.config
    assert xgenda.load_demo_prior().config["frames"] == 3  # the bundled window prior
    snapshot = gaussian_prior(N)[0]
    assert snapshot.frames == 1
    assert "frames" not in snapshot.config
    assert snapshot.channels == 1


@pytest.mark.parametrize("frames", [0, 2, 1.5, True])
def test_frames_must_be_a_positive_odd_integer(frames):
    config = gaussian_prior(N)[0].config | {"frames": frames}
    with pytest.raises(ValueError, match="positive odd integer"):
        Prior(config, gaussian_prior(N)[0].normalizer, denoise_fn=lambda x, s: x)


def test_unconditional_windows_have_the_ar1_correlation_between_frames(window):
    prior, _ = window
    members = 400
    ds = prior.sample(members, seed=0, sampler=Heun(steps=24), device="cpu")
    assert ds.ssh.dims == ("member", "frame", "lat", "lon")
    assert ds.frame.values.tolist() == [-1, 0, 1]
    z = (ds.ssh.values - MEAN) / STD  # (member, frame, lat, lon), normalized
    # sample correlation of one pixel between frames, pooled over pixels; its standard
    # error is about (1 - rho^2) / sqrt(members) per pixel
    def corr(a, b):
        return float(np.mean(np.sum(a * b, 0) / np.sqrt(np.sum(a**2, 0) * np.sum(b**2, 0))))

    tolerance = 5 * (1 - RHO**2) / math.sqrt(members)
    assert abs(corr(z[:, 0], z[:, 1]) - RHO) < tolerance
    assert abs(corr(z[:, 1], z[:, 2]) - RHO) < tolerance
    assert abs(corr(z[:, 0], z[:, 2]) - RHO**2) < 5 * (1 - RHO**4) / math.sqrt(members)
    assert abs(float(z.var()) - 1.0) < 0.1


# -- training ---------------------------------------------------------------------------------
def _day_dataset(days: int, start: str = "2020-01-01") -> xr.Dataset:
    """ssh = the day's index and sst = 100 + the index, uniform in space (unit stats)."""
    times = pd.date_range(start, periods=days)
    lat, lon = 35 + 0.25 * np.arange(N), -60 + 0.25 * np.arange(N)
    index = np.arange(days, dtype=float)[:, None, None] * np.ones((1, N, N))
    return xr.Dataset({"ssh": (("time", "lat", "lon"), index, {"units": "m"}),
                       "sst": (("time", "lat", "lon"), 100 + index, {"units": "degC"})},
                      coords={"time": times, "lat": lat, "lon": lon})


def test_window_sampler_draws_consecutive_days_frame_major_inside_the_period():
    ds = _day_dataset(12)
    period = np.arange(2, 9)  # days 2..8: centres 3..7 for three frames
    sampler = WindowSampler(ds, ["ssh", "sst"], N, None, period, frames=3)
    batch = sampler.sample(np.random.default_rng(0), 64)
    assert batch.shape == (64, 6, N, N)
    centre = batch[:, 2, 0, 0]  # ssh of the centre frame = the centre's day index
    for f, offset in enumerate((-1, 0, 1)):
        np.testing.assert_array_equal(batch[:, 2 * f], (centre + offset)[:, None, None]
                                      * np.ones((N, N)))
        np.testing.assert_array_equal(batch[:, 2 * f + 1], 100 + batch[:, 2 * f])
    assert set(centre.astype(int)) == {3, 4, 5, 6, 7}


def test_windows_never_straddle_a_gap_between_runs():
    """Two runs one after the other with a gap (days 0-4, then 20-25): every window holds
    consecutive days of one run."""
    ds = xr.concat([_day_dataset(5), _day_dataset(6, "2020-01-21").assign(
        ssh=lambda d: d.ssh + 20, sst=lambda d: d.sst + 20)], dim="time")
    sampler = WindowSampler(ds, ["ssh", "sst"], N, None, np.arange(ds.sizes["time"]),
                            frames=3)
    centres = sorted(set(sampler.sample(np.random.default_rng(1), 200)[:, 2, 0, 0]
                         .astype(int)))
    assert centres == [1, 2, 3, 21, 22, 23, 24]
    batch = sampler.sample(np.random.default_rng(2), 50)
    np.testing.assert_array_equal(batch[:, 4] - batch[:, 0], 2.0)  # day +1 minus day -1


def test_window_training_needs_whole_daily_steps():
    ds = _day_dataset(10)
    hourly = ds.assign_coords(time=ds.time + np.arange(10) * np.timedelta64(1, "h"))
    config = {"patch_size": N, "batch_size": 2, "steps": 1, "frames": 3, "progress": False,
              "log_every": 0, "val_every": 0, "num_threads": 1, "unet": dict(TINY_UNET)}
    with pytest.raises(ValueError, match=r"increasing daily time steps.*2020-01-01.*1.04"):
        xgenda.train(hourly, config)
    backwards = ds.isel(time=[0, 1, 2, 3, 3, 4, 5, 6, 7, 8])
    with pytest.raises(ValueError, match=r"increasing daily time steps.*is 0 day"):
        xgenda.train(backwards, config)
    with pytest.raises(ValueError, match="the validation period: no window of 3"):
        xgenda.train(ds, config | {"val_every": 1, "val_fraction": 0.1})
    for frames in (2, 0, "3", 3.0):
        with pytest.raises(ValueError, match="positive odd integer"):
            TrainConfig(frames=frames)


def test_a_window_prior_trains_saves_loads_and_samples(tmp_path):
    import yaml

    from xgenda.testing import ocean_dataset

    ocean_dataset(nt=10, ny=N, nx=N, land=False, variables=("ssh", "sst")).to_zarr(
        tmp_path / "data.zarr", consolidated=False)
    config = {"data": "data.zarr", "output": "prior", "patch_size": N, "batch_size": 4,
              "steps": 2, "warmup_steps": 1, "frames": 3, "val_every": 2, "val_fraction": 0.3,
              "progress": False, "log_every": 0, "num_threads": 1, "unet": dict(TINY_UNET)}
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(config))
    assert cli.main(["train", "--config", str(tmp_path / "train.yaml")]) == 0
    saved = json.loads((tmp_path / "prior" / "config.json").read_text())["config"]
    assert saved["frames"] == 3
    assert (saved["unet"]["in_channels"], saved["unet"]["out_channels"]) == (3 * 2 + 1, 3 * 2)
    prior = Prior.load(tmp_path / "prior")
    assert (prior.frames, prior.channels) == (3, 6)
    assert np.isfinite(prior.metadata["final_val_loss"])
    # the loaded network denoises a 6-channel window
    x = torch.randn(2, 6, N, N, generator=torch.Generator().manual_seed(0))
    out = prior.denoiser("cpu")(x, torch.tensor(1.0))
    assert out.shape == x.shape
    assert torch.isfinite(out).all()
    ds = prior.sample(2, seed=0, sampler=Heun(steps=4), device="cpu")
    assert ds.ssh.dims == ("member", "frame", "lat", "lon")
    again = Prior.load(tmp_path / "prior").sample(2, seed=0, sampler=Heun(steps=4),
                                                  device="cpu")
    xr.testing.assert_identical(ds, again)


# -- observation routing ----------------------------------------------------------------------
def test_each_observation_goes_to_the_frame_of_its_own_day():
    t = np.datetime64("2020-01-02T00", "ns")
    hours = np.array([-37, -36, -30, -12, 0, 11, 25, 35, 36, 60])  # from the analysis time
    ii = np.arange(hours.size) % N
    obs = _points(t + hours.astype("timedelta64[h]"), ii, ii, np.zeros(hours.size), 0.01)
    grid = _template()
    sets = collect(obs, ("ssh",))
    block = _engine.block_observations(sets, grid.lat.values, grid.lon.values, ("ssh",),
                                       np.zeros((N, N), bool), np.array([t]), Window(),
                                       np.ones(3), frames=3)
    (table,) = block.tables
    # half-open days about the frames' times (days from t): [-1.5, -0.5) -> frame 0,
    # [-0.5, 0.5) -> frame 1, [0.5, 1.5) -> frame 2; -37 h, 36 h and 60 h are outside
    expected = {-36: (0, -12), -30: (0, -6), -12: (1, -12), 0: (1, 0), 11: (1, 11),
                25: (2, 1), 35: (2, 11)}
    got = {round(24 * (dt + (frame - 1))): (int(frame), round(24 * dt))
           for frame, dt in zip(table.channel, table.dt_days, strict=True)}
    assert got == expected
    # the operator reads each observation on its frame's pixel
    op = block.operator([0], [0] * 3 * N * N)
    basis = torch.eye(3 * N * N).reshape(3 * N * N, 3, N, N)
    matrix = op(basis).numpy().T  # (m, 3 N N)
    # observations at pixel centres: one stencil weight of 1
    pixels = table.index[np.arange(len(table)), np.argmax(table.weight, axis=1)]
    for row, (frame, pixel) in enumerate(zip(table.channel, pixels, strict=True)):
        assert matrix[row, frame * N * N + pixel] == pytest.approx(1.0)
        assert matrix[row].sum() == pytest.approx(1.0)


def test_a_narrow_set_window_applies_about_the_frame_time_not_the_analysis_time():
    t = np.datetime64("2020-01-02T00", "ns")
    hours = np.array([-24, -20, 4, 8, 24, 28])
    ii = np.arange(6)
    obs = _points(t + hours.astype("timedelta64[h]"), ii, ii, np.zeros(6), 0.01)
    sets = collect(obs.assign_attrs(genda_time_window=0.25), ("ssh",))  # +-6 h
    grid = _template()
    block = _engine.block_observations(sets, grid.lat.values, grid.lon.values, ("ssh",),
                                       np.zeros((N, N), bool), np.array([t]), Window(),
                                       np.ones(3), frames=3)
    (table,) = block.tables
    hours_from_frame = np.round(24 * table.dt_days).tolist()
    assert sorted(zip(table.channel.tolist(), hours_from_frame, strict=True)) == \
        [(0, 0), (0, 4), (1, 4), (2, 0), (2, 4)]


def test_observations_beyond_the_window_go_to_the_nearest_edge_frame():
    # a set window of 2 days reaches 1 day beyond a 3-day window on either side: those
    # observations guide the edge frames, at their distance from the edge frame's time
    t = np.datetime64("2020-01-02T00", "ns")
    hours = np.array([-73, -72, -60, -36, -30, 0, 30, 36, 60, 71, 72])
    ii = np.arange(hours.size) % N
    obs = _points(t + hours.astype("timedelta64[h]"), ii, ii, np.zeros(hours.size), 0.01)
    sets = collect(obs.assign_attrs(genda_time_window=2.0), ("ssh",))
    grid = _template()
    block = _engine.block_observations(sets, grid.lat.values, grid.lon.values, ("ssh",),
                                       np.zeros((N, N), bool), np.array([t]), Window(),
                                       np.ones(3), frames=3)
    (table,) = block.tables
    got = sorted(zip(table.channel.tolist(), np.round(24 * table.dt_days).tolist(),
                     strict=True))
    # frame 0 (day -1) takes [-3, -0.5) days from t, frame 1 [-0.5, 0.5), frame 2
    # [0.5, 3) (the half-open set window about the edge frames' times); -73 h and 72 h
    # are beyond the set's window from the nearest edge frame
    assert got == [(0, -48), (0, -36), (0, -12), (0, -6), (1, 0),
                   (2, 6), (2, 12), (2, 36), (2, 47)]


def test_error_growth_of_an_edge_frame_counts_from_the_edge_frame():
    t = np.datetime64("2020-01-02T00", "ns")
    hours = np.array([-72, 0, 72])
    ii = np.arange(3)
    obs = _points(t + hours.astype("timedelta64[h]"), ii, ii, np.zeros(3), 0.01)
    sets = collect(obs.assign_attrs(genda_time_window=4.0, genda_time_error_growth=0.1),
                   ("ssh",))
    grid = _template()
    block = _engine.block_observations(sets, grid.lat.values, grid.lon.values, ("ssh",),
                                       np.zeros((N, N), bool), np.array([t]), Window(),
                                       np.ones(3), frames=3)
    (table,) = block.tables
    order = np.argsort(table.channel)
    # 3 days from t is 2 days from the edge frame: err^2 = 0.01^2 + (0.1 * 2)^2
    np.testing.assert_allclose(table.error[order], [np.hypot(0.01, 0.2), 0.01,
                                                    np.hypot(0.01, 0.2)])
    assert table.channel[order].tolist() == [0, 1, 2]


def test_window_priors_refuse_known_channels():
    prior, _ = gaussian_prior(N, frames=3, correlation=RHO)
    with pytest.raises(ValueError, match="cannot condition a window prior"):
        _engine.BlockSpec(prior=_engine.PriorRef(prior), times=np.zeros(1), lat=np.zeros(N),
                          lon=np.zeros(N), variables=("ssh",), members=1, seed=0,
                          sampler=Heun(), guidance=MMPS(), window=Window(), known=("uwind",),
                          frames=3)


# -- assimilation -----------------------------------------------------------------------------
def _daily_obs(n: int, first: str, last: str, seed: int = 3) -> xr.Dataset:
    """``n`` point observations of prior-like values at random times in [first, last)."""
    rng = np.random.default_rng(seed)
    start, span = np.datetime64(first, "ns"), np.datetime64(last, "ns") - np.datetime64(first)
    times = start + (rng.uniform(0, 1, n) * span).astype("timedelta64[ns]")
    return _points(times, rng.integers(0, N, n), rng.integers(0, N, n),
                   MEAN + STD * rng.standard_normal(n), 0.02)


def _assimilate(template, prior, obs, **kw):
    kw = {"members": 3, "sampler": Heun(steps=6), "guidance": MMPS(cg_steps=4)} | kw
    return xgenda.assimilate(template, prior, obs, **kw)


def test_window_assimilation_is_identical_across_time_chunkings(window):
    prior, _ = window
    template = _template(days=5, start="2020-01-02")
    # the analysis days and their halo: one day (+- 12 h) on each side
    obs = _daily_obs(35, "2019-12-31T12", "2020-01-07T12")
    ens = _assimilate(template, prior, obs)
    assert ens.attrs["obs_used"] == 35  # every observation of the halo is used too
    assert dict(ens.sizes) == {"member": 3, "time": 5, "lat": N, "lon": N}
    with dask.config.set(scheduler="synchronous"):
        one = _assimilate(template.chunk({"time": 1}), prior, obs).ssh.values
        blocks = _assimilate(template.chunk({"time": 3}), prior, obs).ssh.values
    with dask.config.set(scheduler="threads"):
        whole = _assimilate(template, prior, obs, time_chunk=5).ssh.values
    assert np.isfinite(one).all()
    np.testing.assert_array_equal(one, blocks)
    np.testing.assert_array_equal(one, whole)


def test_window_assimilation_resumes_to_the_same_store(window, tmp_path, monkeypatch):
    prior, _ = window
    template = _template(days=3).chunk({"time": 1})
    obs = _daily_obs(20, "2019-12-31T12", "2020-01-05T12")
    expected = _assimilate(template, prior, obs).compute()
    original = _engine.run_block
    calls = []

    def failing(spec, sets, land, known=None):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("simulated interruption")
        return original(spec, sets, land, known)

    monkeypatch.setattr(_engine, "run_block", failing)
    with dask.config.set(scheduler="synchronous"), \
            pytest.raises(RuntimeError, match="interruption"):
        resume_to_zarr(_assimilate(template, prior, obs), tmp_path / "ens.zarr")
    monkeypatch.setattr(_engine, "run_block", original)
    assert missing_times(_assimilate(template, prior, obs), tmp_path / "ens.zarr").size
    resume_to_zarr(_assimilate(template, prior, obs), tmp_path / "ens.zarr")
    written = xr.open_zarr(tmp_path / "ens.zarr").compute()
    np.testing.assert_array_equal(written.ssh.values, expected.ssh.values)


@pytest.mark.parametrize(("day", "frame"), [("2020-01-03", 2), ("2020-01-01", 0)])
def test_centre_frame_matches_the_exact_gaussian_conditional(window, day, frame):
    """Only the day after (or before) the analysis day is observed: the centre frame's
    ensemble mean and variance are those of the exact conditional of the AR(1) field.

    Tolerances: the mean within 5 standard errors (posterior std / sqrt(members)) at
    every pixel, the variance within 5 standard errors of a variance estimate
    (sqrt(2 / members)).
    """
    prior, denoiser = window
    members, error = 800, 0.1  # error in normalized units
    rng = np.random.default_rng(0)
    ii, jj = np.array([1, 2, 5, 6, 3, 4]), np.array([1, 5, 2, 6, 3, 0])
    truth = np.linalg.cholesky(denoiser.cov) @ rng.standard_normal(3 * N * N)
    pixels = frame * N * N + ii * N + jj
    y = truth[pixels] + error * rng.standard_normal(ii.size)
    obs = _points(np.full(ii.size, np.datetime64(day)), ii, jj, MEAN + STD * y, error * STD)
    ens = _assimilate(_template(), prior, obs, members=members, sampler=Heun(steps=32),
                      guidance=MMPS(cg_steps=2 * ii.size)).compute()
    assert ens.attrs["obs_used"] == ii.size
    x = (ens.ssh.values[:, 0].reshape(members, N * N) - MEAN) / STD

    operator = np.zeros((ii.size, 3 * N * N))
    operator[np.arange(ii.size), pixels] = 1.0
    mean, cov = denoiser.posterior(operator, y, np.full(ii.size, error))
    centre = slice(N * N, 2 * N * N)
    mean, var = mean[centre], np.diag(cov)[centre]
    # the reference: the centre day learns only through the lag-one correlation
    observed = ii * N + jj
    assert np.all((var[observed] > 1 - RHO**2) & (var[observed] < 0.6))
    z = (x.mean(0) - mean) / np.sqrt(var / members)
    ratio = x.var(0, ddof=1) / var
    assert np.max(np.abs(z)) < 5.0
    assert np.all(np.abs(ratio - 1) < 5 * math.sqrt(2 / members))


def test_ar1_window_covariance_is_the_ar1_recursion():
    space = gaussian_covariance(3, 3, 1.5)
    cov = ar1_window_covariance(3, RHO, space)
    # x1 = rho x0 + sqrt(1 - rho^2) e1, x2 = rho x1 + sqrt(1 - rho^2) e2, e ~ N(0, space)
    a = np.kron(np.array([[1, 0, 0], [RHO, math.sqrt(1 - RHO**2), 0],
                          [RHO**2, RHO * math.sqrt(1 - RHO**2), math.sqrt(1 - RHO**2)]]),
                np.eye(9))
    np.testing.assert_allclose(cov, a @ np.kron(np.eye(3), space) @ a.T, atol=1e-12)


# -- trajectories composed from the windows (Window(trajectory_days=L)) -------------------------
def _trajectory(days: int) -> GaussianDenoiser:
    """The exact denoiser of ``days`` consecutive days of the same AR(1) field."""
    return GaussianDenoiser(ar1_window_covariance(days, RHO, gaussian_covariance(N, N, 2.5)))


def test_each_day_takes_the_window_centred_on_it_and_the_ends_the_end_windows():
    # window j covers days j .. j + K - 1: (window, frame in it) of every day
    assert composition_sources(3, 7) == [(0, 0), (0, 1), (1, 1), (2, 1), (3, 1), (4, 1),
                                         (4, 2)]
    assert composition_sources(5, 7) == [(0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 3),
                                         (2, 4)]
    assert composition_sources(3, 3) == [(0, 0), (0, 1), (0, 2)]


def test_the_composed_denoiser_is_the_window_denoiser_on_each_window(window):
    _, denoiser = window
    channels, days = 1, 7
    composed = ComposedDenoiser(denoiser, 3, days, channels)
    assert composed.windows == 5
    x = torch.randn((2, days, N, N), generator=torch.Generator().manual_seed(0),
                    dtype=torch.float64)
    sigma = torch.tensor(0.7, dtype=torch.float64)
    out = composed(x, sigma)
    for day, (j, f) in enumerate(composition_sources(3, days)):
        direct = denoiser(x[:, j:j + 3], sigma)[:, f]
        torch.testing.assert_close(out[:, day], direct, rtol=0, atol=1e-12)
    # one sigma per sample goes with each sample's windows
    per_sample = torch.tensor([0.3, 2.0], dtype=torch.float64)
    out = composed(x, per_sample)
    for b in range(2):
        torch.testing.assert_close(out[b:b + 1], composed(x[b:b + 1], per_sample[b]),
                                   rtol=0, atol=1e-12)


def test_the_composed_score_of_a_markov_field_is_exact_at_small_noise(window):
    """An AR(1)-in-time field is a Markov chain of order 1: its precision is tridiagonal
    in time, so the score of a day given the whole trajectory is the score given its two
    neighbours, which a 3-day window has. With noise it is only an approximation."""
    _, denoiser = window
    days = 5
    composed, exact = ComposedDenoiser(denoiser, 3, days, 1), _trajectory(days)
    rng = np.random.default_rng(1)
    x0 = np.linalg.cholesky(exact.cov) @ rng.standard_normal((days * N * N, 3))
    x0 = torch.as_tensor(x0.T.reshape(3, days, N, N))

    def relative_score_error(s: float) -> float:
        x = x0 + s * torch.randn(x0.shape, generator=torch.Generator().manual_seed(2),
                                 dtype=torch.float64)
        sigma = torch.tensor(s, dtype=torch.float64)
        got, want = ((d(x, sigma) - x) / s**2 for d in (composed, exact))
        return float((got - want).norm() / want.norm())

    assert relative_score_error(1e-4) < 1e-2
    assert relative_score_error(1.0) > 1e-2  # noisy days are not a Markov chain


def test_the_guided_trajectory_matches_the_exact_posterior_on_the_observed_day(window):
    """Observations on the last day of a 5-day trajectory: its guided posterior there
    is the exact Kalman posterior of the 5-day field (mean within 5 standard errors at
    every pixel, variance within 20 %)."""
    _, denoiser = window
    days, members, error = 5, 400, 0.1
    exact = _trajectory(days)
    rng = np.random.default_rng(0)
    ii, jj = np.array([1, 2, 4, 5, 3]), np.array([1, 4, 2, 5, 0])
    pixels = (days - 1) * N * N + ii * N + jj
    truth = np.linalg.cholesky(exact.cov) @ rng.standard_normal(days * N * N)
    y = truth[pixels] + error * rng.standard_normal(ii.size)
    guided = guided_denoiser(
        ComposedDenoiser(denoiser, 3, days, 1),
        lambda x: x.reshape(x.shape[0], -1)[:, torch.as_tensor(pixels)],
        torch.as_tensor(y)[None].repeat(members, 1), torch.full((members, ii.size), error,
                                                                 dtype=torch.float64),
        "mmps", cg_steps=2 * ii.size)
    noise = torch.randn((members, days, N, N), generator=torch.Generator().manual_seed(3),
                        dtype=torch.float64)
    x = run_sampler(Heun(steps=32), guided, noise).detach().numpy()
    last = x[:, -1].reshape(members, N * N)
    operator = np.zeros((ii.size, days * N * N))
    operator[np.arange(ii.size), pixels] = 1.0
    mean, cov = exact.posterior(operator, y, np.full(ii.size, error))
    mean, var = mean[-N * N:], np.diag(cov)[-N * N:]
    assert np.all(var[ii * N + jj] < 0.1)  # the observed pixels are pinned down
    z = (last.mean(0) - mean) / np.sqrt(var / members)
    assert np.max(np.abs(z)) < 5.0
    assert np.all(np.abs(last.var(0, ddof=1) / var - 1) < 0.2)


def test_observations_two_days_away_act_on_their_own_day_of_a_5_day_trajectory(window):
    prior, _ = window
    day2 = np.datetime64("2020-01-04T06", "ns")  # 2.25 days after the analysis time
    values = MEAN + STD * np.array([2.5, 3.0, 2.5])  # 2.5-3 prior std above the mean
    obs = _points(np.full(3, day2), [1, 2, 3], [1, 2, 3], values, 0.01)
    # a 3-day window's last day ends 1.5 days after the analysis time
    with pytest.warns(UserWarning, match="no observations fall inside"):
        assert _assimilate(_template(), prior, obs).attrs["obs_used"] == 0
    ens = _assimilate(_template(), prior, obs, members=64,
                      window=Window(trajectory_days=5)).compute()
    assert ens.attrs["obs_used"] == 3
    assert Configuration.from_json(ens.attrs["configuration"]).window.trajectory_days == 5
    # they pull the analysis toward them through the prior's correlation: the observed
    # pixels' ensemble mean lies between the prior mean and the observations (the exact
    # update of the analysis day is rho^2 = 0.49 of the innovation; a standard error of
    # the mean of 64 members is 0.12 prior std)
    mean = ens.ssh.mean("member").isel(time=0).values[[1, 2, 3], [1, 2, 3]]
    assert np.all((mean > MEAN + 0.25 * STD) & (mean < values))


def test_a_composed_assimilation_is_identical_across_time_chunkings(window):
    prior, _ = window
    template = _template(days=4)
    rng = np.random.default_rng(5)
    start = np.datetime64("2019-12-31T00", "ns")
    times = start + (rng.uniform(0, 8, 30) * 86400e9).astype("timedelta64[ns]")
    obs = _points(times, rng.integers(0, N, 30), rng.integers(0, N, 30),
                  MEAN + STD * rng.standard_normal(30), 0.02)
    kw = {"window": Window(trajectory_days=5)}
    with dask.config.set(scheduler="synchronous"):
        one = _assimilate(template.chunk({"time": 1}), prior, obs, **kw).ssh.values
        two = _assimilate(template.chunk({"time": 2}), prior, obs, **kw).ssh.values
    whole = _assimilate(template, prior, obs, time_chunk=4, **kw).ssh.values
    assert np.isfinite(one).all()
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(one, whole)
    # and the composition changes the result (the trajectory is not the prior's window)
    assert not np.array_equal(one, _assimilate(template, prior, obs).ssh.values)


def test_trajectory_days_are_checked_against_the_prior(window):
    prior, _ = window
    snapshot, _ = gaussian_prior(N)
    with pytest.raises(ValueError, match="snapshot prior"):
        _assimilate(_template(), snapshot, None, window=Window(trajectory_days=3))
    with pytest.raises(ValueError, match="shorter than the prior's window of 3 days"):
        _assimilate(_template(), prior, None, window=Window(trajectory_days=1))
    with pytest.raises(ValueError, match="must be odd"):
        Window(trajectory_days=4)
    with pytest.raises(ValueError, match="integer >= 1"):
        Window(trajectory_days=0)
    with pytest.raises(ValueError, match="both odd"):
        ComposedDenoiser(lambda x, s: x, 3, 2, 1)


def test_trajectory_days_round_trip_in_json_and_show_in_the_repr():
    window = Window(half_width=1.0, trajectory_days=7)
    assert from_json(window.to_json()) == window
    assert "trajectory_days=7" in repr(window)
    assert "trajectory_days" not in repr(Window())


@pytest.mark.parametrize("days", [None, 5])
def test_the_memory_probe_runs_a_whole_window_or_trajectory(window, monkeypatch, days):
    """On CUDA a block first runs one guided evaluation of one sample to size its
    batches; the probe must have the state's channels (days x variables)."""
    from xgenda import _engine

    prior, _ = window
    probed = []

    def probing(device, key, probe, times, members):
        probe()  # raises on a sample of the wrong number of channels
        probed.append(key)
        return None

    monkeypatch.setattr(_engine, "device_batch_size", probing)
    obs = _points(np.full(2, np.datetime64("2020-01-02T06", "ns")), [1, 2], [1, 2],
                  [0.2, 0.3], 0.02)
    ens = _assimilate(_template(), prior, obs, window=Window(trajectory_days=days)).compute()
    assert probed
    assert np.isfinite(ens.ssh.values).all()
