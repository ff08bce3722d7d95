"""``benchmarks/calibration.py --reselect``: a saved inflation search chosen anew."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import xgenda
from xgenda.config import MMPS, Configuration, Heun, Inflation

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture
def calibration(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import calibration

    yield calibration
    sys.modules.pop("calibration", None)


def _saved(path: Path, search: str = "inflation") -> Path:
    base = Configuration(Heun(steps=16), MMPS(), inflation=Inflation(1.6, 1.0, 150.0))
    rows = [  # score: CRPS (lower is better); reliability: mean |spread/skill - 1|
        {"large": 1.0, "small": 1.0, "score": 0.2000, "reliability": 0.20},
        {"large": 1.2, "small": 0.9, "score": 0.2003, "reliability": 0.02},
        {"large": 1.4, "small": 0.9, "score": 0.2100, "reliability": 0.00},
    ]
    saved = {"command": "python benchmarks/calibration.py --search inflation ...",
             "machine": "m", "device": "cpu", "torch_threads": 1, "date": "d",
             "seed": 1001, "analysis_days": ["2019-01-15"], "members": 16,
             "withhold": 0.2, "wall_s": 1.0, "crps_tolerance": 0.0,
             "base": json.loads(base.to_json()), "search": search, "against": "truth",
             "best": json.loads(base.to_json()), "prior": "abc", "scores": rows}
    path.write_text(json.dumps(saved))
    return path


@pytest.mark.parametrize(("tolerance", "winner"), [(0.0, (1.0, 1.0)), (0.002, (1.2, 0.9)),
                                                    (0.1, (1.4, 0.9))])
def test_reselect_picks_the_most_reliable_row_within_the_crps_tolerance(
        calibration, tmp_path: Path, tolerance: float, winner: tuple[float, float]) -> None:  # type: ignore[no-untyped-def]
    saved = _saved(tmp_path / "search.json")
    out = tmp_path / "again"
    assert calibration.main(["--reselect", str(saved), "--crps-tolerance", str(tolerance),
                             "--out", str(out)]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    best = xgenda.config.from_json(json.dumps(result["best"]))
    # only the inflation changes; its split wavelength is the base's
    assert best.inflation == Inflation(*winner, 150.0)
    assert best.sampler == Heun(steps=16)
    assert [r["best"] for r in result["scores"]] == [
        (r["large"], r["small"]) == winner for r in result["scores"]]
    assert result["reselected_from"] == str(saved)
    assert "chosen anew from the scores" in out.with_suffix(".md").read_text()


def test_reselect_refuses_another_kind_of_search(calibration, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    saved = _saved(tmp_path / "search.json", search="config")
    with pytest.raises(SystemExit, match="not an inflation search against the truth"):
        calibration.main(["--reselect", str(saved), "--out", str(tmp_path / "x")])
