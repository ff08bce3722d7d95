"""`xgenda demo` end to end at a tiny size: report, figures, and skill over the prior."""

from __future__ import annotations

import numpy as np
import pytest

from xgenda.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    cache = tmp_path_factory.mktemp("cache")
    code = main(["demo", "--out", str(out / "report"), "--days", "1", "--members", "4",
                 "--steps", "8", "--spinup-days", "30", "--cache-dir", str(cache),
                 "--no-progress"])
    assert code == 0
    return out / "report"


def test_report_and_figures_are_written(report_dir):
    text = (report_dir / "report.md").read_text()
    assert "| xgenda | ssh | m |" in text
    assert "| oi | ssh | m |" in text
    for name in ("maps_ssh", "maps_sst", "maps_sss", "oi_ssh", "spectrum_ssh", "spectrum_sst",
                 "spread_skill"):
        png = report_dir / f"{name}.png"
        assert png.stat().st_size > 10_000, name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"({name}.png)" in text


def test_ensemble_mean_beats_prior_mean_on_observed_sst(report_dir):
    import pandas as pd

    scores = pd.read_csv(report_dir / "scores.csv", index_col=["method", "variable"])
    assert scores.loc[("xgenda", "sst"), "rmse"] < scores.loc[("prior_mean", "sst"), "rmse"]
    assert np.isfinite(scores.loc[("xgenda", "ssh"), "crps"])


def test_bad_member_count_is_a_clear_error(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--members", "0"]) == 1
    assert "members must be >= 1" in capsys.readouterr().err
