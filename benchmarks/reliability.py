"""Reliability: bad inputs across the public API and the command line, and killed writers.

Every bad input is tried and its outcome classified:

- ``clear error``: an exception of the expected kind whose message says what is
  wrong (it matches the case's pattern);
- ``handled``: the call succeeds and its result is checked to be right (a warning
  where one is due, the right counts in the attrs, the same bits as a clean run);
- ``obscure``: an exception, but another kind or a message that does not say what
  is wrong;
- ``silent``: the call succeeds and the check of its result fails.

Observation Datasets are also fuzzed with hypothesis (random coordinates inside
and outside the domain, NaN and infinite values, units, dtypes, errors, empty
sets): each example must give a clear error or a handled result whose counts are
consistent. Then a writer process is killed (SIGKILL) at random moments of a
streaming run, resumed, and the store compared bit for bit with an uninterrupted
run.

Usage::

    python benchmarks/reliability.py [--trials 20] [--fuzz 80] [--seed 0]

Writes ``benchmarks/results/reliability.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

sys.path.insert(0, str(Path(__file__).parent))
from _common import header, run_info

RESULTS = Path(__file__).parent / "results"
MEAN, STD = 0.1, 0.2


# -- a small problem ----------------------------------------------------------------------
def _problem(nt: int = 2) -> tuple[Any, xr.Dataset, xr.Dataset]:
    import xgenda
    from xgenda.testing import gaussian_prior, point_observations

    prior = gaussian_prior(8, mean=MEAN, std=STD)[0]
    g = xgenda.grid.regular(lon=(-60, -58), lat=(35, 37), res_deg=0.25,
                            time=pd.date_range("2020-01-01", periods=nt))
    template = g.assign(ssh=(("time", "lat", "lon"), np.zeros((nt, 8, 8)), {"units": "m"}))
    obs = point_observations(template, n=40, error=0.02, seed=1)
    rng = np.random.default_rng(0)
    obs = obs.assign(ssh=("obs", MEAN + STD * rng.standard_normal(40), obs.ssh.attrs))
    return prior, template, obs


def _assimilate(template: Any, prior: Any, obs: Any, **kw: Any) -> xr.Dataset:
    import xgenda

    kw.setdefault("members", 2)
    kw.setdefault("steps", 4)
    return xgenda.assimilate(template, prior, obs, **kw)


# -- cases --------------------------------------------------------------------------------
class Case:
    """A bad input: ``run()`` either raises (``error`` pattern) or returns a checked result."""

    def __init__(self, area: str, what: str, run: Callable[[], Any], *,
                 error: str | None = None, kinds: tuple[type, ...] = (ValueError, TypeError),
                 check: Callable[[Any, list[str]], bool] | None = None,
                 expect: str = "") -> None:
        self.area, self.what, self.run = area, what, run
        self.error, self.kinds, self.check, self.expect = error, kinds, check, expect

    def outcome(self) -> dict[str, Any]:
        caught: list[str] = []
        try:
            with warnings.catch_warnings(record=True) as record:
                warnings.simplefilter("always")
                result = self.run()
            caught = [f"{type(w.message).__name__}: {w.message}" for w in record]
        except Exception as err:  # the outcome is being classified
            message = f"{type(err).__name__}: {err}"
            clear = self.error is not None and isinstance(err, self.kinds) and \
                re.search(self.error, str(err), re.S) is not None
            return {"outcome": "clear error" if clear else "obscure", "detail": message}
        if self.check is not None and self.check(result, caught):
            detail = self.expect or "checked"
            return {"outcome": "handled", "detail": detail}
        return {"outcome": "silent", "detail": f"returned; warnings: {caught}"}


def _warned(pattern: str) -> Callable[[list[str]], bool]:
    return lambda caught: any(re.search(pattern, w, re.S) for w in caught)


def _attrs_obs(ens: xr.Dataset) -> dict[str, Any]:
    return json.loads(ens.attrs["observations"])[0]


def _cli(argv: list[str]) -> tuple[int, str]:
    from xgenda.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(argv)
    return rc, err.getvalue()


def _cli_case(area: str, what: str, argv: Callable[[], list[str]], error: str) -> Case:
    def run() -> Any:
        rc, err = _cli(argv())
        if rc != 0:
            raise ValueError(err.strip() or f"exit status {rc}")
        return rc

    return Case(area, what, run, error=error)


def cases(workdir: Path) -> list[Case]:
    import xgenda
    from xgenda.baselines import optimal_interpolation
    from xgenda.catalog import open_catalog
    from xgenda.stream import resume_to_zarr
    from xgenda.variables import unit_conversion

    prior, template, obs = _problem()
    a = "assimilate"
    out: list[Case] = []

    def add(what: str, run: Callable[[], Any], error: str, **kw: Any) -> None:
        out.append(Case(a, what, run, error=error, **kw))

    add("members=0", lambda: _assimilate(template, prior, obs, members=0),
        "members must be a positive integer")
    add("members=2.5", lambda: _assimilate(template, prior, obs, members=2.5),
        "members must be a positive integer")
    add("steps=0", lambda: _assimilate(template, prior, obs, steps=0),
        "steps must be an integer >= 1")
    add("seed=-1", lambda: _assimilate(template, prior, obs, seed=-1),
        "seed must be a non-negative integer")
    add("method='foo'", lambda: _assimilate(template, prior, obs, method="foo"),
        "unknown method 'foo'; expected one of")
    add("preset='bar'", lambda: _assimilate(template, prior, obs, preset="bar"),
        "unknown preset")
    add("time_window=0", lambda: _assimilate(template, prior, obs, time_window=0),
        r"time_window .*half_width \(days\) must be a finite number > 0")
    add("time_window='soon'", lambda: _assimilate(template, prior, obs, time_window="soon"),
        "time_window .*must be a number of days")
    add("solver='rk4'", lambda: _assimilate(template, prior, obs, solver="rk4"),
        "solver must be one of")
    add("padding='zero'", lambda: _assimilate(template, prior, obs, padding="zero"),
        "padding must be 'mask' or 'reflect'")
    add("tile_overlap = patch size", lambda: _assimilate(template, prior, obs, tile_overlap=8),
        r"tile_overlap must be in \[0, 8\)")
    add("a CUDA device on a machine without one",
        lambda: _assimilate(template, prior, obs, device="cuda:7"), "CUDA|cuda",
        kinds=(ValueError, RuntimeError))
    add("guidance parameter of another method",
        lambda: _assimilate(template, prior, obs, guidance={"zeta": 1.0}),
        "do not (all )?apply to method 'mmps'")
    add("gamma with mmps", lambda: _assimilate(template, prior, obs, gamma=0.1),
        "mmps' has none")
    add("qc=-1", lambda: _assimilate(template, prior, obs, qc=-1.0),
        "threshold must be a positive number")
    add("qc='yes'", lambda: _assimilate(template, prior, obs, qc="yes"),
        "qc must be None")
    # templates
    add("template is a NumPy array", lambda: _assimilate(np.zeros((2, 8, 8)), prior, obs),
        "template must be an xarray Dataset or DataArray")
    add("template without time", lambda: _assimilate(template.isel(time=0, drop=True), prior,
                                                     obs), "time")
    add("template at another grid spacing", lambda: _assimilate(
        xgenda.grid.regular(lon=(-60, -58), lat=(35, 37), res_deg=0.125,
                            time=template.time.values), prior, obs),
        "differs from the prior's training spacing")
    add("template with duplicated times", lambda: _assimilate(
        template.assign_coords(time=[template.time.values[0]] * 2), prior, obs),
        "duplicated times.*strictly increasing")
    add("template with unsorted times", lambda: _assimilate(
        template.isel(time=[1, 0]), prior, obs), "out of order.*strictly increasing")
    add("all-NaN (all-land) template", lambda: _assimilate(
        template.assign(ssh=template.ssh * np.nan), prior, obs), "NaN everywhere")
    add("lazy all-NaN template (error at compute)", lambda: _assimilate(
        template.assign(ssh=template.ssh * np.nan).chunk({"time": 1}), prior, obs).compute(),
        "NaN everywhere")
    # priors
    add("prior: a path that does not exist",
        lambda: _assimilate(template, str(workdir / "no-such-prior"), obs),
        "no-such-prior", kinds=(ValueError, FileNotFoundError, OSError))
    add("prior: a number", lambda: _assimilate(template, 42, obs), "prior must be an xgenda")
    # observations
    add("observations of a variable the prior does not model",
        lambda: _assimilate(template, prior, obs.rename(ssh="sst", ssh_error="sst_error")),
        "sst")
    add("observations in unknown units", lambda: _assimilate(
        template, prior, obs.assign(ssh=obs.ssh.assign_attrs(units="bananas"))), "bananas")
    add("observations in incompatible units", lambda: _assimilate(
        template, prior, obs.assign(ssh=obs.ssh.assign_attrs(units="degC"))), "degC")
    add("observations without units", lambda: _assimilate(
        template, prior, obs.assign(ssh=obs.ssh.assign_attrs(units=None).drop_attrs())),
        "units")
    add("negative observation errors", lambda: _assimilate(
        template, prior, obs.assign(ssh_error=-obs.ssh_error)), "non-positive error")
    add("observations without errors", lambda: _assimilate(
        template, prior, obs.drop_vars("ssh_error")), "error")
    add("observations with wrong dims", lambda: _assimilate(
        template, prior, obs.rename_dims(obs="points")), "obs|dim")
    add("observations without time coordinate", lambda: _assimilate(
        template, prior, obs.drop_vars("time")), "time")

    def all_nan() -> Any:
        return _assimilate(template, prior, obs.assign(ssh=obs.ssh * np.nan))

    add("all-NaN observations", all_nan, "", check=lambda ens, w: ens.attrs["obs_used"] == 0
        and _warned("no observations")(w), expect="not used; no-observation warning")

    def cm() -> Any:
        return _assimilate(template, prior, obs.assign(ssh=(obs.ssh + 0.3) * 100))

    add("SSH in cm labelled m", cm, "", check=lambda ens, w: _attrs_obs(ens)["rejected"] == 40
        and _warned("quality control rejected 40 of 40")(w),
        expect="all rejected by quality control, with a warning about units")

    def spike() -> Any:
        values = obs.ssh.values.copy()
        values[7] += 2.0
        return _assimilate(template, prior, obs.assign(ssh=("obs", values, obs.ssh.attrs)))

    add("one gross error (+2 m) among good observations", spike, "",
        check=lambda ens, w: _attrs_obs(ens)["rejected"] == 1 and ens.attrs["obs_used"] == 39,
        expect="rejected and counted (1 of 40)")

    def offset() -> Any:
        return _assimilate(template, prior, obs.assign(ssh=obs.ssh + 2 * STD))

    add("observations offset by 2 prior std", offset, "",
        check=lambda ens, w: _warned("DistributionShift.*offset.*fit a Normalizer")(w),
        expect="out-of-distribution warning with the numbers and what to do")
    add("observations offset by 2 prior std, strict=True",
        lambda: _assimilate(template, prior, obs.assign(ssh=obs.ssh + 2 * STD), strict=True),
        "outside what the prior was trained on.*offset")

    def scaled() -> Any:
        return _assimilate(template, prior, obs.assign(ssh=MEAN + 2.5 * (obs.ssh - MEAN)))

    add("observations scaled by 2.5 about the mean", scaled, "",
        check=lambda ens, w: _warned("DistributionShift.*vary")(w),
        expect="out-of-distribution warning (variance ratio)")

    def far() -> Any:
        return _assimilate(template, prior, obs.assign_coords(lat=obs.lat + 20))

    add("observations outside the domain", far, "",
        check=lambda ens, w: _attrs_obs(ens)["outside_domain"] == 40
        and ens.attrs["obs_used"] == 0 and _warned("no observations")(w),
        expect="counted as out-of-domain; no-observation warning")

    def late() -> Any:
        return _assimilate(template, prior, obs.assign_coords(
            time=obs.time + np.timedelta64(30, "D")))

    add("observations outside every time window", late, "",
        check=lambda ens, w: _attrs_obs(ens)["outside_time"] == 40
        and _warned("no observations")(w), expect="counted; no-observation warning")

    def empty() -> Any:
        return _assimilate(template, prior, obs.isel(obs=slice(0, 0)))

    add("an empty observation set", empty, "",
        check=lambda ens, w: ens.attrs["obs_used"] == 0 and _warned("no observations")(w),
        expect="no-observation warning")

    # optimal interpolation
    o = "optimal_interpolation"
    out.append(Case(o, "all-NaN observations", lambda: optimal_interpolation(
        obs.assign(ssh=obs.ssh * np.nan), template), error="all NaN"))
    out.append(Case(o, "negative errors with noise='obs'", lambda: optimal_interpolation(
        obs.assign(ssh_error=-obs.ssh_error), template, noise="obs"),
        error="non-positive error"))
    out.append(Case(o, "Lt_days=0", lambda: optimal_interpolation(obs, template, Lt_days=0),
                    error="Lt_days must be positive"))
    out.append(Case(o, "a variable that is not there", lambda: optimal_interpolation(
        obs, template, "sst"), error="no variable 'sst'"))

    # streaming and resume
    s = "resume_to_zarr"
    ens = _assimilate(template.chunk({"time": 1}), prior, obs)

    def other_run() -> Any:
        store = workdir / "other.zarr"
        resume_to_zarr(ens, store)
        return resume_to_zarr(_assimilate(template.chunk({"time": 1}), prior, obs, seed=9),
                              store)

    out.append(Case(s, "a store of another run", other_run, error="holds another run"))

    def not_zarr() -> Any:
        store = workdir / "not-zarr"
        store.mkdir()
        (store / "notes.txt").write_text("hello")
        return resume_to_zarr(ens, store)

    out.append(Case(s, "a directory that is not a zarr store", not_zarr,
                    error="not a readable zarr store", kinds=(FileExistsError,)))
    out.append(Case(s, "an in-memory (not dask) ensemble", lambda: resume_to_zarr(
        ens.compute(), workdir / "eager.zarr"), error="needs a dask-backed ensemble"))

    def torn() -> Any:
        store = workdir / "torn.zarr"
        resume_to_zarr(ens, store)
        chunk = store / "ssh" / "0.1.0.0"
        chunk.write_bytes(chunk.read_bytes()[:7])
        return store, resume_to_zarr(ens, store)

    expected = ens.ssh.values
    out.append(Case(s, "a torn chunk in the store", torn, check=lambda r, w: r[1].tolist() == [1]
                    and np.array_equal(xr.open_zarr(r[0]).ssh.values, expected),
                    expect="time 1 recomputed; bit-identical"))

    # data layer
    out.append(Case("catalog", "a missing catalog entry", lambda: open_catalog()["toy_oceans"],
                    error="available entries: .*toy_ocean", kinds=(KeyError,)))
    out.append(Case("variables", "unit conversion m -> degC", lambda: unit_conversion(
        "m", "degC", variable="ssh"), error="m.*degC"))

    def lon_bounds() -> Any:
        lon = np.arange(0.125, 360, 0.25)
        ds = xr.Dataset({"adt": (("lat", "lon"), np.zeros((2, lon.size)), {"units": "m"}),
                         "lon_bnds": (("lon", "nv"), np.stack([lon - 0.125, lon + 0.125], 1))},
                        coords={"lat": [1.0, 2.0], "lon": lon})
        return ds.genda.standardize()

    out.append(Case("variables", "standardize: longitudes 0..360 with bounds", lon_bounds,
                    check=lambda ds, w: np.array_equal(ds.lon_bnds.values[:, 0],
                                                       ds.lon.values - 0.125),
                    expect="bounds wrapped with their cells"))

    # command line
    c = "xgenda assimilate (CLI)"
    obs_path = workdir / "obs.nc"
    obs.to_netcdf(obs_path)
    base = ["assimilate", "--obs", str(obs_path), "--prior", "demo", "--start",
            "2020-01-01", "--days", "1", "--members", "1", "--steps", "2", "--no-progress"]
    out.append(_cli_case(c, "--obs: a file that does not exist", lambda: [
        "assimilate", "--obs", str(workdir / "missing.nc"), "--out", str(workdir / "x.zarr"),
        "--prior", "demo", "--days", "1", "--start", "2020-01-01"], "missing.nc"))
    exists = workdir / "exists.zarr"
    exists.mkdir()
    out.append(_cli_case(c, "--out exists, without --resume", lambda: [
        *base, "--out", str(exists)], "pass --resume"))
    out.append(_cli_case(c, "--members 0", lambda: [*base, "--out", str(workdir / "m0.zarr"),
                                                    "--members", "0"], "members"))
    out.append(_cli_case(c, "--prior: a path that does not exist", lambda: [
        *base, "--out", str(workdir / "p.zarr"), "--prior", str(workdir / "nope")], "nope"))
    out.append(_cli_case(c, "--qc 0", lambda: [*base, "--out", str(workdir / "q.zarr"),
                                               "--qc", "0"], "threshold"))
    return out


# -- fuzzing ------------------------------------------------------------------------------
def fuzz(examples: int, seed: int) -> list[dict[str, Any]]:
    """Random observation Datasets through ``assimilate``: clear error or consistent result."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as seed_hypothesis
    from hypothesis import strategies as st

    prior, template, _ = _problem()
    t0 = template.time.values[0]
    records: list[dict[str, Any]] = []
    finite = st.floats(-1e3, 1e3, allow_nan=False)
    near = st.floats(MEAN - 3 * STD, MEAN + 3 * STD)
    value = st.one_of(near, near, near, finite, st.just(np.nan), st.just(np.inf))

    @st.composite
    def observations(draw: Any) -> xr.Dataset:
        n = draw(st.integers(0, 25))
        # mostly inside the domain and the time windows, so that most values can be used
        inside_lat, inside_lon = st.floats(35.2, 36.8), st.floats(-59.8, -58.2)
        lat = draw(st.lists(st.one_of(inside_lat, inside_lat, inside_lat, st.floats(-90, 90),
                                      st.just(np.nan)), min_size=n, max_size=n))
        lon = draw(st.lists(st.one_of(inside_lon, inside_lon, inside_lon,
                                      st.floats(-180, 360), st.just(np.nan)),
                            min_size=n, max_size=n))
        in_window = st.integers(-12, 35)
        hours = draw(st.lists(st.one_of(in_window, in_window, st.integers(-72, 96)),
                              min_size=n, max_size=n))
        values = draw(st.lists(value, min_size=n, max_size=n))
        dtype = draw(st.sampled_from(["float16", "float32", "float64", "int32"]))
        # mostly valid units and errors, so that most examples reach the assimilation
        units = draw(st.sampled_from(["m", "m", "m", "m", "cm", "mm", "km", "bananas", None,
                                      "degC", "1"]))
        kind = draw(st.sampled_from(["ok", "ok", "ok", "ok", "zero", "negative", "nan",
                                     "none"]))
        error = {"ok": draw(st.floats(1e-3, 1.0)), "zero": 0.0, "negative": -0.1,
                 "nan": np.nan, "none": None}[kind]
        with np.errstate(all="ignore"):
            data = np.asarray(values, dtype=float)
            data = np.where(np.isfinite(data), data, 0).astype(dtype) if dtype == "int32" \
                else data.astype(dtype)
        attrs = {} if units is None else {"units": units}
        ds = xr.Dataset(
            {"ssh": ("obs", data, attrs)},
            coords={"time": ("obs", t0 + np.asarray(hours, "timedelta64[h]")),
                    "lat": ("obs", np.asarray(lat, float)),
                    "lon": ("obs", np.asarray(lon, float))},
            attrs={"genda_obs": "points"})
        if error is not None:
            ds["ssh_error"] = ("obs", np.full(n, error), attrs)
        return ds

    @settings(max_examples=examples, deadline=None, database=None, derandomize=seed == 0,
              suppress_health_check=list(HealthCheck))
    @seed_hypothesis(seed)
    @given(observations())
    def check(ds: xr.Dataset) -> None:
        key = ds.to_dict(data="list").__repr__()
        if key not in seen:  # hypothesis may draw the same Dataset again
            seen.add(key)
            records.append(_fuzz_outcome(prior, template, ds))

    seen: set[str] = set()
    check()
    return records


