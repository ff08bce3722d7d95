"""Deterministic and ensemble scores against independent implementations."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from xgenda.diagnostics import scores
from xgenda.testing import ocean_dataset, raise_if_dask_computes


def ensemble(truth: xr.Dataset, members: int = 5, spread: float = 0.05, seed: int = 0
             ) -> xr.Dataset:
    """Members = truth + a common offset + independent noise, NaN where the truth is."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(members):
        noise = {v: truth[v] + spread * rng.standard_normal(truth[v].shape)
                 for v in truth.data_vars}
        out.append(xr.Dataset(noise))
    return xr.concat(out, dim="member")


@pytest.fixture
def truth() -> xr.Dataset:
    return ocean_dataset(nt=3, ny=8, nx=10, variables=("ssh", "sst"))


@pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning")  # land in properscoring
def test_crps_matches_properscoring(truth: xr.Dataset) -> None:
    properscoring = pytest.importorskip("properscoring")
    ens = ensemble(truth)
    ours = scores.crps(ens, truth, "ssh", dims=(), fair=False)
    ref = properscoring.crps_ensemble(truth.ssh.values,
                                      ens.ssh.transpose(..., "member").values)
    np.testing.assert_allclose(ours.ssh.values, ref, rtol=1e-12, atol=1e-15)


def test_mean_crps_matches_xskillscore(truth: xr.Dataset) -> None:
    xs = pytest.importorskip("xskillscore")
    ens = ensemble(truth, members=7)
    land = truth.ssh.isnull()
    ours = scores.crps(ens.ssh, truth.ssh.fillna(0.0), fair=False, dims=())
    ref = xs.crps_ensemble(truth.ssh.fillna(0.0), ens.ssh.fillna(0.0), dim=[])
    np.testing.assert_allclose(ours.where(~land).values, ref.where(~land).values, rtol=1e-12)


def test_fair_crps_matches_pairwise_formula(truth: xr.Dataset) -> None:
    ens = ensemble(truth, members=4)
    x = ens.ssh.transpose(..., "member").values
    y = truth.ssh.values
    m = x.shape[-1]
    skill = np.abs(x - y[..., None]).mean(-1)
    pairs = np.abs(x[..., :, None] - x[..., None, :]).sum((-1, -2))
    expected = skill - pairs / (2 * m * (m - 1))
    ours = scores.crps(ens, truth, "ssh", dims=())
    np.testing.assert_allclose(ours.ssh.values, expected, rtol=1e-12)
    mean = scores.crps(ens, truth, "ssh")
    assert float(mean.ssh) == pytest.approx(np.nanmean(expected))
    assert mean.ssh.attrs["units"] == "m"


def test_fair_crps_is_unbiased_for_exchangeable_members() -> None:
    # truth and members iid N(0, 1): the CRPS of N(0, 1) at y ~ N(0, 1) is 1/sqrt(pi)
    rng = np.random.default_rng(3)
    y = xr.DataArray(rng.standard_normal(40000), dims="x", name="a")
    x = xr.DataArray(rng.standard_normal((3, 40000)), dims=("member", "x"), name="a")
    assert float(scores.crps(x, y)) == pytest.approx(1 / np.sqrt(np.pi), rel=0.02)
    assert float(scores.crps(x, y, fair=False)) > 1.1 / np.sqrt(np.pi)


def test_rank_histogram_matches_xskillscore(truth: xr.Dataset) -> None:
    xs = pytest.importorskip("xskillscore")
    ens = ensemble(truth, members=6, spread=0.3)
    ocean = truth.ssh.stack(p=("lat", "lon")).dropna("p")
    members = ens.ssh.stack(p=("lat", "lon")).sel(p=ocean.p)
    ref = xs.rank_histogram(ocean, members, dim=["p"])
    ours = scores.rank_histogram(ens, truth, "ssh", dims=("lat", "lon")).ssh
    np.testing.assert_array_equal(ours.values, ref.values)
    np.testing.assert_array_equal(ours["rank"].values, ref["rank"].values)


def test_rank_histogram_ties_are_seeded_and_chunking_invariant() -> None:
    y = xr.DataArray(np.zeros((6, 50)), dims=("time", "x"), name="a")
    x = xr.DataArray(np.zeros((4, 6, 50)), dims=("member", "time", "x"), name="a")
    h0 = scores.rank_histogram(x, y, seed=1)
    np.testing.assert_array_equal(h0.values, scores.rank_histogram(x, y, seed=1).values)
    assert not np.array_equal(h0.values, scores.rank_histogram(x, y, seed=2).values)
    chunked = scores.rank_histogram(x.chunk({"time": 2, "x": 7}), y.chunk({"time": 3}), seed=1)
    np.testing.assert_array_equal(chunked.values, h0.values)
    assert int(h0.sum()) == 300
    # all ties: ranks uniform over 1..M+1
    assert np.abs(h0.values / 300 - 0.2).max() < 0.08


