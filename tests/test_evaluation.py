"""xgenda.diagnostics.evaluation.evaluate: the scores behind `xgenda evaluate`, as a function."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from xgenda.diagnostics.evaluation import evaluate
from xgenda.diagnostics.summary import score_summary
from xgenda.testing import ocean_dataset

OFFSET = 0.1  # m


@pytest.fixture
def truth():
    return ocean_dataset(nt=6, ny=16, nx=16, variables=("ssh", "sst"), land=False)


def test_a_map_offset_by_a_constant_has_that_rmse_at_the_shared_times(truth):
    shifted = (truth + OFFSET).isel(time=slice(3, None))  # 3 of the truth's 6 times
    result = evaluate({"shifted": shifted, "truth": truth}, truth)
    np.testing.assert_allclose(result.scores.loc["shifted", "rmse"], OFFSET, rtol=1e-9)
    np.testing.assert_allclose(result.scores.loc["truth", "rmse"], 0.0, atol=1e-12)
    assert list(result.scored_times["shifted"]) == list(truth.indexes["time"][3:])
    assert result.alongtrack is None


def test_scores_are_those_of_score_summary_on_the_shared_times(truth):
    rng = np.random.default_rng(0)
    noise = 0.05 * rng.standard_normal((4, *truth.ssh.shape))
    ens = truth.expand_dims(member=4)
    ens["ssh"] = ens.ssh + xr.DataArray(noise, dims=("member", *truth.ssh.dims))
    early = ens.isel(time=slice(0, 4))
    result = evaluate({"ens": early}, truth, variables=["ssh"])
    expected = score_summary({"ens": early}, truth.isel(time=slice(0, 4)), ["ssh"])
    np.testing.assert_allclose(result.scores[["rmse", "crps", "spread_skill"]].to_numpy(),
                               expected[["rmse", "crps", "spread_skill"]].to_numpy(),
                               rtol=1e-12)
    assert result.notes == []  # every time of the ensemble is in the truth


def test_a_partial_time_overlap_is_noted(truth):
    longer = truth.reindex(time=truth.indexes["time"].append(
        truth.indexes["time"][-1:] + np.timedelta64(1, "D")))
    result = evaluate({"longer": longer}, truth.isel(time=slice(0, 6)))
    assert result.notes == ["longer: the truth covers 6 of its 7 times; scoring those"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"variables": ["sss"]}, "no reconstruction has variable 'sss'"),
    ({}, "nothing to score"),
])
def test_what_cannot_be_scored_is_refused(truth, kwargs, message):
    with pytest.raises(ValueError, match=message):
        evaluate({"map": truth}, None if "variables" not in kwargs else truth, **kwargs)


def test_other_units_than_the_truth_are_refused(truth):
    kelvin = truth.assign(sst=(truth.sst + 273.15).assign_attrs(units="K"))
    with pytest.raises(ValueError, match="'sst' is in 'K'"):
        evaluate({"kelvin": kelvin}, truth)