_CLEAR = re.compile(r"obs|observ|unit|error|coordinate|dim|variable|time|lat|lon|NaN|value",
                    re.I)


def _fuzz_outcome(prior: Any, template: xr.Dataset, ds: xr.Dataset) -> dict[str, Any]:
    desc = (f"n={ds.sizes['obs']}, dtype={ds.ssh.dtype}, units={ds.ssh.attrs.get('units')}, "
            f"error={'none' if 'ssh_error' not in ds else float(ds.ssh_error[0]) if ds.sizes['obs'] else 'empty'}")
    try:
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            ens = _assimilate(template, prior, ds)
    except (ValueError, TypeError) as err:
        clear = bool(_CLEAR.search(str(err))) and len(str(err)) > 25
        return {"input": desc, "outcome": "clear error" if clear else "obscure",
                "detail": f"{type(err).__name__}: {str(err)[:160]}"}
    except Exception as err:  # anything else is obscure
        return {"input": desc, "outcome": "obscure",
                "detail": f"{type(err).__name__}: {str(err)[:160]}"}
    info = json.loads(ens.attrs["observations"])[0]
    lat, lon = ds.lat.values, ds.lon.values
    with np.errstate(invalid="ignore"):
        usable = np.isfinite(np.asarray(ds.ssh.values, float)) & np.isfinite(lat) & \
            np.isfinite(lon)
    consistent = (info["count"] == ds.sizes["obs"]
                  and info["outside_time"] + info["outside_domain"] + info["kept"]
                  == info["count"]
                  and 0 <= ens.attrs["obs_used"] <= int(usable.sum())
                  and info["used"] + info["rejected"] <= info["kept"])
    warned = any("no observations" in str(w.message) for w in record)
    if consistent and (ens.attrs["obs_used"] > 0 or warned):
        return {"input": desc, "outcome": "handled",
                "detail": f"used {ens.attrs['obs_used']}, rejected {info['rejected']}"}
    return {"input": desc, "outcome": "silent", "detail": json.dumps(info)}


