"""Crash-safe streaming: torn, truncated or missing chunks and killed writers are resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xgenda
from xgenda.testing import gaussian_prior, point_observations

pytest.importorskip("torch")

from xgenda.stream import missing_times, resume_to_zarr

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NT = 6


def _ensemble(steps: int = 6) -> xr.Dataset:
    prior = gaussian_prior(8, mean=0.1, std=0.2)[0]
    g = xgenda.grid.regular(lon=(-60, -58), lat=(35, 37), res_deg=0.25,
                            time=pd.date_range("2020-01-01", periods=NT))
    template = g.assign(ssh=(("time", "lat", "lon"), np.zeros((NT, 8, 8)), {"units": "m"}))
    obs = point_observations(template, n=40, error=0.02, seed=1)
    values = 0.1 + 0.2 * np.random.default_rng(0).standard_normal(40)  # the prior's range
    obs = obs.assign(ssh=("obs", values, obs.ssh.attrs))
    return xgenda.assimilate(template.chunk({"time": 1}), prior, obs, members=3, steps=steps)


@pytest.fixture(scope="module")
def expected():
    with dask.config.set(scheduler="synchronous"):
        return _ensemble().ssh.values


def _chunk_files(store, time_index: int) -> list:
    """The files of the ssh chunk holding ``time_index`` (zarr 2 key ``0.k.0.0``)."""
    return [p for p in (store / "ssh").iterdir() if p.name == f"0.{time_index}.0.0"]


@pytest.mark.parametrize("damage", ["truncated", "garbage", "deleted", "empty"])
def test_a_damaged_chunk_counts_as_missing_and_is_recomputed(tmp_path, expected, damage):
    store = tmp_path / "ens.zarr"
    with dask.config.set(scheduler="synchronous"):
        resume_to_zarr(_ensemble(), store)
    (chunk,) = _chunk_files(store, 2)
    data = chunk.read_bytes()
    if damage == "truncated":
        chunk.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        chunk.write_bytes(bytes(reversed(data)))
    elif damage == "deleted":
        chunk.unlink()
    else:
        chunk.write_bytes(b"")
    assert missing_times(_ensemble(), store).tolist() == [2]
    with dask.config.set(scheduler="synchronous"):
        computed = resume_to_zarr(_ensemble(), store)
    assert computed.tolist() == [2]
    np.testing.assert_array_equal(xr.open_zarr(store).ssh.values, expected)


def test_a_half_created_store_is_refused_with_a_hint(tmp_path):
    store = tmp_path / "ens.zarr"
    store.mkdir()
    (store / "stray-file").write_text("not zarr")
    with pytest.raises(FileExistsError, match="delete it and run again"):
        resume_to_zarr(_ensemble(), store)


def test_an_existing_empty_directory_becomes_the_store(tmp_path, expected):
    store = tmp_path / "ens.zarr"
    store.mkdir()
    with dask.config.set(scheduler="synchronous"):
        resume_to_zarr(_ensemble(), store)
    np.testing.assert_array_equal(xr.open_zarr(store).ssh.values, expected)
    assert [p.name for p in tmp_path.iterdir()] == ["ens.zarr"]  # no temporary left


WRITER = textwrap.dedent('''
    import sys
    sys.path[:0] = [{tests!r}, {source!r}]  # this checkout's tests and xgenda
    import dask, torch
    torch.set_num_threads(1)
    from test_stream_faults import _ensemble
    from xgenda.stream import resume_to_zarr
    ens = _ensemble(steps={steps})
    print("writing", flush=True)
    with dask.config.set(scheduler="synchronous"):
        resume_to_zarr(ens, sys.argv[1])
''')


def _start(script, store) -> subprocess.Popen:
    """A writer process, returned once it starts writing (after its imports)."""
    proc = subprocess.Popen([sys.executable, str(script), str(store)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout.readline().strip() == "writing"
    return proc


def _kill_and_resume(store, script, delay: float) -> np.ndarray:
    proc = _start(script, store)
    time.sleep(delay)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with dask.config.set(scheduler="synchronous"):
        resume_to_zarr(_ensemble(steps=40), store)
    assert missing_times(_ensemble(steps=40), store).size == 0
    return xr.open_zarr(store).ssh.values


@pytest.mark.slow
def test_a_writer_killed_at_random_moments_resumes_to_the_same_bits(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(tests=os.path.dirname(__file__),
                                     source=str(Path(xgenda.__file__).parents[1]), steps=40))
    reference = tmp_path / "reference.zarr"
    proc = _start(script, reference)
    start = time.perf_counter()
    assert proc.wait() == 0
    duration = time.perf_counter() - start  # the writing: creation, blocks, chunk writes
    expected = xr.open_zarr(reference).ssh.values
    rng = np.random.default_rng(0)
    for trial, fraction in enumerate(rng.uniform(0.1, 0.9, size=3)):
        got = _kill_and_resume(tmp_path / f"trial{trial}.zarr", script, fraction * duration)
        np.testing.assert_array_equal(got, expected)


def test_resume_refuses_a_store_written_with_another_quality_control(tmp_path):
    store = tmp_path / "ens.zarr"
    with dask.config.set(scheduler="synchronous"):
        resume_to_zarr(_ensemble(), store)
        ens = _ensemble()
    other = ens.assign_attrs(qc_threshold="3.0")
    with pytest.raises(ValueError, match=r"another run.*qc_threshold"):
        missing_times(other, store)


@pytest.mark.slow
def test_command_line_resume_recomputes_a_torn_chunk(tmp_path, capsys):
    from xgenda.cli import main

    prior = xgenda.load_demo_prior()
    stats = prior.normalizer.to_dataset()
    grid = xr.Dataset(coords={"time": pd.date_range("2020-01-01", periods=2),
                              "lat": stats.lat.values, "lon": stats.lon.values})
    obs = point_observations(grid.assign(ssh=(("time", "lat", "lon"),
                                              np.zeros((2, stats.lat.size, stats.lon.size)))),
                             n=30, error=0.02, seed=0)
    # the prior's range: its climatology plus anomalies of its spread
    anomaly = float(stats.ssh_std) * np.random.default_rng(0).standard_normal(obs.sizes["obs"])
    obs = obs.assign(ssh=("obs", stats.ssh_mean.interp(lat=obs.lat, lon=obs.lon).values
                          + anomaly, obs.ssh.attrs))
    obs_path = tmp_path / "obs.nc"
    obs.to_netcdf(obs_path)
    out = tmp_path / "ens.zarr"
    argv = ["assimilate", "--obs", str(obs_path), "--out", str(out), "--prior", "demo",
            "--start", "2020-01-01", "--days", "2", "--members", "1", "--steps", "8",
            "--no-progress"]
    assert main(argv) == 0
    first = xr.open_zarr(out).ssh.values
    chunk = out / "ssh" / "0.1.0.0"
    chunk.write_bytes(chunk.read_bytes()[:10])
    capsys.readouterr()
    assert main([*argv, "--resume"]) == 0
    assert "1 time(s) computed now" in capsys.readouterr().out
    np.testing.assert_array_equal(xr.open_zarr(out).ssh.values, first)
    assert main([*argv, "--resume", "--no-qc"]) == 1  # another run: refused, with a hint
    assert "another run" in capsys.readouterr().err
