"""Figures: each returns a matplotlib Figure, saves PNG, and shows what it claims."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from xgenda.diagnostics.plots import Plots
from xgenda.testing import ocean_dataset, point_observations

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def world() -> tuple[xr.Dataset, xr.Dataset]:
    truth = ocean_dataset(nt=3, ny=24, nx=24)
    rng = np.random.default_rng(0)
    ens = xr.concat([truth + 0.02 * rng.standard_normal(truth.ssh.shape) for _ in range(4)],
                    dim="member")
    return truth, ens


def test_maps_show_truth_obs_mean_and_spread(world: tuple[xr.Dataset, xr.Dataset],
                                             tmp_path: Path) -> None:
    truth, ens = world
    obs = point_observations(truth, n=100)
    fig = ens.genda.plot.maps(truth, obs, "ssh", save=tmp_path / "maps.png")
    assert isinstance(fig, Figure)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["truth", "observations", "ensemble mean", "ensemble spread"]
    assert (tmp_path / "maps.png").read_bytes()[:8] == PNG


def test_maps_of_a_single_map_without_truth(world: tuple[xr.Dataset, xr.Dataset]) -> None:
    truth, _ = world
    fig = Plots(truth).maps(var="ssh", time=1)
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == ["reconstruction"]


def test_spectrum_plot_marks_the_half_score_crossing(world: tuple[xr.Dataset, xr.Dataset],
                                                     tmp_path: Path) -> None:
    truth, _ = world
    rec = truth.rolling(lon=3, center=True, min_periods=1).mean()
    lam = float(rec.genda.diag.effective_resolution(truth, "ssh"))
    assert np.isfinite(lam)
    fig = rec.genda.plot.spectrum(truth, "ssh", save=tmp_path / "spectrum.png")
    score_ax = fig.axes[1]
    marks = [line for line in score_ax.get_lines() if list(line.get_ydata()) == [0.5]]
    assert len(marks) == 1
    assert float(marks[0].get_xdata()[0]) == pytest.approx(lam)
    assert (tmp_path / "spectrum.png").read_bytes()[:8] == PNG


def test_spread_skill_plot(world: tuple[xr.Dataset, xr.Dataset], tmp_path: Path) -> None:
    truth, ens = world
    fig = ens.genda.plot.spread_skill(truth, "ssh", save=tmp_path / "ss.png")
    curve = fig.axes[0].get_lines()[0]
    err = ens.ssh.mean("member") - truth.ssh
    np.testing.assert_allclose(curve.get_ydata(), np.sqrt((err**2).mean(("lat", "lon"))).values)
    assert (tmp_path / "ss.png").read_bytes()[:8] == PNG


def test_rank_histogram_plot_shows_relative_frequencies(
        world: tuple[xr.Dataset, xr.Dataset], tmp_path: Path) -> None:
    truth, ens = world
    fig = ens.genda.plot.rank_histogram(truth, "ssh", save=tmp_path / "rh.png")
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert len(heights) == 5
    assert sum(heights) == pytest.approx(1.0)
    hist = ens.genda.diag.rank_histogram(truth, "ssh").ssh
    np.testing.assert_allclose(heights, (hist / hist.sum()).values)
    assert (tmp_path / "rh.png").read_bytes()[:8] == PNG


def test_spread_skill_needs_an_ensemble(world: tuple[xr.Dataset, xr.Dataset]) -> None:
    truth, _ = world
    with pytest.raises(ValueError, match="'member' dim"):
        truth.genda.plot.spread_skill(truth, "ssh")


def test_missing_matplotlib_says_how_to_install(world: tuple[xr.Dataset, xr.Dataset],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    truth, _ = world
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install 'xgenda\[plot\]'"):
        truth.genda.plot.maps(var="ssh")


def test_spectrum_wavelength_axes_increase_left_to_right_with_labelled_ticks(
        world: tuple[xr.Dataset, xr.Dataset]) -> None:
    truth, _ = world
    rec = truth.rolling(lon=3, center=True, min_periods=1).mean()
    fig = rec.genda.plot.spectrum(truth, "ssh")
    fig.canvas.draw()
    for ax in fig.axes[:2]:
        left, right = ax.get_xlim()
        assert left < right
        assert ax.get_xlabel() == "wavelength (km)"
        assert ax.get_title()
        visible = [t for t in ax.get_xticklabels()
                   if t.get_text() and left <= t.get_position()[0] <= right]
        values = [float(t.get_text()) for t in visible]
        assert len(values) >= 3
        assert values == sorted(values)
        # Legends sit below the axes, off the curves.
        box = ax.get_legend().get_window_extent()
        assert box.y1 <= ax.get_window_extent().y0


def test_spread_skill_time_axis_is_dated_and_panels_are_titled(
        world: tuple[xr.Dataset, xr.Dataset]) -> None:
    truth, ens = world
    fig = ens.genda.plot.spread_skill(truth, "ssh")
    fig.canvas.draw()
    from matplotlib.dates import ConciseDateFormatter, num2date

    ax = fig.axes[0]
    assert isinstance(ax.xaxis.get_major_formatter(), ConciseDateFormatter)
    ticks = {num2date(t).strftime("%Y-%m-%d") for t in ax.get_xticks()}
    assert set(np.datetime_as_string(truth.time.values, unit="D")) <= ticks
    assert all(t.get_text() for t in ax.get_xticklabels())
    assert all(ax.get_title() for ax in fig.axes[:2])
    box = fig.axes[0].get_legend().get_window_extent()
    assert box.y1 <= fig.axes[0].get_window_extent().y0


def test_salinity_is_labelled_in_g_per_kg_while_the_data_keep_cf_units() -> None:
    from xgenda.diagnostics.plots import display_units

    truth = ocean_dataset(nt=2, ny=16, nx=16, variables=("sss",))
    assert truth.sss.attrs["units"] == "1e-3"
    fig = truth.genda.plot.maps(var="sss")
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert "sss (g kg-1)" in labels
    assert truth.sss.attrs["units"] == "1e-3"
    assert display_units("degC") == "degC"
