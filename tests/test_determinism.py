"""The ensemble does not depend on where its blocks run: schedulers, chunkings, threads."""

from __future__ import annotations

import dask
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xgenda
from xgenda.testing import point_observations

torch = pytest.importorskip("torch")

from xgenda._determinism import BLOCK_THREADS, fixed_threads  # noqa: E402


@pytest.fixture(scope="module")
def demo_prior():
    """The demo prior: its convolutions' float32 sums depend on torch's thread count."""
    return xgenda.load_demo_prior()


def _template(prior, nt: int = 4) -> xr.Dataset:
    stats = prior.normalizer.to_dataset()
    shape = (nt, stats.sizes["lat"], stats.sizes["lon"])
    return xr.Dataset({"ssh": (("time", "lat", "lon"), np.zeros(shape), {"units": "m"})},
                      coords={"time": pd.date_range("2020-01-01", periods=nt),
                              "lat": stats["lat"].values, "lon": stats["lon"].values})


@pytest.fixture(scope="module")
def obs(demo_prior):
    """Observations in the prior's range: its climatology plus anomalies of its spread."""
    pts = point_observations(_template(demo_prior), n=60, error=0.02, seed=3)
    mean = demo_prior.normalizer.to_dataset().ssh_mean.interp(lat=pts.lat, lon=pts.lon)
    anomaly = 0.2 * np.random.default_rng(3).standard_normal(pts.sizes["obs"])
    return pts.assign(ssh=("obs", mean.values + anomaly, pts.ssh.attrs))


def _ens(prior, obs, chunk: int) -> xr.Dataset:
    return xgenda.assimilate(_template(prior).chunk({"time": chunk}), "demo", obs, members=1,
                             steps=4, method="mmps")


@pytest.fixture
def many_torch_threads():
    """The caller's process runs torch on several threads (its default on most machines)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(4)
    yield
    torch.set_num_threads(threads)


def test_fixed_threads_sets_the_count_inside_and_restores_it_after(many_torch_threads):
    with fixed_threads():
        assert torch.get_num_threads() == BLOCK_THREADS
        with fixed_threads():  # re-entrant
            assert torch.get_num_threads() == BLOCK_THREADS
        assert torch.get_num_threads() == BLOCK_THREADS
    assert torch.get_num_threads() == 4


def test_fixed_threads_restores_the_count_after_an_error(many_torch_threads):
    with pytest.raises(ZeroDivisionError), fixed_threads():
        _ = 1 / 0
    assert torch.get_num_threads() == 4


def test_torch_thread_count_of_the_caller_does_not_change_the_bits(demo_prior, obs):
    """Without the fixed count, 1 and 4 threads give different float32 sums."""
    results = []
    for threads in (1, 4):
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            with dask.config.set(scheduler="synchronous"):
                results.append(_ens(demo_prior, obs, 2).ssh.values)
        finally:
            torch.set_num_threads(before)
    np.testing.assert_array_equal(results[0], results[1])


@pytest.mark.slow
def test_bit_identical_on_every_local_scheduler_and_chunking(demo_prior, obs,
                                                             many_torch_threads):
    with dask.config.set(scheduler="synchronous"):
        expected = _ens(demo_prior, obs, 1).ssh.values
    assert np.isfinite(expected).all()
    for scheduler, chunk in (("synchronous", 4), ("threads", 1), ("threads", 3),
                             ("processes", 2)):
        with dask.config.set(scheduler=scheduler, num_workers=2):
            got = _ens(demo_prior, obs, chunk).ssh.values
        np.testing.assert_array_equal(got, expected, err_msg=f"{scheduler}, chunk {chunk}")


@pytest.mark.distributed
@pytest.mark.slow
def test_bit_identical_on_a_local_cluster_of_worker_processes(demo_prior, obs,
                                                              many_torch_threads):
    distributed = pytest.importorskip("distributed")
    with dask.config.set(scheduler="synchronous"):
        expected = _ens(demo_prior, obs, 1).ssh.values
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        got = client.compute(_ens(demo_prior, obs, 2).ssh).result().values
    np.testing.assert_array_equal(got, expected)
