"""Error model of observation sets: correlated product errors, persistence error, inflation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xgenda
from xgenda.config import KindWindow, Window
from xgenda.obs import AnalysisGrid, apply_window, collect, compile_tables
from xgenda.obs.compile import correlated_error_inflation

TIMES = pd.date_range("2020-01-01", periods=3, freq="D")


def _grid(n: int = 8) -> AnalysisGrid:
    g = xgenda.grid.regular(lon=(-60, -60 + 0.25 * n), lat=(35, 35 + 0.25 * n), res_deg=0.25)
    return AnalysisGrid.from_coords(g.lat.values, g.lon.values, ("sss",))


def _l4(grid: AnalysisGrid, error: float = 0.1, times=TIMES[:1], **attrs) -> xr.Dataset:
    shape = (len(times), *grid.shape)
    return xr.Dataset(
        {"sss": (("time", "lat", "lon"), np.full(shape, 35.0), {"units": "1e-3"}),
         "sss_error": ((), error, {"units": "1e-3"})},
        coords={"time": times, "lat": grid.lat, "lon": grid.lon},
        attrs={"genda_obs": "grid", **{f"genda_{k}": v for k, v in attrs.items()}})


def _periodic_correlation(n: int, dx: float, dy: float, length: float) -> np.ndarray:
    """Correlation matrix exp(-r^2 / L^2) of an n x n periodic grid (nearest image)."""
    i, j = np.divmod(np.arange(n * n), n)
    di = np.abs(i[:, None] - i[None, :])
    dj = np.abs(j[:, None] - j[None, :])
    di, dj = np.minimum(di, n - di), np.minimum(dj, n - dj)
    return np.exp(-((di * dy) ** 2 + (dj * dx) ** 2) / length**2)


@pytest.mark.parametrize("length", [20.0, 48.0])
def test_inflated_white_errors_give_the_exact_posterior_of_a_large_scale_signal(length):
    # a uniform anomaly a ~ N(0, 1) seen by every pixel of an L4 product whose errors
    # are correlated exp(-r^2 / L^2) (the simulator's L4 error): exact posterior variance
    # with the correlated R against white R, inflated and not
    n, dx, dy, e = 40, 13.7, 17.4, 0.3
    r = e**2 * _periodic_correlation(n, dx, dy, length)
    ones = np.ones(n * n)
    exact = 1.0 / (1.0 + ones @ np.linalg.solve(r, ones))
    f = correlated_error_inflation(length, dx, dy) ** 2
    inflated = 1.0 / (1.0 + n * n / (f * e**2))
    white = 1.0 / (1.0 + n * n / e**2)
    assert inflated == pytest.approx(exact, rel=1e-6)
    assert exact / white > 0.5 * math.pi * length**2 / (dx * dy)  # white R: far too sure


def test_inflation_is_about_pi_l2_over_the_pixel_area():
    # the lattice sum of exp(-r^2 / L^2) tends to its integral pi L^2 / (dx dy)
    f = correlated_error_inflation(200.0, 10.0, 12.0) ** 2
    assert f == pytest.approx(math.pi * 200.0**2 / 120.0, rel=1e-6)
    # an error much shorter than a pixel is white
    assert correlated_error_inflation(1.0, 10.0, 12.0) == pytest.approx(1.0, abs=1e-12)


def test_attrs_set_the_error_model_of_a_gridded_product():
    grid = _grid()
    t = TIMES[1].to_datetime64()
    obs = _l4(grid, times=TIMES, time_window=1.5, time_error_growth=0.05,
              error_correlation_km=30.0, error_inflation=2.0)
    (s,) = collect(obs, grid.variables)
    assert (s.time_window, s.time_error_growth, s.error_correlation_km, s.error_inflation) == \
        (1.5, 0.05, 30.0, 2.0)
    (table,) = compile_tables([s], grid, [t], 0.5)
    f = correlated_error_inflation(30.0, *grid.spacing_km)
    expected = np.sqrt((0.1 * 2.0 * f) ** 2 + (0.05 * table.dt_days) ** 2)
    np.testing.assert_allclose(table.error, expected, rtol=1e-12)
    assert sorted(set(table.dt_days)) == [-1.0, 0.0, 1.0]
    # without the attrs: the product's own white error
    (plain,) = compile_tables(collect(_l4(grid), grid.variables), grid, [TIMES[0].to_datetime64()], 0.5)
    np.testing.assert_allclose(plain.error, 0.1)


def test_persistence_error_of_point_observations_grows_with_time_distance():
    grid = _grid()
    t0 = TIMES[0].to_datetime64()
    obs = xr.Dataset(
        {"sss": ("obs", [35.0, 35.1, 35.2], {"units": "1e-3"}),
         "sss_error": ("obs", [0.1, 0.1, 0.1], {"units": "1e-3"})},
        coords={"time": ("obs", [t0, t0 + np.timedelta64(2, "D"), t0 - np.timedelta64(3, "D")]),
                "lat": ("obs", [35.5, 35.6, 35.7]), "lon": ("obs", [-59.5, -59.4, -59.3])},
        attrs={"genda_obs": "points", "genda_time_window": 4.0,
               "genda_time_error_growth": 0.2})
    (table,) = compile_tables(collect(obs, grid.variables), grid, [t0], 0.5)
    order = np.argsort(table.value)
    np.testing.assert_allclose(table.error[order], [0.1, math.hypot(0.1, 0.4),
                                                    math.hypot(0.1, 0.6)], rtol=1e-12)


@pytest.mark.parametrize(("attrs", "message"), [
    ({"error_inflation": 0.0}, "error_inflation must be a finite number > 0"),
    ({"time_error_growth": -1.0}, "time_error_growth must be a finite number >= 0"),
    ({"error_correlation_km": float("nan")}, "error_correlation_km must be"),
])
def test_bad_error_model_attrs_are_refused(attrs, message):
    grid = _grid()
    with pytest.raises(ValueError, match=message):
        collect(_l4(grid, **attrs), grid.variables)


def test_correlated_errors_of_point_observations_are_refused():
    grid = _grid()
    obs = xr.Dataset({"sss": ("obs", [35.0], {"units": "1e-3"}),
                      "sss_error": ("obs", [0.1], {"units": "1e-3"})},
                     coords={"time": ("obs", TIMES[:1].values), "lat": ("obs", [35.5]),
                             "lon": ("obs", [-59.5])},
                     attrs={"genda_obs": "points", "genda_error_correlation_km": 30.0})
    with pytest.raises(ValueError, match="gridded and smoothed products"):
        collect(obs, grid.variables)


def test_time_blur_of_a_smoothed_product_enters_as_time_distance():
    grid = _grid()
    t0 = TIMES[0].to_datetime64()
    obs = _l4(grid, time_error_growth=0.05).assign_attrs(genda_obs="smoothed", sigma_km=20.0,
                                                         window_days=3.0)
    (table,) = compile_tables(collect(obs, grid.variables), grid, [t0], 0.5)
    assert np.all(table.dt_days == 0)
    np.testing.assert_allclose(table.error, math.hypot(0.1, 0.05 * 3.0), rtol=1e-12)
    # without error growth the blur changes nothing
    plain = _l4(grid).assign_attrs(genda_obs="smoothed", sigma_km=20.0, window_days=3.0)
    (table,) = compile_tables(collect(plain, grid.variables), grid, [t0], 0.5)
    np.testing.assert_allclose(table.error, 0.1)


# -- the window's per-kind settings and error inflation ------------------------------------
def _points(grid: AnalysisGrid, **attrs) -> xr.Dataset:
    t0 = TIMES[0].to_datetime64()
    return xr.Dataset(
        {"sss": ("obs", [35.0, 35.1, 35.2], {"units": "1e-3"}),
         "sss_error": ("obs", [0.1, 0.1, 0.1], {"units": "1e-3"})},
        coords={"time": ("obs", [t0, t0 + np.timedelta64(2, "D"), t0 - np.timedelta64(3, "D")]),
                "lat": ("obs", [35.5, 35.6, 35.7]), "lon": ("obs", [-59.5, -59.4, -59.3])},
        attrs={"genda_obs": "points", **{f"genda_{k}": v for k, v in attrs.items()}})


def test_a_kinds_window_sets_the_half_width_and_the_error_growth_in_prior_std():
    grid = _grid()
    t0 = TIMES[0].to_datetime64()
    window = Window(points=KindWindow(half_width=4.0, error_growth=0.5), error_inflation=1.5)
    std = {"sss": 0.4}  # the prior's std: 0.5 std per day is 0.2 (1e-3) per day
    (s,) = apply_window(collect(_points(grid), grid.variables), window, std)
    assert s.time_window == 4.0
    assert s.error_inflation == 1.5
    (table,) = compile_tables([s], grid, [t0], window.half_width)
    order = np.argsort(table.value)
    np.testing.assert_allclose(table.error[order], [0.15, math.hypot(0.15, 0.4),
                                                    math.hypot(0.15, 0.6)], rtol=1e-12)
    # a half-day window: only the observation of the analysis day
    (plain,) = compile_tables(collect(_points(grid), grid.variables), grid, [t0], 0.5)
    np.testing.assert_allclose(plain.error, [0.1])


def test_a_sets_own_attrs_win_over_its_kinds_window():
    grid = _grid()
    window = Window(points=KindWindow(half_width=4.0, error_growth=0.5), error_inflation=2.0)
    own = _points(grid, time_window=1.0, time_error_growth=0.01, error_inflation=1.5)
    (s,) = apply_window(collect(own, grid.variables), window, {"sss": 0.4})
    assert (s.time_window, s.time_error_growth) == (1.0, 0.01)
    assert s.error_inflation == 3.0  # the window's factor multiplies the set's own
    (table,) = compile_tables([s], grid, [TIMES[0].to_datetime64()], 0.5)
    np.testing.assert_allclose(table.error, [0.3], rtol=1e-12)


def test_other_kinds_and_the_default_window_change_nothing():
    grid = _grid()
    sets = collect([_points(grid), _l4(grid)], grid.variables)
    assert apply_window(sets, Window(), {"sss": 0.4}) == sets
    (points, gridded) = apply_window(sets, Window(grid=KindWindow(2.0, 1.0)), {"sss": 0.4})
    assert points == sets[0]
    assert gridded.time_window == 2.0
    assert gridded.kind_error_growth == {"sss": 0.4}
    with pytest.raises(TypeError, match=r"xgenda\.config\.Window"):
        apply_window(sets, {"half_width": 1.0}, {"sss": 0.4})
    with pytest.raises(ValueError, match="no prior std for"):
        apply_window(sets, Window(grid=KindWindow(2.0, 1.0)), {"sst": 1.0})


def test_a_smoothed_product_uses_its_recorded_error_correlation_by_default():
    # the OSSE L4 simulator records error_correlation_km in the product's attrs
    grid = _grid()
    t0 = TIMES[0].to_datetime64()
    l4 = _l4(grid).assign_attrs(genda_obs="smoothed", sigma_km=20.0, error_correlation_km=48.0)
    (s,) = collect(l4, grid.variables)
    assert s.error_correlation_km == 48.0
    (table,) = compile_tables([s], grid, [t0], 0.5)
    np.testing.assert_allclose(table.error, 0.1 * correlated_error_inflation(
        48.0, *grid.spacing_km), rtol=1e-12)
    # the set's own attr wins; 0 turns the inflation off (white errors)
    (own,) = collect(l4.assign_attrs(genda_error_correlation_km=20.0), grid.variables)
    assert own.error_correlation_km == 20.0
    (white,) = collect(l4.assign_attrs(genda_error_correlation_km=0.0), grid.variables)
    (table,) = compile_tables([white], grid, [t0], 0.5)
    np.testing.assert_allclose(table.error, 0.1)
    # a plain gridded product keeps white errors whatever its metadata
    (gridded,) = collect(_l4(grid).assign_attrs(error_correlation_km=48.0), grid.variables)
    assert gridded.error_correlation_km is None
    with pytest.raises(ValueError, match="must be a number"):
        collect(l4.assign_attrs(error_correlation_km="long"), grid.variables)