def test_rmse_and_odc_scores_match_numpy(truth: xr.Dataset) -> None:
    ens = ensemble(truth, members=3)
    err = ens.ssh.mean("member").values - truth.ssh.values
    ref = truth.ssh.values
    assert float(scores.rmse(ens, truth, "ssh").ssh) == pytest.approx(
        np.sqrt(np.nanmean(err**2)))
    odc = scores.odc_scores(ens, truth, "ssh")
    mu = 1 - np.sqrt(np.nanmean(err**2)) / np.sqrt(np.nanmean(ref**2))
    daily = 1 - np.sqrt(np.nanmean(err**2, axis=(1, 2))) / np.sqrt(np.nanmean(ref**2, axis=(1, 2)))
    assert float(odc.ssh_mu) == pytest.approx(mu)
    assert float(odc.ssh_sigma) == pytest.approx(np.std(daily))


def test_scores_reduce_over_chosen_dims(truth: xr.Dataset) -> None:
    ens = ensemble(truth)
    per_time = scores.rmse(ens, truth, "ssh", dims=("lat", "lon")).ssh
    assert per_time.dims == ("time",)
    err = ens.ssh.mean("member") - truth.ssh
    np.testing.assert_allclose(per_time.values, np.sqrt((err**2).mean(("lat", "lon"))).values)
    odc = scores.odc_scores(ens, truth, "ssh", dims=("lat", "lon"))
    assert "ssh_sigma" not in odc
    assert odc.ssh_mu.dims == ("time",)


def test_spread_skill_ratio_is_one_for_a_reliable_ensemble() -> None:
    rng = np.random.default_rng(5)
    y = xr.DataArray(rng.standard_normal((200, 100)), dims=("time", "x"), name="a")
    x = xr.DataArray(rng.standard_normal((5, 200, 100)), dims=("member", "time", "x"), name="a")
    assert float(scores.spread_skill_ratio(x, y)) == pytest.approx(1.0, abs=0.03)
    assert float(scores.spread_skill_ratio(0.5 * x, y)) < 0.7


def test_scores_table_has_one_row_per_variable(truth: xr.Dataset) -> None:
    ens = ensemble(truth, members=4)
    table = scores.scores(ens, truth)
    assert list(table.variable.values) == ["ssh", "sst"]
    assert list(table.units.values) == ["m", "degC"]
    for name in ("rmse", "mu", "sigma", "spread", "crps", "spread_skill_ratio"):
        assert table[name].dims == ("variable",)
    assert float(table.crps.sel(variable="sst")) == pytest.approx(
        float(scores.crps(ens, truth, "sst").sst))
    df = table.to_dataframe()
    assert df.shape[0] == 2


def test_deterministic_map_gets_deterministic_scores_only(truth: xr.Dataset) -> None:
    table = scores.scores(truth + 0.01, truth, "ssh")
    assert "crps" not in table
    assert float(table.rmse.sel(variable="ssh")) == pytest.approx(0.01)


def test_scores_are_lazy(truth: xr.Dataset) -> None:
    ens = ensemble(truth).chunk({"time": 1, "member": 2})
    tru = truth.chunk({"time": 2})
    with raise_if_dask_computes():
        table = scores.scores(ens, tru)
        hist = scores.rank_histogram(ens, tru, "ssh")
    assert table.crps.chunks is not None
    assert hist.ssh.chunks is not None
    eager = scores.scores(ens.compute(), truth)
    np.testing.assert_allclose(table.crps.values, eager.crps.values)


def test_land_points_are_skipped(truth: xr.Dataset) -> None:
    assert truth.ssh.isnull().any()
    ens = ensemble(truth)
    assert np.isfinite(float(scores.crps(ens, truth, "ssh").ssh))
    hist = scores.rank_histogram(ens, truth, "ssh").ssh
    assert int(hist.sum()) == int(truth.ssh.notnull().sum())


def test_mismatched_grids_raise(truth: xr.Dataset) -> None:
    other = ocean_dataset(nt=3, ny=8, nx=10, lat=(30.0, 40.0), variables=("ssh", "sst"))
    with pytest.raises(ValueError, match="different grids along 'lat'"):
        scores.rmse(other, truth)


def test_bad_inputs_raise(truth: xr.Dataset) -> None:
    with pytest.raises(ValueError, match="'member' dim"):
        scores.crps(truth, truth, "ssh")
    with pytest.raises(ValueError, match="at least 2 members"):
        scores.crps(ensemble(truth, members=1), truth, "ssh")
    with pytest.raises(ValueError, match="truth has a 'member' dim"):
        scores.rmse(truth, ensemble(truth), "ssh")
    with pytest.raises(ValueError, match="no variable 'sss'"):
        scores.rmse(truth, truth, "sss")
    with pytest.raises(ValueError, match="cannot reduce over"):
        scores.rmse(truth, truth, "ssh", dims="depth")


def test_accessor_delegates(truth: xr.Dataset) -> None:
    ens = ensemble(truth)
    xr.testing.assert_allclose(ens.genda.diag.scores(truth), scores.scores(ens, truth))
    xr.testing.assert_allclose(ens.genda.diag.spread(), ens.std("member", ddof=1))
