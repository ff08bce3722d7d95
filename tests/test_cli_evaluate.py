"""``xgenda evaluate``: scores of reconstructions against a truth and withheld observations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xgenda
from xgenda.cli import main

OFFSET = 0.1
SPREAD = 0.04


def _store(ds: xr.Dataset | xr.DataTree, path: Path) -> str:
    ds.to_zarr(path, mode="w", zarr_format=2, consolidated=True)
    return str(path)


def _truth(nt: int = 4, variables: tuple[str, ...] = ("ssh", "sst"), **kwargs) -> xr.Dataset:
    return xgenda.testing.ocean_dataset(nt, 16, 20, variables=variables, **kwargs)


def _shifted(ds: xr.Dataset, offset: float) -> xr.Dataset:
    return ds.map(lambda da: (da + offset).assign_attrs(da.attrs))


def _ensemble(truth: xr.Dataset, offsets: list[float]) -> xr.Dataset:
    members = [_shifted(truth, c) for c in offsets]
    return xr.concat(members, dim=pd.Index(np.arange(len(offsets)), name="member"))


def _scores(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "scores.csv", index_col=["method", "variable"])


@pytest.fixture
def truth_path(tmp_path: Path) -> str:
    return _store(_truth(), tmp_path / "truth.zarr")


@pytest.fixture
def osse(tmp_path: Path) -> tuple[xr.Dataset, str]:
    """A truth with currents and its noise-free OSSE observations (withheld nadir, drifters)."""
    truth = _truth(6, ("ssh", "u", "v"))
    obs = xgenda.osse.observe(truth, nadirs=1, seed=1, nadir_noise=0.0,
                              nadir_long_wavelength_error=0.0, drifter_noise=0.0,
                              drifters=5, sst_cloud_cover=None, l4_sigma_km={})
    return truth, _store(obs, tmp_path / "observations.zarr")


# ---------------------------------------------------------------------------
# values
# ---------------------------------------------------------------------------
def test_map_offset_by_a_constant_has_that_rmse(tmp_path: Path, truth_path: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    rec = _store(_shifted(_truth(), OFFSET), tmp_path / "shifted.zarr")
    out = tmp_path / "report"
    assert main(["evaluate", rec, "--truth", truth_path, "--out", str(out)]) == 0
    scores = _scores(out)
    assert list(scores.index) == [("shifted", "ssh"), ("shifted", "sst")]
    np.testing.assert_allclose(scores["rmse"], OFFSET, rtol=1e-9)
    assert scores.loc[("shifted", "sst"), "units"] == "degC"
    assert scores["crps"].isna().all()  # a map has no ensemble scores
    assert "| shifted | ssh | m | 0.1 |" in capsys.readouterr().out


def test_the_truth_itself_scores_perfectly(tmp_path: Path, truth_path: str) -> None:
    out = tmp_path / "report"
    assert main(["evaluate", truth_path, "--truth", truth_path, "--out", str(out)]) == 0
    scores = _scores(out)
    np.testing.assert_allclose(scores["rmse"], 0.0, atol=1e-12)
    np.testing.assert_allclose(scores["mu"], 1.0, atol=1e-12)


def test_symmetric_ensemble_has_zero_mean_error(tmp_path: Path, truth_path: str) -> None:
    ens = _store(_ensemble(_truth(), [-SPREAD, SPREAD]), tmp_path / "ens.zarr")
    out = tmp_path / "report"
    assert main(["evaluate", ens, "--truth", truth_path, "--out", str(out)]) == 0
    scores = _scores(out)
    np.testing.assert_allclose(scores["rmse"], 0.0, atol=1e-12)
    # fair CRPS of two members truth +- d: mean |x - y| = d, pair term 4d / (2*2*1) = d
    np.testing.assert_allclose(scores["crps"], 0.0, atol=1e-12)


def test_biased_ensemble_scores_its_bias_and_spread(tmp_path: Path, truth_path: str) -> None:
    ens = _store(_ensemble(_truth(), [OFFSET - SPREAD, OFFSET + SPREAD]), tmp_path / "ens.zarr")
    out = tmp_path / "report"
    assert main(["evaluate", ens, "--truth", truth_path, "--out", str(out)]) == 0
    scores = _scores(out)
    np.testing.assert_allclose(scores["rmse"], OFFSET, rtol=1e-9)
    # members c +- d (c > d): mean |x - y| = c, pair term d, so the fair CRPS is c - d
    np.testing.assert_allclose(scores["crps"], OFFSET - SPREAD, rtol=1e-9)
    # spread sqrt(var, ddof=1) = sqrt(2) d; ratio sqrt((M+1)/M) * spread / rmse, M = 2
    np.testing.assert_allclose(scores["spread_skill"], np.sqrt(1.5) * np.sqrt(2) * SPREAD
                               / OFFSET, rtol=1e-9)


def test_several_reconstructions_get_their_labels(tmp_path: Path, truth_path: str) -> None:
    a = _store(_shifted(_truth(), OFFSET), tmp_path / "a.zarr")
    b = _store(_shifted(_truth(), -2 * OFFSET), tmp_path / "b.zarr")
    out = tmp_path / "report"
    assert main(["evaluate", a, b, "--truth", truth_path, "--names", "oi", "xgenda",
                 "--variables", "ssh", "--out", str(out)]) == 0
    scores = _scores(out)
    assert list(scores.index) == [("oi", "ssh"), ("xgenda", "ssh")]
    np.testing.assert_allclose(scores["rmse"], [OFFSET, 2 * OFFSET], rtol=1e-9)


def test_netcdf_reconstruction_is_read(tmp_path: Path, truth_path: str) -> None:
    rec = tmp_path / "map.nc"
    _shifted(_truth(), OFFSET).to_netcdf(rec)
    out = tmp_path / "report"
    assert main(["evaluate", str(rec), "--truth", truth_path, "--out", str(out)]) == 0
    np.testing.assert_allclose(_scores(out)["rmse"], OFFSET, rtol=1e-9)


def test_only_the_times_shared_with_the_truth_are_scored(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    long = _truth(6)
    truth = _store(long.isel(time=slice(0, 3)), tmp_path / "truth.zarr")
    rec = _shifted(long, OFFSET)
    rec = rec.where(rec.time < long.time[3], 100.0)  # wrong where there is no truth
    out = tmp_path / "report"
    assert main(["evaluate", _store(rec, tmp_path / "rec.zarr"), "--truth", truth,
                 "--out", str(out)]) == 0
    np.testing.assert_allclose(_scores(out)["rmse"], OFFSET, rtol=1e-9)
    assert "covers 3 of its 6 times" in capsys.readouterr().err
    assert "scored against the truth at 3 of them" in (out / "report.md").read_text()


def test_withheld_altimeter_and_drifters_score_the_truth_perfectly(
        tmp_path: Path, osse: tuple[xr.Dataset, str]) -> None:
    truth, obs = osse
    rec = _store(truth, tmp_path / "truth.zarr")
    out = tmp_path / "report"
    assert main(["evaluate", rec, "--obs", obs, "--out", str(out)]) == 0
    along = pd.read_csv(out / "alongtrack.csv", index_col="method")
    assert along.loc["truth", "n_obs"] > 100
    assert along.loc["truth", "mu"] == pytest.approx(1.0, abs=1e-9)
    scores = _scores(out)  # without --truth: the drifter errors only
    assert list(scores.index) == [("truth", "u"), ("truth", "v")]
    # drifter positions carry 20 m of noise: the sampled currents differ by ~1e-5 m/s
    assert scores.loc[("truth", "u"), "drifter_rmse_u"] < 1e-3
    assert scores.loc[("truth", "v"), "drifter_rmse_v"] < 1e-3
    assert scores["rmse"].isna().all()


def test_offset_map_has_that_rmse_along_track_and_at_drifters(
        tmp_path: Path, osse: tuple[xr.Dataset, str]) -> None:
    truth, obs = osse
    truth_path = _store(truth, tmp_path / "truth.zarr")
    rec = _store(_shifted(truth, OFFSET), tmp_path / "shifted.zarr")
    out = tmp_path / "report"
    assert main(["evaluate", rec, "--truth", truth_path, "--obs", obs, "--out", str(out)]) == 0
    along = pd.read_csv(out / "alongtrack.csv", index_col="method")
    assert along.loc["shifted", "rmse"] == pytest.approx(OFFSET, rel=1e-9)
    scores = _scores(out)
    np.testing.assert_allclose(scores["rmse"], OFFSET, rtol=1e-9)
    assert scores.loc[("shifted", "u"), "drifter_rmse_u"] == pytest.approx(OFFSET, rel=1e-3)
    assert scores.loc[("shifted", "v"), "drifter_rmse_v"] == pytest.approx(OFFSET, rel=1e-3)
    report = (out / "report.md").read_text()
    assert "## Along the withheld altimeter" in report
    assert f"--obs {obs}" in report


def test_report_records_the_command_and_inputs(tmp_path: Path, truth_path: str) -> None:
    rec = _store(_truth(), tmp_path / "rec.zarr")
    out = tmp_path / "report"
    assert main(["evaluate", rec, "--truth", truth_path, "--out", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert f"`xgenda evaluate {rec} --out {out} --truth {truth_path}`" in report
    assert str(Path(truth_path).resolve()) in report
    assert "| rec | ssh | m | 0 |" in report


def test_overwrite_replaces_the_report(tmp_path: Path, truth_path: str) -> None:
    out = tmp_path / "report"
    out.mkdir()
    (out / "old.txt").write_text("old")
    rec = _store(_truth(), tmp_path / "rec.zarr")
    assert main(["evaluate", rec, "--truth", truth_path, "--out", str(out), "--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["report.md", "scores.csv"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------
def _fails(args: list[str], capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    assert main(["evaluate", *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("xgenda evaluate: error: ")
    for needle in needles:
        assert needle in err
    return err


def test_without_truth_or_obs_is_an_error(tmp_path: Path, truth_path: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    _fails([truth_path, "--out", str(out)], capsys, "--truth", "--obs")
    assert not out.exists()


@pytest.mark.parametrize("which", ["reconstruction", "truth", "obs"])
def test_missing_input_is_an_error(tmp_path: Path, truth_path: str, which: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "missing.zarr")
    args = {"reconstruction": [missing, "--truth", truth_path],
            "truth": [truth_path, "--truth", missing],
            "obs": [truth_path, "--obs", missing]}[which]
    out = tmp_path / "report"
    _fails([*args, "--out", str(out)], capsys, missing)
    assert not out.exists()


def test_existing_out_is_left_untouched_without_overwrite(
        tmp_path: Path, truth_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    out.mkdir()
    (out / "old.txt").write_text("old")
    _fails([truth_path, "--truth", truth_path, "--out", str(out)], capsys, "--overwrite")
    assert [p.name for p in out.iterdir()] == ["old.txt"]
    assert (out / "old.txt").read_text() == "old"


def test_times_not_shared_with_the_truth_are_an_error(
        tmp_path: Path, truth_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    later = _store(_truth(start="2021-06-01"), tmp_path / "later.zarr")
    out = tmp_path / "report"
    _fails([later, "--truth", truth_path, "--out", str(out)], capsys, "share no time",
           "2021-06-01", "2020-01-01")
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_another_grid_is_an_error_not_an_interpolation(
        tmp_path: Path, truth_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    coarse = _store(xgenda.testing.ocean_dataset(4, 8, 10, variables=("ssh",)),
                    tmp_path / "coarse.zarr")
    _fails([coarse, "--truth", truth_path, "--out", str(tmp_path / "report")], capsys,
           "different grids", ".genda.regrid(")


def test_no_shared_variable_is_an_error(tmp_path: Path, truth_path: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    salt = _store(_truth(variables=("sss",)), tmp_path / "salt.zarr")
    _fails([salt, "--truth", truth_path, "--out", str(tmp_path / "report")], capsys,
           "share no variable", "'sss'", "'ssh'")


def test_unknown_variable_is_an_error(tmp_path: Path, truth_path: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    _fails([truth_path, "--truth", truth_path, "--variables", "sss", "--out",
            str(tmp_path / "report")], capsys, "no reconstruction has variable 'sss'")


def test_different_units_are_an_error(tmp_path: Path, truth_path: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    kelvin = _truth()
    kelvin["sst"] = (kelvin.sst + 273.15).assign_attrs(units="K")
    rec = _store(kelvin, tmp_path / "kelvin.zarr")
    _fails([rec, "--truth", truth_path, "--out", str(tmp_path / "report")], capsys,
           "'sst' is in 'K'", "'degC'")


def test_names_must_match_the_reconstructions(tmp_path: Path, truth_path: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    _fails([truth_path, "--truth", truth_path, "--names", "a", "b", "--out",
            str(tmp_path / "report")], capsys, "2 label(s) for 1 reconstruction(s)")


def test_out_holding_an_input_is_refused(tmp_path: Path, truth_path: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    _fails([truth_path, "--truth", truth_path, "--out", str(tmp_path), "--overwrite"], capsys,
           "holds the input")
    assert Path(truth_path).exists()


def test_obs_without_withheld_data_is_an_error(tmp_path: Path, truth_path: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    points = xgenda.testing.point_observations(_truth(), n=20)
    obs = _store(xr.DataTree.from_dict({"nadir": points}), tmp_path / "obs.zarr")
    _fails([truth_path, "--obs", obs, "--out", str(tmp_path / "report")], capsys,
           "no withheld/nadir or withheld/drifters", "/nadir")


def test_nothing_to_score_at_the_withheld_data_is_an_error(
        tmp_path: Path, osse: tuple[xr.Dataset, str],
        capsys: pytest.CaptureFixture[str]) -> None:
    _, obs = osse
    salt = _store(_truth(variables=("sss",)), tmp_path / "salt.zarr")
    _fails([salt, "--obs", obs, "--out", str(tmp_path / "report")], capsys,
           "nothing to score", "--truth")


def test_failed_write_leaves_the_old_report(tmp_path: Path) -> None:
    from xgenda._commands.evaluate import _write_folder

    out = tmp_path / "report"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(TypeError):
        _write_folder(out, {"scores.csv": "a,b\n", "report.md": None}, overwrite=True)  # type: ignore[dict-item]
    assert [p.name for p in tmp_path.iterdir()] == ["report"]
    assert [p.name for p in out.iterdir()] == ["old.txt"]
