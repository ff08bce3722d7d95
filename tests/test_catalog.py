"""The intake catalog: local demo entries materialised offline, remote entries parse."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import xgenda.datasets
from xgenda import catalog
from xgenda.testing import ocean_dataset

LOCAL = ["toy_ocean", "toy_ocean_validation", "toy_ocean_test", "toy_ocean_osse"]
REMOTE = ["glorys12", "duacs_l4_ssh", "l3_alongtrack_ssh", "ostia_l4_sst", "multiobs_l4_sss"]
TINY = {"days": 4, "size": 24}


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, int]]:
    """Replace the nature run by a fast synthetic stand-in and record its calls."""
    calls: list[tuple[int, int, int]] = []

    def stand_in(days: int, size: int = 64, seed: int = 0, **kwargs: object) -> xr.Dataset:
        calls.append((days, size, seed))
        return ocean_dataset(days, size, size, land=False, seed=seed)

    monkeypatch.setattr(xgenda.datasets, "toy_ocean", stand_in, raising=False)
    return calls


@pytest.fixture(scope="module")
def cat():  # type: ignore[no-untyped-def]
    return catalog.open_catalog()


def test_catalog_lists_the_demo_and_the_real_products(cat) -> None:  # type: ignore[no-untyped-def]
    assert set(cat) == set(LOCAL + REMOTE)


def test_catalog_file_is_found_in_the_source_tree() -> None:
    path = catalog.catalog_path()
    assert path.name == "xgenda.yaml"
    assert path.is_file()


def test_catalog_file_is_found_inside_an_installed_package(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Wheels carry the top-level catalogs/ as xgenda/catalogs/ (hatch force-include).
    (tmp_path / "catalogs").mkdir()
    (tmp_path / "catalogs" / "xgenda.yaml").write_text("version: 2\n")
    monkeypatch.setattr(catalog.resources, "files", lambda package: tmp_path)
    assert catalog.catalog_path() == tmp_path / "catalogs" / "xgenda.yaml"


@pytest.mark.parametrize("name", LOCAL)
def test_local_entries_are_marked_offline(cat, name: str) -> None:  # type: ignore[no-untyped-def]
    assert cat[name].metadata["network"] is False


@pytest.mark.parametrize("name", REMOTE)
def test_remote_entries_parse_and_say_they_need_network_and_credentials(
        cat, name: str) -> None:  # type: ignore[no-untyped-def]
    reader = cat[name]
    assert isinstance(reader, catalog.CopernicusMarineReader)
    assert reader.metadata["network"] is True
    assert "account" in reader.metadata["credentials"]
    assert reader.metadata["url"].startswith("https://data.marine.copernicus.eu/product/")
    assert isinstance(reader.kwargs["dataset_id"], str)
    assert "{" not in reader.kwargs["dataset_id"]


@pytest.mark.skipif(importlib.util.find_spec("copernicusmarine") is not None,
                    reason="copernicusmarine is installed: reading would go to the network")
def test_reading_a_remote_entry_without_its_client_says_what_to_install(cat) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ImportError, match="pip install copernicusmarine"):
        cat["glorys12"].read()


def test_along_track_mission_is_a_catalog_parameter(cat) -> None:  # type: ignore[no-untyped-def]
    assert cat["l3_alongtrack_ssh"].kwargs["dataset_id"].endswith("_s3a-l3-duacs_PT1S")
    jason = cat(mission="j3")["l3_alongtrack_ssh"]
    assert jason.kwargs["dataset_id"] == "cmems_obs-sl_glo_phy-ssh_my_j3-l3-duacs_PT1S"
    with pytest.raises(ValueError, match="Could not validate"):
        cat(mission="xx")["l3_alongtrack_ssh"]


@pytest.mark.parametrize("name", ["toy_ocean", "toy_ocean_validation", "toy_ocean_test"])
def test_truth_entries_read_offline_from_a_cached_store(
        cat, runs, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    truth = cat[name].read(cache_dir=str(tmp_path), **TINY)
    assert isinstance(truth, xr.Dataset)
    assert truth["ssh"].chunks is not None  # lazy
    assert set(truth.data_vars) >= {"ssh", "sst", "sss", "u", "v"}
    assert truth.sizes == {"time": 4, "lat": 24, "lon": 24}
    again = cat[name].read(cache_dir=str(tmp_path), **TINY)
    xr.testing.assert_identical(truth.load(), again.load())
    assert len(runs) == 1  # the second read reused the store


def test_splits_are_independent_runs(cat, runs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ssh = [cat[n].read(cache_dir=str(tmp_path), **TINY)["ssh"].values
           for n in ("toy_ocean", "toy_ocean_validation", "toy_ocean_test")]
    assert sorted(seed for _, _, seed in runs) == [0, 1, 2]
    assert not np.array_equal(ssh[0], ssh[1])
    assert not np.array_equal(ssh[1], ssh[2])


def test_observation_entry_reads_a_datatree_of_observations(
        cat, runs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    obs = cat["toy_ocean_osse"].read(cache_dir=str(tmp_path), swot=True, drifters=3, **TINY)
    assert isinstance(obs, xr.DataTree)
    kinds = {n.path: n.attrs.get("genda_obs") for n in obs.subtree if n.has_data}
    assert kinds["/nadir"] == kinds["/swot"] == kinds["/withheld/drifters"] == "points"
    assert kinds["/l4_ssh"] == "smoothed"
    assert set(np.unique(obs["nadir"]["platform"].values)) <= {
        "jason3", "sentinel3a", "saral", "cryosat2"}


def test_observation_store_is_deterministic(cat, runs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = cat["toy_ocean_osse"].read(cache_dir=str(tmp_path / "a"), **TINY)
    b = cat["toy_ocean_osse"].read(cache_dir=str(tmp_path / "b"), **TINY)
    xr.testing.assert_identical(a.load(), b.load())


def test_cache_directory_comes_from_the_environment(
        cat, runs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(catalog.CACHE_ENV, str(tmp_path / "env-cache"))
    cat["toy_ocean"].read(**TINY)
    assert list((tmp_path / "env-cache").glob("toy_ocean_4d_24px_seed0_*.zarr"))


def test_cached_runs_are_keyed_on_the_resolved_physical_parameters(
        cat, runs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A run cached under one ocean is not reused for another, even when the other is
    reached by a change of ToyOceanParameters' defaults rather than by an argument."""
    from xgenda.datasets import ToyOceanParameters
    from xgenda.osse.store import demo_truth

    default = ToyOceanParameters()
    smooth = ToyOceanParameters.smooth()
    assert smooth.hyperviscous_hours != default.hyperviscous_hours
    paths = {
        "default": demo_truth(4, 24, 0, cache_dir=tmp_path),
        "explicit": demo_truth(4, 24, 0, cache_dir=tmp_path,
                               hyperviscous_hours=default.hyperviscous_hours),
        "object": demo_truth(4, 24, 0, cache_dir=tmp_path, parameters=default),
        "smooth": demo_truth(4, 24, 0, cache_dir=tmp_path, parameters=smooth),
        "smooth_value": demo_truth(4, 24, 0, cache_dir=tmp_path,
                                   hyperviscous_hours=smooth.hyperviscous_hours),
    }
    assert paths["default"] == paths["explicit"] == paths["object"]
    assert paths["smooth"] == paths["smooth_value"] != paths["default"]
    assert len(runs) == 2  # one run per ocean, the others found in the cache


def test_default_cache_directory_is_in_the_home_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(catalog.CACHE_ENV, raising=False)
    assert catalog.cache_dir() == Path.home() / ".cache" / "xgenda"


@pytest.mark.slow
def test_truth_entry_runs_the_real_nature_run(cat, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    truth = cat["toy_ocean"].read(days=3, size=32, cache_dir=str(tmp_path),
                                  toy_ocean_kwargs={"spinup_days": 5})
    assert {"ssh", "sst", "sss", "u", "v"} <= set(truth.data_vars)
    assert truth.sizes["lat"] == truth.sizes["lon"] == 32
    assert np.isfinite(truth["ssh"].values).any()


def test_negative_days_is_a_clear_error(cat, runs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="days must be an integer >= 1"):
        cat["toy_ocean"].read(days=-3, size=24, cache_dir=str(tmp_path))


def test_a_missing_entry_lists_the_available_ones():
    cat = catalog.open_catalog()
    with pytest.raises(KeyError, match=r"no entry 'toy_oceans'.*toy_ocean, toy_ocean_osse"):
        cat["toy_oceans"]
    assert cat["toy_ocean"].metadata == catalog.open_catalog()["toy_ocean"].metadata
