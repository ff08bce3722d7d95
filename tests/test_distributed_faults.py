"""A dask.distributed worker killed while its block computes: the scheduler retries the
block elsewhere and the ensemble is bit-identical to an uninterrupted run."""

from __future__ import annotations

import os
import signal

import dask
import numpy as np
import pandas as pd
import pytest

import xgenda
from xgenda.config import Heun
from xgenda.testing import gaussian_prior, point_observations

distributed = pytest.importorskip("distributed")
pytest.importorskip("torch")

MEAN, STD = 0.1, 0.2
VICTIM = "xgenda-test-victim"
"""Name of the distributed queue, variable and event that pick and stop the victim."""
STALL_S = 120
"""Longest a stalled block waits to be killed (bounds the test if the kill fails)."""


def _stalling_prior() -> xgenda.Prior:
    """The Gaussian test prior, with a denoiser that stalls once when asked.

    On each call the denoiser takes the token of the distributed queue ``VICTIM`` if
    there is one (the test puts exactly one); the call that takes it publishes its
    process id in the distributed variable ``VICTIM`` and waits for the event ``VICTIM``,
    which is never set: its block stays inside ``run_block`` until its worker is killed.
    Without a token it is the exact Gaussian denoiser, so a retried block computes what
    an uninterrupted run computes.
    """
    prior, gaussian = gaussian_prior(8, mean=MEAN, std=STD)
    lat = 35.0 + 0.25 * (np.arange(8) + 0.5)
    lon = -60.0 + 0.25 * (np.arange(8) + 0.5)

    def denoise(x, sigma):  # defined here so that it travels to the workers by value
        if distributed.Queue(VICTIM).get(batch=True):
            distributed.Variable(VICTIM).set(os.getpid())
            distributed.Event(VICTIM).wait(timeout=STALL_S)
        return gaussian(x, sigma)

    return xgenda.Prior.from_denoiser(denoise, ["ssh"], prior.normalizer, 8, (0.25, 0.25),
                                      lat=lat, lon=lon)


def _ensemble(prior: xgenda.Prior):
    template = xgenda.grid.regular(lon=(-60, -58), lat=(35, 37), res_deg=0.25,
                                   time=pd.date_range("2020-01-01", periods=4))
    template["ssh"] = (("time", "lat", "lon"), np.zeros((4, 8, 8)), {"units": "m"})
    obs = point_observations(template, n=40, error=0.02, seed=1)
    # in the prior's range: its mean plus anomalies of its spread
    values = MEAN + STD * np.random.default_rng(1).standard_normal(obs.sizes["obs"])
    obs = obs.assign(ssh=("obs", values, obs.ssh.attrs))
    return xgenda.assimilate(template.chunk({"time": 1}), prior, obs, members=2, seed=3,
                             sampler=Heun(steps=4))


@pytest.mark.distributed
@pytest.mark.slow
def test_a_worker_killed_mid_block_is_retried_and_the_result_is_bit_identical():
    prior = _stalling_prior()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        # uninterrupted, in this process (the queue is empty: nothing stalls)
        with dask.config.set(scheduler="synchronous"):
            expected = _ensemble(prior).ssh.values
        distributed.Queue(VICTIM).put(1)
        future = client.compute(_ensemble(prior).ssh)
        victim = distributed.Variable(VICTIM).get(timeout=60)  # a block is stalled ...
        assert victim in client.run(os.getpid).values()
        os.kill(victim, signal.SIGKILL)  # ... and its worker dies under it
        got = future.result(timeout=STALL_S).values
        assert victim not in client.run(os.getpid).values()
        assert distributed.Queue(VICTIM).qsize() == 0  # the token was taken once
    np.testing.assert_array_equal(got, expected)
    assert np.isfinite(got).all()
