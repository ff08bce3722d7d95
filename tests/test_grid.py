"""Grid construction, validation and metric terms against closed-form values."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from xgenda import grid
from xgenda.testing import ocean_dataset


def test_regular_grid_cell_centres_inside_edges():
    g = grid.regular(lon=(-65, -55), lat=(33, 43), res_deg=1 / 12)
    assert g.sizes == {"lat": 120, "lon": 120}
    np.testing.assert_allclose(g.lat.values[[0, -1]], [33 + 1 / 24, 43 - 1 / 24])
    np.testing.assert_allclose(np.diff(g.lon.values), 1 / 12)
    assert g.lat.attrs["units"] == "degrees_north"


def test_regular_grid_with_time_and_anisotropic_spacing():
    times = np.array(["2020-01-01", "2020-01-02"], dtype="datetime64[ns]")
    g = grid.regular(lon=(0, 10), lat=(0, 4), res_deg=(0.5, 0.25), time=times)
    assert g.sizes == {"lat": 16, "lon": 20, "time": 2}


def test_regular_grid_wraps_longitudes():
    g = grid.regular(lon=(170, 190), lat=(0, 1), res_deg=5)
    np.testing.assert_allclose(g.lon.values, [172.5, 177.5, -177.5, -172.5])


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"res_deg": 0}, "res_deg must be positive"),
    ({"lon": (5, 0)}, "grid box is empty"),
    ({"lat": (-95, 0)}, r"lat edges must lie in \[-90, 90\]"),
])
def test_regular_grid_rejects_bad_boxes(kwargs, match):
    with pytest.raises(ValueError, match=match):
        grid.regular(**kwargs)


def test_cell_area_sums_to_spherical_zone_area():
    g = grid.regular(lon=(-180, 180), lat=(-30, 60), res_deg=3)
    total = float(grid.cell_area(g).sum())
    exact = 2 * np.pi * grid.EARTH_RADIUS_M**2 * (np.sin(np.deg2rad(60)) - np.sin(np.deg2rad(-30)))
    assert total == pytest.approx(exact, rel=1e-12)


def test_metrics_match_spherical_formula():
    g = grid.regular(lon=(0, 1), lat=(59.5, 60.5), res_deg=0.5)
    dx, dy = grid.metrics(g)
    expected_dy = grid.EARTH_RADIUS_M * np.deg2rad(0.5)
    np.testing.assert_allclose(dy.values, expected_dy)
    np.testing.assert_allclose(dx.values, expected_dy * np.cos(np.deg2rad(g.lat.values)))


def test_coriolis_at_45N():
    assert float(grid.coriolis(np.array(45.0))) == pytest.approx(2 * grid.OMEGA / np.sqrt(2))


def test_check_grid_names_missing_coordinate():
    ds = ocean_dataset(nt=1, ny=3, nx=3).rename(lat="latitude")
    with pytest.raises(ValueError, match=r"no 'lat' coordinate.*standardize"):
        grid.check_grid(ds)


def test_check_grid_requires_time_when_asked():
    ds = ocean_dataset(nt=1, ny=3, nx=3).isel(time=0, drop=True)
    with pytest.raises(ValueError, match="no 'time' coordinate"):
        grid.check_grid(ds, need_time=True, what="template")


def test_check_grid_rejects_non_monotonic_coordinate():
    ds = ocean_dataset(nt=1, ny=4, nx=3).isel(lat=[0, 2, 1, 3])
    with pytest.raises(ValueError, match="'lat' is not strictly increasing"):
        grid.check_grid(ds)


def test_mean_spacing_km_of_twelfth_degree_grid():
    g = grid.regular(lon=(-65, -55), lat=(33, 43), res_deg=1 / 12)
    dx_km, dy_km = grid.mean_spacing_km(g)
    assert dy_km == pytest.approx(6371.0 * np.deg2rad(1 / 12), rel=1e-9)
    assert 7.0 < dx_km < 7.8


def test_time_blocks_from_argument_chunks_or_none():
    ds = ocean_dataset(nt=5, ny=3, nx=3)
    assert grid.time_blocks(ds, 2) == (2, 2, 1)
    assert grid.time_blocks(ds) is None
    assert grid.time_blocks(ds.chunk({"time": 3})) == (3, 2)
    assert grid.time_blocks(ds.ssh.chunk({"time": 4})) == (4, 1)
    with pytest.raises(ValueError, match="time_chunk must be >= 1"):
        grid.time_blocks(ds, 0)


def test_select_time_range_is_inclusive_and_refuses_what_selects_nothing():
    ds = ocean_dataset(nt=5, ny=4, nx=4, land=False)
    picked = grid.select_time_range(ds, ("2020-01-02", "2020-01-04"))
    assert list(picked.time.dt.day.values) == [2, 3, 4]
    assert grid.select_time_range(ds, None) is ds
    xr.testing.assert_identical(grid.select_time_range(ds, slice("2020-01-02", None)),
                                ds.isel(time=slice(1, None)))
    with pytest.raises(ValueError, match="selects no time step of the data, which spans"):
        grid.select_time_range(ds, ("2021-01-01", "2021-02-01"))
    with pytest.raises(ValueError, match=r"must be \(start, end\)"):
        grid.select_time_range(ds, "2020-01-02")
    with pytest.raises(ValueError, match="has no 'time' dim"):
        grid.select_time_range(ds.isel(time=0), ("2020-01-01", "2020-01-02"))
