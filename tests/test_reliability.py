"""No silent wrong answers: the out-of-distribution guard and the formerly silent cases."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xgenda
from xgenda.guard import DistributionShift, OutOfDistributionError
from xgenda.testing import gaussian_prior, point_observations

pytest.importorskip("torch")

MEAN, STD = 0.1, 0.2


@pytest.fixture(scope="module")
def toy(demo_osse):
    """The demo prior and a toy-ocean OSSE (nadir SSH, L3 SST) of three analysis days."""
    prior, truth, obs = demo_osse
    return prior, truth, obs["nadir"].to_dataset(), obs["l3_sst"].to_dataset()


def _tree(nadir, l3):
    return xr.DataTree.from_dict({"nadir": nadir, "l3_sst": l3})


def _gaussian(nt: int = 2, **prior_kw):
    prior = gaussian_prior(8, mean=MEAN, std=STD, **prior_kw)[0]
    g = xgenda.grid.regular(lon=(-60, -58), lat=(35, 37), res_deg=0.25,
                            time=pd.date_range("2020-01-01", periods=nt))
    template = g.assign(ssh=(("time", "lat", "lon"), np.zeros((nt, 8, 8)), {"units": "m"}))
    rng = np.random.default_rng(0)
    obs = point_observations(template, n=40, error=0.02, seed=1)
    obs = obs.assign(ssh=("obs", MEAN + STD * rng.standard_normal(40), obs.ssh.attrs))
    return prior, template, obs


# -- the out-of-distribution guard ---------------------------------------------------------
@pytest.mark.slow
def test_the_toy_ocean_osse_does_not_trigger_the_guard(toy):
    prior, template, nadir, l3 = toy
    with warnings.catch_warnings():
        warnings.simplefilter("error", DistributionShift)
        ens = xgenda.assimilate(template, prior, _tree(nadir, l3), members=2, steps=4)
    stats = json.loads(ens.attrs["distribution_check"])
    assert stats["problems"] == []
    assert abs(stats["statistics"]["ssh"]["offset"]) < 0.5
    assert abs(stats["statistics"]["sst"]["offset"]) < 0.5


@pytest.mark.slow
@pytest.mark.parametrize("change", ["offset", "scale"])
def test_a_field_offset_by_two_std_or_scaled_by_two_triggers_the_guard(toy, change):
    prior, template, nadir, l3 = toy
    std = prior.normalizer.std["ssh"]
    ssh = nadir.ssh + 2 * std if change == "offset" else nadir.ssh * 2
    moved = _tree(nadir.assign(ssh=ssh.assign_attrs(nadir.ssh.attrs)), l3)
    message = "offset from the prior's climatology by \\+2" if change == "offset" else \
        "ssh observations vary"
    with pytest.warns(DistributionShift, match=f"{message}.*fit a Normalizer"):
        xgenda.assimilate(template, prior, moved, members=2, steps=4, qc=None)
    with pytest.raises(OutOfDistributionError, match=message):
        xgenda.assimilate(template, prior, moved, members=2, steps=4, qc=None, strict=True)


def test_guard_statistics_match_the_definition():
    prior, template, obs = _gaussian()
    values = MEAN + 0.6 + STD * np.random.default_rng(4).standard_normal(40)  # 3 std offset
    obs = obs.assign(ssh=("obs", values, obs.ssh.attrs))
    with pytest.warns(DistributionShift, match=r"offset .* by \+2\.9"):
        ens = xgenda.assimilate(template, prior, obs, members=2, steps=4, qc=None)
    st = json.loads(ens.attrs["distribution_check"])["statistics"]["ssh"]
    assert st["offset"] == pytest.approx(np.median((values - MEAN) / STD))
    # a constant climatology: the prior's variance at the observations is STD^2
    assert st["variance_ratio"] == pytest.approx((np.var(values) - 0.02**2) / STD**2)


def test_a_template_far_from_the_training_region_triggers_the_guard():
    prior, template, obs = _gaussian()
    far = template.assign_coords(lat=template.lat + 30)
    far_obs = obs.assign_coords(lat=obs.lat + 30)
    with pytest.warns(DistributionShift, match="outside the training region"):
        xgenda.assimilate(far, prior, far_obs, members=2, steps=4)


def test_a_season_outside_the_training_period_triggers_the_guard():
    prior, template, obs = _gaussian()
    stats = prior.normalizer.to_dataset()
    stats.attrs["fit_time_range"] = "2019-06-01T00:00:00/2019-08-31T00:00:00"
    summer = xgenda.Prior.from_denoiser(prior.denoiser(), ["ssh"], xgenda.Normalizer(stats),
                                        8, prior.res_deg, lat=template.lat.values,
                                        lon=template.lon.values)
    with pytest.warns(DistributionShift, match="2 of 2 analysis times fall in a season"):
        xgenda.assimilate(template, summer, obs, members=2, steps=4)  # January
    july = template.assign_coords(time=pd.date_range("2021-07-01", periods=2))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DistributionShift)
        xgenda.assimilate(july, summer, obs.assign_coords(
            time=obs.time + (july.time.values[0] - template.time.values[0])),
            members=2, steps=4)


# -- formerly silent cases -----------------------------------------------------------------
def test_nan_only_observations_are_not_used_and_give_the_no_observation_warning():
    prior, template, obs = _gaussian()
    empty = obs.assign(ssh=obs.ssh * np.nan)
    with pytest.warns(UserWarning, match="no observations"):
        ens = xgenda.assimilate(template, prior, empty, members=2, steps=4)
    assert ens.attrs["obs_used"] == 0
    info = json.loads(ens.attrs["observations"])[0]
    assert (info["kept"], info["nan"], info["used"]) == (40, 40, 0)


def test_nan_only_gridded_observations_are_not_used():
    prior, template, _ = _gaussian()
    l3 = template.assign(ssh=template.ssh * np.nan).assign(
        ssh_error=(("time", "lat", "lon"), np.full((2, 8, 8), 0.02), {"units": "m"}))
    l3.attrs["genda_obs"] = "grid"
    with pytest.warns(UserWarning, match="no observations"):
        ens = xgenda.assimilate(template, prior, l3, members=2, steps=4)
    assert ens.attrs["obs_used"] == 0


def test_an_all_nan_template_is_refused():
    prior, template, obs = _gaussian()
    land = template.assign(ssh=template.ssh * np.nan)
    with pytest.raises(ValueError, match="NaN everywhere"):
        xgenda.assimilate(land, prior, obs, members=2, steps=4)
    lazy = xgenda.assimilate(land.chunk({"time": 1}), prior, obs, members=2, steps=4)
    with pytest.raises(ValueError, match="NaN everywhere"):
        lazy.compute()


@pytest.mark.parametrize("times", [["2020-01-01", "2020-01-01", "2020-01-02"],
                                   ["2020-01-02", "2020-01-01", "2020-01-03"]])
def test_duplicated_or_unsorted_template_times_are_refused(times):
    prior, template, obs = _gaussian(nt=3)
    template = template.assign_coords(time=pd.to_datetime(times))
    with pytest.raises(ValueError, match="strictly increasing"):
        xgenda.assimilate(template, prior, obs, members=2, steps=4)