# -- fault injection ----------------------------------------------------------------------
WRITER = textwrap.dedent('''
    import sys
    sys.path.insert(0, {here!r})
    import dask, torch
    torch.set_num_threads(1)
    from reliability import _fault_ensemble
    from xgenda.stream import resume_to_zarr
    ens = _fault_ensemble()
    print("writing", flush=True)
    with dask.config.set(scheduler="synchronous"):
        resume_to_zarr(ens, sys.argv[1])
''')


def _fault_ensemble() -> xr.Dataset:
    import xgenda
    from xgenda.testing import gaussian_prior, point_observations

    prior = gaussian_prior(8, mean=MEAN, std=STD)[0]
    g = xgenda.grid.regular(lon=(-60, -58), lat=(35, 37), res_deg=0.25,
                            time=pd.date_range("2020-01-01", periods=8))
    template = g.assign(ssh=(("time", "lat", "lon"), np.zeros((8, 8, 8)), {"units": "m"}))
    obs = point_observations(template, n=60, error=0.02, seed=1)
    rng = np.random.default_rng(0)
    obs = obs.assign(ssh=("obs", MEAN + STD * rng.standard_normal(60), obs.ssh.attrs))
    return xgenda.assimilate(template.chunk({"time": 1}), prior, obs, members=4, steps=40)


