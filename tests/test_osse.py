"""xgenda.osse.observe: tree layout, conventions, values, determinism and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xgenda
from xgenda.osse import observe
from xgenda.testing import ocean_dataset

ONLY_NADIR = {"sst_cloud_cover": None, "l4_sigma_km": {}, "drifters": 0, "withheld_nadir": None}


@pytest.fixture(scope="module")
def truth() -> xr.Dataset:
    return ocean_dataset(12, 48, 48, land=True, seed=3)


@pytest.fixture(scope="module")
def tree(truth: xr.Dataset) -> xr.DataTree:
    return observe(truth, nadirs=4, swot=True, seed=7, drifters=8)


def _point_leaves(tree: xr.DataTree) -> dict[str, xr.Dataset]:
    return {node.path: node.to_dataset() for node in tree.subtree
            if node.attrs.get("genda_obs") == "points"}


def test_tree_has_every_instrument_with_its_operator_kind(tree: xr.DataTree) -> None:
    kinds = {node.path: node.attrs.get("genda_obs") for node in tree.subtree if node.has_data}
    assert kinds == {
        "/nadir": "points", "/swot": "points", "/l3_sst": "grid", "/l4_ssh": "smoothed",
        "/l4_sst": "smoothed", "/l4_sss": "smoothed", "/withheld/nadir": "points",
        "/withheld/drifters": "points",
    }
    assert tree["l4_ssh"].attrs["sigma_km"] == 25.0
    assert tree["l4_sst"].attrs["sigma_km"] == tree["l4_sss"].attrs["sigma_km"] == 16.0


def test_point_observations_follow_the_conventions(tree: xr.DataTree) -> None:
    for path, ds in _point_leaves(tree).items():
        assert set(ds.dims) == {"obs"}, path
        assert {"time", "lat", "lon"} <= set(ds.coords), path
        assert np.issubdtype(ds["time"].dtype, np.datetime64), path
        values = [v for v in ("ssh", "u", "v") if v in ds]
        assert values, path
        for v in values:
            assert ds[v].attrs["units"] == xgenda.variables.VARIABLES[v].units
            assert (ds[f"{v}_error"] > 0).all(), path
            assert np.isfinite(ds[v]).all(), path
        assert "platform" in ds, path


def test_gridded_observations_are_on_the_truth_grid_with_errors(
        tree: xr.DataTree, truth: xr.Dataset) -> None:
    for path in ("l3_sst", "l4_ssh", "l4_sst", "l4_sss"):
        ds = tree[path].to_dataset()
        var = path.split("_")[1]
        xr.testing.assert_equal(ds["lat"], truth["lat"])
        np.testing.assert_array_equal(ds["time"].values, truth["time"].values)
        # Observed exactly where the error is defined.
        np.testing.assert_array_equal(np.isfinite(ds[var]), np.isfinite(ds[f"{var}_error"]))


def test_no_observation_outside_the_domain_or_time_range(
        tree: xr.DataTree, truth: xr.Dataset) -> None:
    for path, ds in _point_leaves(tree).items():
        assert ds.sizes["obs"] > 0, path
        assert float(ds.lat.min()) >= float(truth.lat.min()), path
        assert float(ds.lat.max()) <= float(truth.lat.max()), path
        assert float(ds.lon.min()) >= float(truth.lon.min()), path
        assert float(ds.lon.max()) <= float(truth.lon.max()), path
        assert ds.time.min() >= truth.time.min(), path
        assert ds.time.max() <= truth.time.max(), path


def test_no_point_observation_over_land(tree: xr.DataTree, truth: xr.Dataset) -> None:
    for path, ds in _point_leaves(tree).items():
        nearest = truth["ssh"].sel(time=ds.time, lat=ds.lat, lon=ds.lon, method="nearest")
        # The land corner of ocean_dataset is a block: a point whose nearest grid cell is
        # land would need a land corner in its bilinear stencil.
        assert np.isfinite(nearest).all(), path


def test_same_seed_gives_identical_observations(truth: xr.Dataset) -> None:
    a = observe(truth, nadirs=2, seed=5, drifters=3)
    b = observe(truth, nadirs=2, seed=5, drifters=3)
    xr.testing.assert_identical(a, b)


def test_different_seeds_give_different_observations(truth: xr.Dataset) -> None:
    a = observe(truth, nadirs=2, seed=5, drifters=3)
    b = observe(truth, nadirs=2, seed=6, drifters=3)
    assert not a["l3_sst"].to_dataset().equals(b["l3_sst"].to_dataset())
    assert not a["nadir"].to_dataset().equals(b["nadir"].to_dataset())


def test_switching_an_instrument_on_leaves_the_others_unchanged(truth: xr.Dataset) -> None:
    without = observe(truth, nadirs=2, seed=5, drifters=3)
    with_swot = observe(truth, nadirs=2, seed=5, drifters=3, swot=True)
    for path in ("nadir", "l3_sst", "l4_ssh", "withheld/nadir", "withheld/drifters"):
        xr.testing.assert_identical(without[path].to_dataset(), with_swot[path].to_dataset())


def test_noise_free_nadir_values_equal_the_truth_sampled_independently(
        truth: xr.Dataset) -> None:
    nadir = observe(truth, nadirs=4, nadir_noise=0.0, **ONLY_NADIR)["nadir"].to_dataset()
    reference = xgenda.regrid.sample_points(truth[["ssh"]], nadir[["ssh"]].drop_vars("ssh"))
    np.testing.assert_allclose(nadir["ssh"], reference["ssh"], atol=1e-12)


def test_nadir_noise_has_the_requested_std(truth: xr.Dataset) -> None:
    clean = observe(truth, nadirs=4, nadir_noise=0.0, **ONLY_NADIR)["nadir"]
    noisy = observe(truth, nadirs=4, nadir_noise=0.03, **ONLY_NADIR)["nadir"]
    xr.testing.assert_equal(clean["time"], noisy["time"])
    noise = (noisy["ssh"] - clean["ssh"]).values
    n = noise.size
    assert n > 2000
    assert abs(noise.mean()) < 4 * 0.03 / np.sqrt(n)
    assert noise.std() == pytest.approx(0.03, rel=4 / np.sqrt(2 * n) + 0.01)
    assert (noisy["ssh_error"] == 0.03).all()


def test_long_wavelength_error_is_correlated_along_track(truth: xr.Dataset) -> None:
    kw = {"nadirs": 4, **ONLY_NADIR, "nadir_noise": 0.0}
    clean = observe(truth, **kw)["nadir"].to_dataset()
    lw = observe(truth, nadir_long_wavelength_error=0.05, **kw)["nadir"].to_dataset()
    err = (lw["ssh"] - clean["ssh"]).values
    assert err.std() == pytest.approx(0.05, rel=0.5)
    same_pass = (np.diff(lw.pass_number) == 0) & (lw.platform.values[1:] == lw.platform.values[:-1])
    # 1 Hz neighbours (~6 km apart) of a 1000+ km error differ by a tiny fraction of it.
    assert np.std(np.diff(err)[same_pass]) < 0.05 * err.std()
    assert lw["ssh_error"].values[0] == pytest.approx(np.hypot(0.0, 0.05))


def test_satellites_can_be_chosen_by_name(truth: xr.Dataset) -> None:
    obs = observe(truth, nadirs=["Jason-3", "saral"], **ONLY_NADIR)["nadir"]
    assert set(np.unique(obs["platform"].values)) == {"jason3", "saral"}


def test_withheld_nadir_flies_an_orbit_of_its_own(tree: xr.DataTree) -> None:
    assets = set(np.unique(tree["nadir"]["platform"].values))
    withheld = set(np.unique(tree["withheld/nadir"]["platform"].values))
    assert withheld == {"hy2b"}
    assert not assets & withheld


def test_assimilation_reads_every_leaf_but_the_withheld_ones(tree: xr.DataTree) -> None:
    from xgenda.obs.collect import collect

    sets = collect(tree, ["ssh", "sst", "sss", "u", "v"])
    assert sorted(s.name for s in sets) == ["l3_sst", "l4_ssh", "l4_sss", "l4_sst", "nadir",
                                            "swot"]
    assert tree["withheld/drifters"].attrs["genda_role"] == "evaluation"


def test_progress_bar_does_not_change_results(truth: xr.Dataset) -> None:
    a = observe(truth, nadirs=1, drifters=2, progress=True)
    b = observe(truth, nadirs=1, drifters=2)
    xr.testing.assert_identical(a, b)


def test_dask_backed_or_transposed_truth_gives_the_same_observations(
        truth: xr.Dataset) -> None:
    reference = observe(truth, nadirs=2, drifters=2)
    xr.testing.assert_identical(observe(truth.chunk({"time": 5}), nadirs=2, drifters=2),
                                reference)
    xr.testing.assert_identical(observe(truth.transpose("lon", "time", "lat"), nadirs=2,
                                        drifters=2), reference)


def test_an_instrument_that_sees_nothing_gives_an_empty_leaf() -> None:
    # Two days on a small box: SWOT's 21-day orbit may not pass over it at all.
    tiny = ocean_dataset(2, 8, 8, land=False, lat=(40, 40.5), lon=(-60, -59.5))
    obs = observe(tiny, nadirs=0, swot=True, withheld_nadir=None, sst_cloud_cover=None,
                  l4_sigma_km={}, drifters=0, seed=2)
    assert obs["swot"].sizes["obs"] == 0
    assert obs["swot"]["ssh"].dtype == float


# -- bad input -----------------------------------------------------------------------------

def test_unknown_satellite_is_a_clear_error(truth: xr.Dataset) -> None:
    with pytest.raises(ValueError, match=r"unknown satellite 'topex9'.*known satellites"):
        observe(truth, nadirs=["jason3", "topex9"])


def test_too_many_default_satellites_is_a_clear_error(truth: xr.Dataset) -> None:
    with pytest.raises(ValueError, match="choose 0 to 4 satellites"):
        observe(truth, nadirs=7)


def test_withheld_altimeter_must_fly_an_orbit_of_its_own(truth: xr.Dataset) -> None:
    with pytest.raises(ValueError, match="evaluation needs an independent orbit"):
        observe(truth, nadirs=["jason3", "hy2b"], withheld_nadir="HY-2B")


def test_truth_missing_a_variable_is_a_clear_error(truth: xr.Dataset) -> None:
    with pytest.raises(ValueError, match=r"no variable\(s\) \['sst'\] needed for L3 SST"):
        observe(truth.drop_vars("sst"), l4_sigma_km={"ssh": 25.0})
    with pytest.raises(ValueError, match=r"\['u'\] needed for drifters"):
        observe(truth.drop_vars("u"))


def test_truth_without_a_variable_works_when_its_instrument_is_off(truth: xr.Dataset) -> None:
    obs = observe(truth[["ssh"]], sst_cloud_cover=None, drifters=0, nadirs=1)
    assert set(obs.children) == {"nadir", "l4_ssh", "withheld"}


@pytest.mark.parametrize("cover", [-0.1, 1.5, float("nan")])
def test_cloud_cover_outside_unit_interval_is_a_clear_error(
        truth: xr.Dataset, cover: float) -> None:
    with pytest.raises(ValueError, match=r"sst_cloud_cover must be a fraction in \[0, 1\]"):
        observe(truth, sst_cloud_cover=cover)


def test_single_time_step_is_a_clear_error(truth: xr.Dataset) -> None:
    with pytest.raises(ValueError, match="at least 2 are needed"):
        observe(truth.isel(time=[0]))


def test_dataarray_truth_is_a_clear_error(truth: xr.Dataset) -> None:
    with pytest.raises(TypeError, match="needs a Dataset"):
        observe(truth["ssh"])  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [-1, 1.5, "0"])
def test_bad_seed_is_a_clear_error(truth: xr.Dataset, seed: object) -> None:
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        observe(truth, seed=seed)  # type: ignore[arg-type]


def test_negative_noise_is_a_clear_error(truth: xr.Dataset) -> None:
    with pytest.raises(ValueError, match="nadir_noise must be a standard deviation >= 0"):
        observe(truth, nadir_noise=-0.01)


def test_truth_without_time_is_a_clear_error(truth: xr.Dataset) -> None:
    with pytest.raises(ValueError, match="no 'time' coordinate"):
        observe(truth.isel(time=0, drop=True))
