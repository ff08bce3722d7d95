"""Trajectories composed from the windows of a window prior (Window(trajectory_days=L)).

The assembly of the trajectory's denoiser from its overlapping windows, its limit at
small noise on a Markov (AR(1)-in-time) Gaussian field, where the composed score is the
exact score of the trajectory, the guided posterior of the observed day against the
exact Kalman posterior, and the engine: routing of observations to the days of the
trajectory, determinism across chunkings and clear errors.
"""

from __future__ import annotations

import dask
import numpy as np
import pandas as pd
import pytest
import xarray as xr

torch = pytest.importorskip("torch")

import xgenda  # noqa: E402
from xgenda.config import MMPS, Configuration, Heun, Window, from_json  # noqa: E402
from xgenda.diffusion.composition import ComposedDenoiser, composition_sources  # noqa: E402
from xgenda.diffusion.guidance import guided_denoiser  # noqa: E402
from xgenda.diffusion.samplers import run_sampler  # noqa: E402
from xgenda.testing import (  # noqa: E402
    GaussianDenoiser,
    ar1_window_covariance,
    gaussian_covariance,
    gaussian_prior,
)

N = 6  # pixels per side
RHO = 0.7  # lag-one correlation of the AR(1)-in-time field
MEAN, STD = 0.1, 0.2  # physical ssh = MEAN + STD * normalized state

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def window():
    """A 3-day window prior of ssh with its exact Gaussian denoiser."""
    return gaussian_prior(N, mean=MEAN, std=STD, frames=3, correlation=RHO)


def _trajectory(days: int) -> GaussianDenoiser:
    """The exact denoiser of ``days`` consecutive days of the same AR(1) field."""
    return GaussianDenoiser(ar1_window_covariance(days, RHO, gaussian_covariance(N, N, 2.5)))


# -- the assembly ------------------------------------------------------------------------------
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


# -- the engine --------------------------------------------------------------------------------
def _template(days: int = 1, start: str = "2020-01-02") -> xr.Dataset:
    g = xgenda.grid.regular(lon=(-60, -60 + 0.25 * N), lat=(35, 36.5), res_deg=0.25,
                            time=pd.date_range(start, periods=days))
    return g.assign(ssh=(("time", "lat", "lon"), np.zeros((days, N, N)), {"units": "m"}))


def _points(times, ii, jj, values, error: float) -> xr.Dataset:
    lat, lon = _template().lat.values, _template().lon.values
    n = len(values)
    return xr.Dataset(
        {"ssh": ("obs", np.asarray(values, float), {"units": "m"}),
         "ssh_error": ("obs", np.full(n, error), {"units": "m"})},
        coords={"time": ("obs", np.asarray(times, dtype="datetime64[ns]")),
                "lat": ("obs", lat[ii]), "lon": ("obs", lon[jj])},
        attrs={"genda_obs": "points"})


def _assimilate(template, prior, obs, **kw):
    kw = {"members": 3, "sampler": Heun(steps=6), "guidance": MMPS(cg_steps=4)} | kw
    return xgenda.assimilate(template, prior, obs, **kw)


def test_observations_two_days_away_act_on_their_own_day_of_a_5_day_trajectory(window):
    prior, _ = window
    day2 = np.datetime64("2020-01-04T06", "ns")  # 2.25 days after the analysis time
    obs = _points(np.full(3, day2), [1, 2, 3], [1, 2, 3], [0.3, 0.4, 0.5], 0.01)
    # a 3-day window's last day ends 1.5 days after the analysis time
    with pytest.warns(UserWarning, match="no observations fall inside"):
        assert _assimilate(_template(), prior, obs).attrs["obs_used"] == 0
    ens = _assimilate(_template(), prior, obs, window=Window(trajectory_days=5)).compute()
    assert ens.attrs["obs_used"] == 3
    assert Configuration.from_json(ens.attrs["configuration"]).window.trajectory_days == 5
    # they pull the analysis toward them through the prior's correlation: the observed
    # pixels' ensemble mean lies between the prior mean and the observations
    mean = ens.ssh.mean("member").isel(time=0).values[[1, 2, 3], [1, 2, 3]]
    assert np.all((mean > MEAN) & (mean < [0.3, 0.4, 0.5]))


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