def fault_trials(trials: int, seed: int, workdir: Path) -> list[dict[str, Any]]:
    """Kill a streaming writer at random moments, resume, compare with a clean run."""
    import dask

    from xgenda.stream import missing_times, resume_to_zarr

    script = workdir / "writer.py"
    script.write_text(WRITER.format(here=str(Path(__file__).parent)))
    reference = workdir / "reference.zarr"
    proc = _start(script, reference)
    tic = time.perf_counter()
    if proc.wait() != 0:
        raise RuntimeError("the uninterrupted writer failed")
    duration = time.perf_counter() - tic  # from the start of the writing to the exit
    expected = xr.open_zarr(reference).ssh.values
    rng = np.random.default_rng(seed)
    records = []
    for k in range(trials):
        store = workdir / f"trial{k}.zarr"
        delay = float(rng.uniform(0.0, 1.0) * duration)
        proc = _start(script, store)
        time.sleep(delay)
        killed = proc.poll() is None
        if killed:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        ens = _fault_ensemble()
        before = int(missing_times(ens, store).size) if _exists(store) else ens.sizes["time"]
        with dask.config.set(scheduler="synchronous"):
            computed = resume_to_zarr(ens, store)
        identical = bool(np.array_equal(xr.open_zarr(store).ssh.values, expected))
        records.append({"trial": k, "kill_after_s": round(delay, 3),
                        "write_duration_s": round(duration, 3), "killed": killed,
                        "missing_before_resume": before, "recomputed": len(computed),
                        "bit_identical": identical})
        print(f"trial {k}: killed {delay:.2f} s into a {duration:.2f} s write, {before} "
              f"time(s) missing, "
              f"{len(computed)} recomputed, bit-identical: {identical}", flush=True)
    return records


