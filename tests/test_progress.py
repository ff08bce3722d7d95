"""xgenda.progress: one switch for the progress bars of long work."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from xgenda.progress import dask_progress, progress_bars, wanted


def test_explicit_argument_wins_over_the_context() -> None:
    with progress_bars(False):
        assert wanted(True) is True
    with progress_bars(True):
        assert wanted(False) is False


def test_context_decides_when_the_argument_is_none_and_is_restored() -> None:
    assert wanted(None) is False
    assert wanted(None, default=True) is True
    with progress_bars():
        assert wanted(None) is True
        with progress_bars(False):
            assert wanted(None, default=True) is False
        assert wanted(None) is True
    assert wanted(None) is False


def test_dask_computations_inside_the_context_show_a_bar_with_their_tasks(
        capsys: pytest.CaptureFixture[str]) -> None:
    x = da.ones((8, 8), chunks=(2, 8)).sum()
    with progress_bars(desc="summing"):
        assert float(x.compute(scheduler="synchronous")) == 64.0
    err = capsys.readouterr().err
    assert "summing" in err
    assert "100%" in err
    with progress_bars(False):
        x.compute(scheduler="synchronous")
    assert capsys.readouterr().err == ""


def test_disabled_dask_progress_is_silent(capsys: pytest.CaptureFixture[str]) -> None:
    with dask_progress("quiet", enabled=False):
        np.testing.assert_array_equal(da.arange(4, chunks=2).compute(), np.arange(4))
    assert capsys.readouterr().err == ""


def test_toy_ocean_follows_the_context(capsys: pytest.CaptureFixture[str]) -> None:
    from xgenda.datasets import toy_ocean

    with progress_bars():
        toy_ocean(days=2, size=32, spinup_days=1, seed=0)
    assert "toy_ocean" in capsys.readouterr().err
    with progress_bars(False):
        toy_ocean(days=2, size=32, spinup_days=1, seed=0)
    assert "toy_ocean" not in capsys.readouterr().err


def test_observe_follows_the_context(capsys: pytest.CaptureFixture[str]) -> None:
    from xgenda.datasets import toy_ocean
    from xgenda.osse import observe

    truth = toy_ocean(days=2, size=32, spinup_days=1, seed=0, progress=False)
    with progress_bars():
        observe(truth, nadirs=1, drifters=2, seed=0)
    assert "observe" in capsys.readouterr().err
    observe(truth, nadirs=1, drifters=2, seed=0)
    assert "observe" not in capsys.readouterr().err
