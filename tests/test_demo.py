"""`xgenda demo` end to end at a tiny size: report, figures, verdict, failure checks, files."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from xgenda.cli import main
from xgenda.demo import observation_failures, score_failures, verdict

TINY = ["--days", "2", "--members", "4", "--steps", "8", "--spinup-days", "30", "--no-progress"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory, cache):
    out = tmp_path_factory.mktemp("demo")
    code = main(["demo", "--out", str(out / "report"), *TINY, "--cache-dir", str(cache)])
    assert code == 0
    return out / "report"


@pytest.mark.slow
def test_report_and_figures_of_every_day_are_written(report_dir):
    text = (report_dir / "report.md").read_text()
    assert "| xgenda | ssh | m |" in text
    names = ["spectrum_ssh", "spectrum_sst", "spread_skill"]
    for day in (1, 2):
        names += [f"maps_ssh_day{day}", f"maps_sst_day{day}", f"maps_sss_day{day}",
                  f"oi_ssh_day{day}"]
    for name in names:
        png = report_dir / f"{name}.png"
        assert png.stat().st_size > 10_000, name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"({name}.png)" in text
    assert "FAILED" not in text


@pytest.mark.slow
def test_report_has_oi_rows_for_every_variable_and_salinity_in_g_per_kg(report_dir):
    text = (report_dir / "report.md").read_text()
    for var, units in (("ssh", "m"), ("sst", "degC"), ("sss", "g kg-1"), ("u", "m s-1"),
                       ("v", "m s-1")):
        assert f"| oi | {var} | {units} |" in text
        assert f"| xgenda | {var} | {units} |" in text
    scores = pd.read_csv(report_dir / "scores.csv", index_col=["method", "variable"])
    assert scores.loc[("xgenda", "sss"), "units"] == "1e-3"  # the data keep CF units


@pytest.mark.slow
def test_report_verdict_glossary_and_provenance_follow_the_scores(report_dir):
    text = (report_dir / "report.md").read_text()
    scores = pd.read_csv(report_dir / "scores.csv", index_col=["method", "variable"])
    assert verdict(scores) in text
    a, b = scores.loc[("xgenda", "ssh"), "rmse"], scores.loc[("oi", "ssh"), "rmse"]
    winner = "xgenda" if a < b else "oi"
    assert f"SSH: {winner} (RMSE {min(a, b):.3g} m against {max(a, b):.3g} m" in text
    for column in ("rmse", "mu", "sigma", "lambda_km", "crps", "spread_skill"):
        assert f"| {column} |" in text.split("### Columns")[1]
    provenance = text.split("## Provenance")[1]
    for needle in ("command: `", "torch ", "prior: `", "model card](", "machine: ",
                   "device: cpu", "assimilation ", "optimal interpolation "):
        assert needle in provenance, needle


@pytest.mark.slow
def test_ensemble_mean_beats_prior_mean_on_observed_sst(report_dir):
    scores = pd.read_csv(report_dir / "scores.csv", index_col=["method", "variable"])
    assert scores.loc[("xgenda", "sst"), "rmse"] < scores.loc[("prior_mean", "sst"), "rmse"]
    assert np.isfinite(scores.loc[("xgenda", "ssh"), "crps"])


@pytest.mark.slow
def test_existing_report_folder_is_not_overwritten(report_dir, capsys):
    before = (report_dir / "report.md").read_text()
    assert main(["demo", "--out", str(report_dir), *TINY]) == 1
    err = capsys.readouterr().err
    assert "exists; pass --overwrite" in err
    assert (report_dir / "report.md").read_text() == before


@pytest.mark.slow
def test_forced_divergence_exits_nonzero_with_a_banner(tmp_path, cache, capsys):
    out = tmp_path / "diverged"
    args = ["demo", "--out", str(out), "--days", "1", "--members", "4", "--steps", "2",
            "--spinup-days", "30", "--cache-dir", str(cache), "--no-progress"]
    with pytest.warns(RuntimeWarning, match="diverged"):  # the engine warns as well
        assert main(args) == 3
    assert "FAILED: diverged" in capsys.readouterr().err
    text = (out / "report.md").read_text()
    assert text.startswith("# xgenda demo report\n\n> **FAILED.**")
    assert "diverged" in text.split("## Verdict")[0]
    with pytest.warns(RuntimeWarning, match="diverged"):
        assert main([*args, "--overwrite", "--allow-failure"]) == 0
    assert "> **FAILED.**" in (out / "report.md").read_text()


@pytest.mark.slow
def test_a_failed_run_leaves_no_folder(tmp_path, cache, capsys):
    out = tmp_path / "report"
    code = main(["demo", "--out", str(out), *TINY, "--cache-dir", str(cache),
                 "--prior", str(tmp_path / "no-such-prior")])
    assert code == 1
    assert "no-such-prior" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_missing_optional_package_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    assert main(["demo", "--out", str(tmp_path / "report"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err == ("xgenda demo: error: xgenda demo needs matplotlib>=3.8: "
                   "pip install 'xgenda[plot]'\n")
    assert list(tmp_path.iterdir()) == []


def test_bad_member_count_is_a_clear_error(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "r"), "--members", "0"]) == 1
    assert "members must be >= 1" in capsys.readouterr().err


# -- the checks and the verdict on constructed inputs --------------------------------------
def _points(times: list[str], values: list[float]) -> xr.Dataset:
    n = len(values)
    return xr.Dataset({"ssh": ("obs", np.asarray(values, float)),
                       "ssh_error": ("obs", np.full(n, 0.02))},
                      coords={"time": ("obs", np.asarray(times, "datetime64[ns]")),
                              "lat": ("obs", np.zeros(n)), "lon": ("obs", np.zeros(n))})


def _grid(values: np.ndarray) -> xr.Dataset:
    time = np.asarray(["2019-01-15", "2019-01-16"], "datetime64[ns]")
    return xr.Dataset({"sst": (("time", "lat", "lon"), values)},
                      coords={"time": time, "lat": [30.0, 31.0], "lon": [-60.0, -59.0]})


def test_observations_outside_the_period_or_all_nan_are_failures():
    grid = np.full((2, 2, 2), np.nan)
    obs = {"nadir": _points(["2019-01-01", "2019-01-20"], [0.1, 0.2]),
           "l3_sst": _grid(grid)}
    failures = observation_failures(obs, np.datetime64("2019-01-15"),
                                    np.datetime64("2019-01-16"))
    assert len(failures) == 2
    assert "'nadir' has no finite value between 2019-01-14T12:00 and 2019-01-16T12:00" \
        in failures[0]
    assert "'l3_sst'" in failures[1]


def test_one_finite_observation_in_the_period_passes():
    grid = np.full((2, 2, 2), np.nan)
    grid[1, 0, 1] = 20.0
    obs = xr.DataTree.from_dict({"nadir": _points(["2019-01-16T11:00"], [0.1]),
                                 "l3_sst": _grid(grid)})
    assert observation_failures(obs, np.datetime64("2019-01-15"),
                                np.datetime64("2019-01-16")) == []


def _frame(rows: dict[tuple[str, str], dict[str, float]]) -> pd.DataFrame:
    index = pd.MultiIndex.from_tuples(list(rows), names=["method", "variable"])
    return pd.DataFrame(list(rows.values()), index=index)


def test_non_finite_members_diverged_and_a_larger_rmse_is_worse_than_the_prior():
    truth = xr.Dataset({"ssh": (("time", "lat", "lon"), np.zeros((1, 2, 2))),
                        "sst": (("time", "lat", "lon"), np.zeros((1, 2, 2)))})
    ens = xr.Dataset({"ssh": (("member", "time", "lat", "lon"), np.zeros((2, 1, 2, 2))),
                      "sst": (("member", "time", "lat", "lon"), np.zeros((2, 1, 2, 2)))})
    ens["ssh"][0, 0, 0, 0] = np.inf
    scores = _frame({("xgenda", "ssh"): {"rmse": 0.1, "units": "m"},
                     ("xgenda", "sst"): {"rmse": 0.9, "units": "degC"},
                     ("prior_mean", "ssh"): {"rmse": 0.2, "units": "m"},
                     ("prior_mean", "sst"): {"rmse": 0.8, "units": "degC"}})
    failures = score_failures(scores, ens, truth)
    assert failures[0].startswith("diverged: the ssh ensemble diverged (1 non-finite")
    assert failures[1] == ("worse than the prior mean: sst RMSE 0.9 degC against 0.8 degC "
                           "for the prior mean")
    scores.loc[("xgenda", "sst"), "rmse"] = 4.1  # more than 5 x 0.8
    assert score_failures(scores, ens, truth)[1].startswith("diverged: the sst ensemble")


def test_verdict_names_the_winner_the_margin_and_the_calibration():
    scores = _frame({("xgenda", "ssh"): {"rmse": 0.121, "spread_skill": 0.72, "units": "m"},
                     ("xgenda", "sss"): {"rmse": 0.08, "spread_skill": 1.0, "units": "1e-3"},
                     ("oi", "ssh"): {"rmse": 0.085, "spread_skill": np.nan, "units": "m"},
                     ("oi", "sss"): {"rmse": 0.1, "spread_skill": np.nan, "units": "1e-3"}})
    text = verdict(scores)
    assert text.startswith("xgenda has the lower RMSE on SSS, oi on SSH. ")
    assert "SSH: oi (RMSE 0.085 m against 0.121 m for xgenda, 30 % lower)" in text
    assert "SSS: xgenda (RMSE 0.08 g kg-1 against 0.1 g kg-1 for oi, 20 % lower)" in text
    assert "calibrated (spread/skill within 0.8-1.2) on SSS; too small (over-confident) on " \
           "SSH (spread/skill: SSH 0.72, SSS 1.00)." in text


def test_ci_runs_the_readme_setup_command_verbatim():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    setup = readme.split("## Set up")[1].split("```bash\n")[1].split("\n```")[0].strip()
    assert setup == "python -m pip install -e . && xgenda demo"
    ci = (root / ".ci" / "run").read_text().splitlines()
    assert f"    {setup}" in ci
    assert "/xgenda-demo/" in (root / ".gitignore").read_text().splitlines()


def test_day_outside_the_analysis_days_is_a_clear_error(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "r"), "--days", "2", "--day", "3"]) == 1
    assert "day must be between 1 and days=2, got 3" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_the_demo_runs_the_priors_recommended_configuration():
    import xgenda
    from xgenda.config import SDA, Heun
    from xgenda.demo import _configuration

    prior = xgenda.load_demo_prior()
    rec = prior.recommended
    assert _configuration(prior, None, "mmps") == (rec.sampler, rec.guidance)
    sampler, guidance = _configuration(prior, 8, "mmps")
    assert sampler.steps == 8 and sampler.churn == rec.sampler.churn  # only the steps change
    assert guidance == rec.guidance
    assert _configuration(prior, None, "sda")[1] == SDA()
    assert isinstance(rec.sampler, Heun)
