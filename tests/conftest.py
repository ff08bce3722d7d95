"""Shared pytest configuration: GPU marker handling and deterministic torch threads."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
# Many small LAPACK calls are much slower with threaded BLAS on a busy 2-core machine.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return False
    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if any("gpu" in item.keywords for item in items) and not _cuda_available():
        skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def in_prior_range():
    """Move point observations into a prior's range, keeping their pattern.

    ``in_prior_range(obs, mean, std)`` replaces ``obs[var]`` by ``mean + std * z``, with
    ``z`` the observations' standardized values: observations a prior with this
    climatology (``mean``, ``std``, physical units) could have produced, which the
    out-of-distribution guard (:mod:`xgenda.guard`) accepts.
    """
    def move(obs, mean, std, var: str = "ssh"):
        values = np.asarray(obs[var].values, dtype=np.float64)
        z = (values - values.mean()) / values.std()
        return obs.assign({var: (obs[var].dims, mean + std * z, obs[var].attrs)})

    return move


@pytest.fixture
def one_torch_thread():
    """Run a test with one torch thread (small tensors: threads only add overhead)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def demo_osse():
    """The demo prior, three analysis days of a toy-ocean SSH truth and the OSSE
    observations of its four days (nadir SSH, L3 SST; no drifters)."""
    import xgenda

    prior = xgenda.load_demo_prior()
    truth = xgenda.datasets.toy_ocean(days=4, size=prior.patch_size, seed=7, spinup_days=60,
                                      progress=False)
    obs = xgenda.osse.observe(truth, nadirs=4, swot=False, sst_cloud_cover=0.3, seed=0,
                              drifters=0)
    return prior, truth.isel(time=slice(1, None))[["ssh"]], obs