def _start(script: Path, store: Path) -> subprocess.Popen:
    """Start a writer and return once it starts writing (imports and graph done)."""
    proc = subprocess.Popen([sys.executable, str(script), str(store)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    if line.strip() != "writing":
        raise RuntimeError(f"the writer did not start: {line!r}")
    return proc


def _exists(store: Path) -> bool:
    try:
        xr.open_zarr(store, chunks=None)
    except Exception:  # no store yet (killed before it was created)
        return False
    return True


# -- main ---------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20, help="fault-injection trials")
    parser.add_argument("--fuzz", type=int, default=80, help="hypothesis examples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS / "reliability"))
    args = parser.parse_args(argv)

    import torch

    import xgenda._runtime  # noqa: F401 - run_info resolves the device through it

    torch.set_num_threads(1)
    info = run_info(argv, "cpu")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        rows = []
        for case in cases(workdir):
            res = case.outcome()
            rows.append({"area": case.area, "input": case.what, **res})
            print(f"{res['outcome']:>12}  {case.area}: {case.what}", flush=True)
        fuzzed = fuzz(args.fuzz, args.seed)
        trials = fault_trials(args.trials, args.seed, workdir)

    counts = pd.Series([r["outcome"] for r in rows]).value_counts().to_dict()
    fcounts = pd.Series([r["outcome"] for r in fuzzed]).value_counts().to_dict()
    identical = sum(t["bit_identical"] for t in trials)
    killed = sum(t["killed"] for t in trials)
    print(f"bad inputs: {len(rows)} {counts}; fuzzed: {len(fuzzed)} {fcounts}; "
          f"fault trials: {identical}/{len(trials)} bit-identical ({killed} killed mid-run)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = {"bad_inputs": len(rows), "outcomes": counts, "fuzz_examples": len(fuzzed),
               "fuzz_outcomes": fcounts, "fault_trials": len(trials),
               "fault_trials_killed": killed, "fault_trials_bit_identical": identical}
    out.with_suffix(".json").write_text(json.dumps(
        {**info, "seed": args.seed, "summary": summary, "cases": rows, "fuzz": fuzzed,
         "fault_trials": trials}, indent=2, default=str))
    out.with_suffix(".md").write_text(_markdown(info, args, summary, rows, fuzzed, trials))
    print(f"wrote {out.with_suffix('.md')}")
    bad = counts.get("silent", 0) + counts.get("obscure", 0) + fcounts.get("silent", 0) + \
        fcounts.get("obscure", 0)
    return 0 if bad == 0 and identical == len(trials) else 1


def _markdown(info: dict[str, Any], args: argparse.Namespace, summary: dict[str, Any],
              rows: list[dict[str, Any]], fuzzed: list[dict[str, Any]],
              trials: list[dict[str, Any]]) -> str:
    lines = header("Reliability: bad inputs and killed writers", info)
    lines += [f"- seed: {args.seed}; hypothesis examples: {args.fuzz}; fault trials: "
              f"{args.trials}", "",
              "## Summary", "",
              f"- {summary['bad_inputs']} hand-written bad inputs: "
              + ", ".join(f"{v} {k}" for k, v in sorted(summary["outcomes"].items())),
              f"- {summary['fuzz_examples']} fuzzed observation Datasets (hypothesis): "
              + ", ".join(f"{v} {k}" for k, v in sorted(summary["fuzz_outcomes"].items())),
              f"- {summary['fault_trials']} writers killed with SIGKILL at random moments "
              f"({summary['fault_trials_killed']} before they finished), resumed: "
              f"{summary['fault_trials_bit_identical']} bit-identical to an uninterrupted run",
              "",
              "Outcomes: *clear error* (the expected exception, saying what is wrong), "
              "*handled* (the result was checked), *obscure* (another exception or an "
              "unhelpful message), *silent* (a result that fails its check).", "",
              "## Bad inputs", "", "| area | input | outcome | detail |", "|---|---|---|---|"]
    for r in rows:
        detail = str(r["detail"]).replace("|", "\\|").replace("\n", " ")[:220]
        lines.append(f"| {r['area']} | {r['input']} | {r['outcome']} | {detail} |")
    lines += ["", "## Fuzzed observation Datasets (first 25)", "",
              "| input | outcome | detail |", "|---|---|---|"]
    for r in fuzzed[:25]:
        detail = str(r["detail"]).replace("|", "\\|").replace("\n", " ")[:160]
        lines.append(f"| {r['input']} | {r['outcome']} | {detail} |")
    lines += ["", "## Fault injection", "",
              "A subprocess streams an 8-time ensemble (one zarr chunk per time) with "
              "`resume_to_zarr` and is killed with SIGKILL after a random delay, drawn "
              "uniformly over the writing of an uninterrupted run (from the start of "
              "`resume_to_zarr`: store creation, block computations and chunk writes); "
              "`resume_to_zarr` then completes the store in this process and it is compared "
              "bit for bit with the uninterrupted run.", "",
              "| trial | kill after (s) | killed | missing times | recomputed | bit-identical |",
              "|---|---|---|---|---|---|"]
    for t in trials:
        lines.append(f"| {t['trial']} | {t['kill_after_s']} | {t['killed']} | "
                     f"{t['missing_before_resume']} | {t['recomputed']} | "
                     f"{t['bit_identical']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
