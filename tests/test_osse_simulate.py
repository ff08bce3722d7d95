"""``xgenda simulate`` and the atomic zarr stores behind it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import xgenda.datasets
from xgenda.cli import main
from xgenda.osse.store import open_observations, open_truth, write_zarr
from xgenda.testing import ocean_dataset


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fast synthetic nature run in place of the QG model."""
    def toy(days: int, size: int = 64, seed: int = 0, **kwargs: object) -> xr.Dataset:
        return ocean_dataset(days, size, size, land=False, seed=seed)

    monkeypatch.setattr(xgenda.datasets, "toy_ocean", toy, raising=False)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_simulate_writes_truth_and_observations(
        stand_in: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "osse"
    rc = main(["simulate", "--out", str(out), "--days", "5", "--size", "24", "--seed", "3",
               "--swot", "--nadirs", "jason3,saral", "--cloud-cover", "0.5", "--drifters", "2"])
    assert rc == 0
    assert _leftovers(out) == ["observations.zarr", "truth.zarr"]
    truth = open_truth(out / "truth.zarr")
    obs = open_observations(out / "observations.zarr")
    xr.testing.assert_allclose(truth.load(), ocean_dataset(5, 24, 24, land=False, seed=3))
    assert set(np.unique(obs["nadir"]["platform"].values)) <= {"jason3", "saral"}
    assert "swot" in obs.children
    np.testing.assert_allclose(obs["l3_sst"]["cloud_fraction"].values, 0.5, atol=0.01)
    assert "observations.zarr" in capsys.readouterr().out


def test_simulate_is_deterministic_for_a_seed(stand_in: None, tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert main(["simulate", "--out", str(tmp_path / name), "--days", "3", "--size", "16",
                     "--no-progress"]) == 0
    a = open_observations(tmp_path / "a" / "observations.zarr").load()
    b = open_observations(tmp_path / "b" / "observations.zarr").load()
    xr.testing.assert_identical(a, b)


def test_simulate_refuses_to_overwrite_without_the_flag(
        stand_in: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["simulate", "--out", str(tmp_path), "--days", "3", "--size", "16", "--no-progress"]
    assert main(args) == 0
    assert main(args) == 1
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite", "--seed", "4"]) == 0
    assert _leftovers(tmp_path) == ["observations.zarr", "truth.zarr"]


@pytest.mark.parametrize(("option", "message"), [
    (["--days", "-2"], "days must be an integer >= 1"),
    (["--nadirs", "jason3,topex9"], "unknown satellite 'topex9'"),
    (["--cloud-cover", "1.4"], "sst_cloud_cover must be a fraction"),
])
def test_simulate_bad_input_is_a_clear_error(
        stand_in: None, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        option: list[str], message: str) -> None:
    out = tmp_path / "osse"
    rc = main(["simulate", "--out", str(out), "--days", "3", "--size", "16", "--no-progress",
               *option])
    assert rc == 1
    assert message in capsys.readouterr().err
    assert _leftovers(out) == []


def test_failed_write_leaves_no_half_written_store(
        stand_in: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: xr.DataTree, store: object, **kwargs: object) -> None:
        Path(str(store)).mkdir(parents=True)
        (Path(str(store)) / "zarr.json").write_text("{}")
        raise OSError("disk full")

    monkeypatch.setattr(xr.DataTree, "to_zarr", broken)
    out = tmp_path / "osse"
    with pytest.raises(OSError, match="disk full"):
        main(["simulate", "--out", str(out), "--days", "3", "--size", "16", "--no-progress"])
    # Neither store is in place (the truth waits for the observations), nothing hidden remains.
    assert _leftovers(out) == []


def test_write_zarr_replaces_a_store_only_when_complete(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "truth.zarr"
    first = ocean_dataset(3, 8, 8, seed=0)
    write_zarr(first, path)

    def broken(self: xr.Dataset, store: object, **kwargs: object) -> None:
        Path(str(store)).mkdir(parents=True)
        raise RuntimeError("interrupted")

    monkeypatch.setattr(xr.Dataset, "to_zarr", broken)
    with pytest.raises(RuntimeError, match="interrupted"):
        write_zarr(ocean_dataset(3, 8, 8, seed=1), path, overwrite=True)
    monkeypatch.undo()
    xr.testing.assert_allclose(open_truth(path).load(), first)
    assert _leftovers(tmp_path) == ["truth.zarr"]


@pytest.mark.slow
def test_simulate_runs_the_real_nature_run(tmp_path: Path) -> None:
    out = tmp_path / "osse"
    assert main(["simulate", "--out", str(out), "--days", "3", "--size", "32",
                 "--spinup-days", "5", "--no-progress", "--drifters", "2"]) == 0
    truth = open_truth(out / "truth.zarr")
    obs = open_observations(out / "observations.zarr")
    assert {"ssh", "sst", "sss", "u", "v"} <= set(truth.data_vars)
    assert obs["nadir"].sizes["obs"] > 0
    # The observations sample this very truth.
    l4 = obs["l4_sst"]["sst"].values
    assert np.nanmean(np.abs(l4 - truth["sst"].values)) < 0.5
