"""Batches of times x members sized to the device memory (CUDA), today's batches on a CPU."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import xgenda
from xgenda import _batching
from xgenda.config import MMPS, Heun
from xgenda.testing import gaussian_prior, point_observations

torch = pytest.importorskip("torch")

from xgenda import _engine  # noqa: E402

MIB = 2**20


# -- the arithmetic ---------------------------------------------------------------------------
def test_everything_in_one_batch_when_it_fits():
    # 0.8 x 1000 MiB holds 80 samples of 10 MiB: all 4 x 8 = 32 of them
    assert _batching.batch_size_for(1000 * MIB, 10 * MIB, times=4, members=8) == 32


def test_whole_times_spread_evenly_when_some_fit():
    # 0.8 x 300 / 10 = 24 samples: 3 whole times of 8 members; 5 times in 2 batches
    assert _batching.batch_size_for(300 * MIB, 10 * MIB, times=5, members=8) == 24
    # 0.8 x 250 / 10 = 20 samples: 2 whole times; 4 times in 2 batches of 2 times
    assert _batching.batch_size_for(250 * MIB, 10 * MIB, times=4, members=8) == 16
    # 0.8 x 375 / 10 = 30 samples: 3 whole times; 7 times in 3 batches of at most 3
    assert _batching.batch_size_for(375 * MIB, 10 * MIB, times=7, members=8) == 24
    # 0.8 x 400 / 10 = 32 samples: 4 whole times; 6 times in 2 batches of 3, not 4 + 2
    assert _batching.batch_size_for(400 * MIB, 10 * MIB, times=6, members=8) == 24


def test_members_of_a_time_split_evenly_when_a_time_does_not_fit():
    # 0.8 x 125 / 10 = 10 samples of a time's 24 members: 3 batches of 8, not 10, 10, 4
    assert _batching.batch_size_for(125 * MIB, 10 * MIB, times=2, members=24) == 8
    # room for less than one sample: one at a time (the device decides whether it fits)
    assert _batching.batch_size_for(5 * MIB, 10 * MIB, times=2, members=24) == 1
    assert _batching.batch_size_for(0, 10 * MIB, times=2, members=24) == 1


@pytest.mark.parametrize(("times", "members"), [(1, 1), (1, 24), (4, 8), (7, 3), (5, 16)])
def test_batches_fit_and_are_as_few_as_possible(times, members):
    sample = 3 * MIB
    for free in np.linspace(0, 1.5 * times * members * sample / 0.8, 97):
        size = _batching.batch_size_for(free, sample, times, members)
        batches = _engine.sample_batches(times, members, size)
        fits = int(free * 0.8 // sample)
        # every (time, member) pair exactly once
        pairs = sorted(p for b in batches for p in b)
        assert pairs == [(k, m) for k in range(times) for m in range(members)]
        # no batch larger than what fits (one sample at least)
        assert max(len(b) for b in batches) <= max(fits, 1)
        # the fewest batches that hold whole times, or equal shares of one time's members
        if fits >= times * members:
            fewest = 1
        elif fits >= members:
            fewest = math.ceil(times / (fits // members))
        else:
            fewest = times * math.ceil(members / max(fits, 1))
        assert len(batches) == fewest


def test_bad_arithmetic_inputs_are_named():
    with pytest.raises(ValueError, match="memory of one sample"):
        _batching.batch_size_for(MIB, 0, 1, 1)
    with pytest.raises(ValueError, match="times and members"):
        _batching.batch_size_for(MIB, 1, 0, 4)
    with pytest.raises(ValueError, match="fraction"):
        _batching.batch_size_for(MIB, 1, 1, 1, fraction=1.5)


# -- measured once, used on CUDA only ------------------------------------------------------------
def test_sample_memory_is_measured_once_per_key():
    calls = []

    def probe():
        calls.append(1)
        return 7 * MIB

    key = ("test-prior", object())
    assert _batching.sample_bytes(key, probe) == 7 * MIB
    assert _batching.sample_bytes(key, probe) == 7 * MIB
    assert len(calls) == 1
    assert _batching.sample_bytes(("other", key), probe) == 7 * MIB
    assert len(calls) == 2


def test_a_cuda_device_gets_the_batch_its_free_memory_holds(monkeypatch):
    # a fake CUDA device: 1 GiB free, a probe that peaks at 40 MiB
    device = SimpleNamespace(type="cuda")
    monkeypatch.setattr(_batching, "free_bytes", lambda d: 1024 * MIB)
    measured = []
    monkeypatch.setattr(_batching, "peak_bytes",
                        lambda d, run: measured.append(run) or 40 * MIB)
    key = ("fake-cuda", object())
    size = _batching.device_batch_size(device, key, probe=print, times=6, members=8)
    # 0.8 x 1024 / 40 = 20 samples: 2 whole times of 8
    assert size == 16 == _batching.batch_size_for(1024 * MIB, 40 * MIB, 6, 8)
    _batching.device_batch_size(device, key, probe=print, times=6, members=8)
    assert measured == [print]  # the probe ran once


def test_a_cpu_keeps_one_batch_per_time_and_never_probes():
    def probe():
        raise AssertionError("no probe on a CPU")

    assert _batching.device_batch_size(torch.device("cpu"), "k", probe, 4, 8) is None


# -- in the engine --------------------------------------------------------------------------------
MEAN, STD = 0.1, 0.2


@pytest.fixture(scope="module")
def case(in_prior_range):
    prior = gaussian_prior(8, mean=MEAN, std=STD)[0]
    g = xgenda.grid.regular(lon=(-60, -58), lat=(35, 37), res_deg=0.25,
                            time=pd.date_range("2020-01-01", periods=3))
    template = g.assign(ssh=(("time", "lat", "lon"), np.zeros((3, 8, 8)), {"units": "m"}))
    obs = in_prior_range(point_observations(template, n=40, error=0.02, seed=1), MEAN, STD)
    return prior, template, obs


def _run(case, **kw):
    prior, template, obs = case
    return xgenda.assimilate(template, prior, obs, members=3, sampler=Heun(steps=4),
                             guidance=MMPS(), time_chunk=3, device="cpu", **kw).ssh.values


@pytest.mark.usefixtures("one_torch_thread")
def test_cpu_results_are_bitwise_todays(case, monkeypatch):
    monkeypatch.setattr(_batching, "peak_bytes", lambda d, run: pytest.fail("probed on a CPU"))
    np.testing.assert_array_equal(_run(case), _run(case, batch_size=3))


@pytest.mark.usefixtures("one_torch_thread")
def test_the_engine_samples_in_the_batches_the_device_allows(case, monkeypatch):
    # as if a device held 6 samples: 2 whole times per batch, the same as asking for 6
    monkeypatch.setattr(_engine, "device_batch_size", lambda *a, **k: 6)
    sized = _run(case)
    monkeypatch.undo()
    np.testing.assert_array_equal(sized, _run(case, batch_size=6))
    # and batches of several times differ from one time's only by float32 rounding
    np.testing.assert_allclose(sized, _run(case), rtol=0, atol=2e-4 * STD)


@pytest.mark.usefixtures("one_torch_thread")
def test_the_probe_runs_on_the_blocks_objects_and_changes_nothing(case, monkeypatch):
    # run the probe where the engine would on CUDA: it draws no random numbers and
    # leaves the samples bitwise as they are
    ran = []

    def probing(device, key, probe, times, members):
        state = torch.random.get_rng_state()
        probe()
        assert torch.equal(torch.random.get_rng_state(), state)
        ran.append((key[0], times, members))
        return None

    monkeypatch.setattr(_engine, "device_batch_size", probing)
    probed = _run(case)
    monkeypatch.undo()
    assert ran == [(case[0].id, 3, 3)]
    np.testing.assert_array_equal(probed, _run(case))


@pytest.mark.gpu
def test_cuda_batches_fill_the_device_and_match_the_cpu(case):
    prior, template, obs = case
    cuda = xgenda.assimilate(template, prior, obs, members=3, sampler=Heun(steps=4),
                             guidance=MMPS(), time_chunk=3, device="cuda").ssh.values
    np.testing.assert_allclose(cuda, _run(case), rtol=0, atol=1e-3 * STD)
    key = next(k for k in _batching._SAMPLE_BYTES if str(k[1]).startswith("cuda"))
    assert 0 < _batching._SAMPLE_BYTES[key] < torch.cuda.mem_get_info()[1]
