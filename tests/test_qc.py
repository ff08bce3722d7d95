"""Observation quality control: gross errors rejected and counted, clean data kept."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xgenda
from xgenda.guard import DistributionShift
from xgenda.obs import AnalysisGrid, collect, route
from xgenda.obs.qc import QualityControl, innovations, quality_control
from xgenda.testing import gaussian_prior, point_observations

pytest.importorskip("torch")

MEAN, STD = 0.1, 0.2


@pytest.fixture(scope="module")
def toy(demo_osse):
    """The demo prior and a toy-ocean OSSE (nadir SSH, L3 SST) of three analysis days."""
    prior, truth, obs = demo_osse
    tree = xr.DataTree.from_dict({k: obs[k].to_dataset() for k in ("nadir", "l3_sst")})
    return prior, truth, tree


def _gaussian_case(values: np.ndarray):
    prior = gaussian_prior(8, mean=MEAN, std=STD)[0]
    g = xgenda.grid.regular(lon=(-60, -58), lat=(35, 37), res_deg=0.25,
                            time=pd.date_range("2020-01-01", periods=1))
    template = g.assign(ssh=(("time", "lat", "lon"), np.zeros((1, 8, 8)), {"units": "m"}))
    obs = point_observations(template, n=values.size, error=0.02, seed=1)
    return prior, template, obs.assign(ssh=("obs", values, obs.ssh.attrs))


def _screen(prior, template, tree, qc=None):
    grid = AnalysisGrid.from_coords(template.lat.values, template.lon.values,
                                    prior.variables)
    times = template.time.values
    sets, _ = route(collect(tree, prior.variables), times, grid, 0.5)
    table = innovations(sets, grid, times, prior.normalizer)
    return sets, table, quality_control(sets, table, qc or QualityControl())


@pytest.mark.slow
def test_clean_toy_ocean_observations_lose_less_than_one_percent(toy):
    prior, template, tree = toy
    _, _, (_, stats) = _screen(prior, template, tree)
    checked = sum(s["checked"] for s in stats)
    rejected = sum(s["rejected"] for s in stats)
    assert checked > 5000
    assert rejected < 0.01 * checked


@pytest.mark.slow
def test_a_gross_error_in_a_toy_ocean_track_is_rejected_and_counted(toy):
    prior, template, tree = toy
    nadir = tree["nadir"].to_dataset()
    grid = AnalysisGrid.from_coords(template.lat.values, template.lon.values, ())
    inside = np.flatnonzero(grid.contains(nadir.lat.values, nadir.lon.values) &
                            (np.abs((nadir.time.values - template.time.values[1])
                                    / np.timedelta64(1, "D")) < 0.5))
    spikes = inside[[3, 40, 80]]
    bad = nadir.ssh.values.copy()
    bad[spikes] += 7 * prior.normalizer.std["ssh"]  # seven prior standard deviations
    tree = tree.copy()
    tree["nadir"] = xr.DataTree(nadir.assign(ssh=("obs", bad, nadir.ssh.attrs)))
    ens = xgenda.assimilate(template, prior, tree, members=2, steps=4)
    summary = {s["name"]: s for s in json.loads(ens.attrs["observations"])}
    assert summary["nadir"]["rejected"] == 3
    assert summary["l3_sst"]["rejected"] == 0
    assert ens.attrs["obs_rejected"] == 3
    clean = xgenda.assimilate(template, prior, toy[2], members=2, steps=4)
    assert ens.attrs["obs_used"] == clean.attrs["obs_used"] - 3
    # the rejected values are gone from the sets the tasks receive
    _, _, (screened, _) = _screen(prior, template, tree)
    routed = screened[0].data.ssh.values
    assert np.isnan(routed).sum() == 3


def test_ssh_in_cm_labelled_m_is_rejected_with_a_warning():
    rng = np.random.default_rng(0)
    prior, template, obs = _gaussian_case(0.3 + 0.5 * STD * rng.standard_normal(50))
    wrong = obs.assign(ssh=obs.ssh * 100)  # cm, still labelled m
    with pytest.warns(UserWarning, match="quality control rejected 50 of 50 'ssh'.*units"), \
            pytest.warns(UserWarning, match="no observations"), \
            pytest.warns(DistributionShift, match="offset"):
        ens = xgenda.assimilate(template, prior, wrong, members=2, steps=4)
    info = json.loads(ens.attrs["observations"])[0]
    assert (info["rejected"], info["used"]) == (50, 0)
    assert ens.attrs["obs_used"] == 0


def test_innovation_statistics_are_in_physical_units():
    rng = np.random.default_rng(1)
    values = MEAN + STD * rng.standard_normal(60) + 0.03
    prior, template, obs = _gaussian_case(values)
    ens = xgenda.assimilate(template, prior, obs, members=2, steps=4)
    info = json.loads(ens.attrs["observations"])[0]
    # the background of a constant-mean prior is that mean: innovations are y - MEAN
    assert info["innovation_mean"]["ssh"] == pytest.approx(np.mean(values - MEAN), abs=1e-12)
    assert info["innovation_std"]["ssh"] == pytest.approx(np.std(values), abs=1e-12)
    assert info["units"]["ssh"] == "m"
    assert info["rejected"] == 0
    assert info["used"] == 60


def test_threshold_is_in_standard_deviations_of_the_innovation():
    # innovation / sqrt(STD^2 + 0.02^2): 4 and 6 such deviations around the mean
    scale = np.hypot(STD, 0.02)
    rng = np.random.default_rng(3)
    values = MEAN + scale * np.clip(rng.standard_normal(30), -2.5, 2.5)
    values[0], values[1] = MEAN + 4 * scale, MEAN - 6 * scale
    prior, template, obs = _gaussian_case(values)
    for qc, rejected in ((5.0, 1), (3.0, 2), (7.0, 0), (None, 0)):
        ens = xgenda.assimilate(template, prior, obs, members=2, steps=4, qc=qc)
        assert json.loads(ens.attrs["observations"])[0]["rejected"] == rejected, qc
    assert json.loads(ens.attrs["qc_threshold"]) is None


def test_a_first_guess_ensemble_replaces_the_climatology():
    values = np.full(30, MEAN + 0.5)  # 2.5 prior std from the climatology: accepted
    prior, template, obs = _gaussian_case(values)
    with pytest.warns(DistributionShift, match="offset"):
        ens = xgenda.assimilate(template, prior, obs, members=2, steps=4)
    assert json.loads(ens.attrs["observations"])[0]["rejected"] == 0
    # a confident first guess at MEAN (spread 0.01 m) rejects them all
    rng = np.random.default_rng(2)
    fg = xr.Dataset({"ssh": (("member", "time", "lat", "lon"),
                             MEAN + 0.01 * rng.standard_normal((8, 1, 8, 8)))},
                    coords={"time": template.time, "lat": template.lat, "lon": template.lon})
    with pytest.warns(UserWarning, match="rejected 30 of 30"), \
            pytest.warns(UserWarning, match="no observations"), \
            pytest.warns(DistributionShift, match="offset"):
        ens = xgenda.assimilate(template, prior, obs, members=2, steps=4,
                                qc=QualityControl(first_guess=fg))
    assert json.loads(ens.attrs["observations"])[0]["rejected"] == 30


@pytest.mark.parametrize("qc", [0.0, -1.0, "strict", True])
def test_bad_quality_control_settings_are_refused(qc):
    prior, template, obs = _gaussian_case(np.full(5, MEAN))
    with pytest.raises((ValueError, TypeError), match=r"qc|threshold"):
        xgenda.assimilate(template, prior, obs, members=2, steps=4, qc=qc)
