"""Gridded fields sampled at point observations, checked against closed forms."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from xgenda.grid import LAT_ATTRS, LON_ATTRS, regular
from xgenda.regrid import sample_points
from xgenda.testing import (
    analytic_field,
    curvilinear_dataset,
    ocean_dataset,
    point_observations,
    raise_if_dask_computes,
)

GRID = regular(lon=(-65, -55), lat=(33, 43), res_deg=0.5)
TIMES = pd.date_range("2020-01-01", periods=5, freq="D")


def linear(lat, lon, days):
    return 0.3 + 0.02 * lat - 0.015 * lon + 0.1 * days


def gridded(func=linear, times=TIMES, grid=GRID) -> xr.Dataset:
    """``func(lat, lon, days since the first time)`` on (time, lat, lon)."""
    days = ((times - times[0]) / pd.Timedelta("1D")).to_numpy()
    la, lo = np.meshgrid(grid.lat.values, grid.lon.values, indexing="ij")
    data = np.stack([func(la, lo, d) for d in days])
    return xr.Dataset(
        {"ssh": (("time", "lat", "lon"), data, {"units": "m"})},
        coords={"time": times, "lat": ("lat", grid.lat.values, LAT_ATTRS),
                "lon": ("lon", grid.lon.values, LON_ATTRS)},
        attrs={"title": "test"},
    )


def points(lat, lon, time) -> xr.Dataset:
    return xr.Dataset(coords={"time": ("obs", np.array(time, dtype="datetime64[ns]")),
                              "lat": ("obs", np.asarray(lat, float)),
                              "lon": ("obs", np.asarray(lon, float))})


def days_of(pts: xr.Dataset) -> np.ndarray:
    return (pts.time.values - TIMES[0].to_datetime64()) / np.timedelta64(1, "D")


def test_linear_field_in_space_and_time_is_reproduced_exactly():
    field = gridded()
    pts = point_observations(field, n=300, seed=1)
    out = sample_points(field, pts)
    expected = linear(pts.lat.values, pts.lon.values, days_of(pts))
    np.testing.assert_allclose(out.ssh.values, expected, rtol=0, atol=1e-10)


def test_analytic_field_matches_the_observed_values():
    times = pd.date_range("2020-01-01", periods=4, freq="D")
    field = gridded(lambda la, lo, d: analytic_field(la[:, 0], lo[0], d)[0], times=times)
    obs = point_observations(field, n=200, seed=2)   # exact samples of analytic_field
    out = sample_points(field, obs)
    # bilinear error on 0.5-degree cells of a field varying on ~15-degree scales
    np.testing.assert_allclose(out.ssh.values, obs.ssh.values, atol=2e-3)


def test_points_carry_their_own_coordinates():
    field = gridded()
    pts = point_observations(field, n=20, seed=3).set_coords("platform")
    out = sample_points(field, pts)
    assert out.ssh.dims == ("obs",)
    for name in ("time", "lat", "lon", "platform"):
        np.testing.assert_array_equal(out[name].values, pts[name].values)
    assert out.attrs == field.attrs
    assert out.ssh.attrs == field.ssh.attrs


def test_points_outside_the_grid_or_time_range_are_nan():
    field = gridded()
    pts = points(lat=[38.0, 32.0, 38.0, 38.0, 38.0], lon=[-60.0, -60.0, -50.0, -60.0, -60.0],
                 time=["2020-01-02T06", "2020-01-02", "2020-01-02", "2019-12-31T12",
                       "2020-01-06"])
    out = sample_points(field, pts).ssh.values
    np.testing.assert_array_equal(np.isnan(out), [False, True, True, True, True])
    np.testing.assert_allclose(out[0], linear(38.0, -60.0, 1.25))


def test_time_tolerance_extends_the_end_steps():
    field = gridded()
    pts = points(lat=[38.0, 38.0, 38.0], lon=[-60.0, -60.0, -60.0],
                 time=["2019-12-31T18", "2020-01-05T11", "2020-01-05T13"])
    out = sample_points(field, pts, time_tolerance="12h").ssh.values
    np.testing.assert_allclose(out[:2], [linear(38.0, -60.0, 0), linear(38.0, -60.0, 4)])
    assert np.isnan(out[2])


def test_single_time_step_needs_a_tolerance():
    field = gridded(times=TIMES[:1])
    pts = points(lat=[38.0, 38.0], lon=[-60.0, -60.0], time=["2020-01-01T03", "2020-01-01"])
    exact = sample_points(field, pts).ssh.values
    np.testing.assert_array_equal(np.isnan(exact), [True, False])
    widened = sample_points(field, pts, time_tolerance=np.timedelta64(6, "h")).ssh.values
    np.testing.assert_allclose(widened, linear(38.0, -60.0, 0.0))


def test_field_without_time_is_sampled_in_space_only():
    field = gridded().isel(time=2, drop=True)
    pts = point_observations(gridded(), n=50, seed=4)
    out = sample_points(field, pts)
    np.testing.assert_allclose(out.ssh.values, linear(pts.lat.values, pts.lon.values, 2.0),
                               atol=1e-10)
    np.testing.assert_array_equal(out.time.values, pts.time.values)


def test_nearest_takes_the_nearest_grid_point_and_time_step():
    rng = np.random.default_rng(5)
    field = gridded()
    field["ssh"].values = rng.standard_normal(field.ssh.shape)
    pts = point_observations(field, n=100, seed=6)
    out = sample_points(field, pts, method="nearest")
    it = np.abs(days_of(pts)[:, None] - np.arange(5)[None]).argmin(axis=1)
    ilat = np.abs(pts.lat.values[:, None] - GRID.lat.values[None]).argmin(axis=1)
    ilon = np.abs(pts.lon.values[:, None] - GRID.lon.values[None]).argmin(axis=1)
    np.testing.assert_array_equal(out.ssh.values, field.ssh.values[it, ilat, ilon])


def test_point_longitudes_in_0_360_match_their_minus180_180_twins():
    field = gridded()
    pts = point_observations(field, n=40, seed=7)
    east = pts.assign_coords(lon=pts.lon + 360.0)
    a = sample_points(field, pts).ssh.values
    np.testing.assert_allclose(sample_points(field, east).ssh.values, a, rtol=1e-12)


def test_points_across_the_seam_of_a_global_grid_are_interpolated():
    grid = xr.Dataset(coords={"lat": [-1.0, 1.0], "lon": np.arange(0.5, 360.0, 1.0)})
    field = gridded(lambda la, lo, d: np.cos(np.deg2rad(lo)) + 0 * la + d, grid=grid)
    pts = points(lat=[0.0, 0.0, 0.0], lon=[-0.2, 359.9, 0.3], time=["2020-01-02"] * 3)
    out = sample_points(field, pts).ssh.values
    row = np.cos(np.deg2rad(grid.lon.values))
    expected = np.interp(np.array([-0.2, 359.9, 0.3]) % 360, grid.lon.values, row,
                         period=360) + 1.0
    np.testing.assert_allclose(out, expected, atol=1e-12)


def test_extra_dims_are_kept_before_obs():
    field = xr.concat([gridded(), 2 * gridded()], dim="member")
    pts = point_observations(gridded(), n=10, seed=8)
    out = sample_points(field, pts)
    assert out.ssh.dims == ("member", "obs")
    np.testing.assert_allclose(out.ssh.values[1], 2 * out.ssh.values[0])


def test_dataarray_in_dataarray_out_with_dtype_through_the_accessor():
    da = gridded().ssh.astype("float32")
    pts = point_observations(gridded(), n=10, seed=9)
    out = da.genda.sample_points(pts)
    assert isinstance(out, xr.DataArray)
    assert out.name == "ssh"
    assert out.dtype == np.float32
    assert out.attrs == {"units": "m"}


@pytest.mark.parametrize("chunks", [{"time": 1}, {"time": 2}, {"time": -1}])
@pytest.mark.parametrize("method", ["linear", "nearest"])
def test_sampling_is_lazy_and_matches_numpy(method, chunks):
    field = ocean_dataset(nt=5, land=True)
    pts = point_observations(field, n=60, seed=10)
    with raise_if_dask_computes():
        out = sample_points(field.chunk(chunks), pts, method=method)
    assert out.ssh.chunks is not None
    xr.testing.assert_allclose(out.compute(), sample_points(field, pts, method=method))


# -- errors -------------------------------------------------------------------------


def test_points_without_time_are_refused_for_fields_with_time():
    pts = point_observations(gridded(), n=5).drop_vars("time")
    with pytest.raises(ValueError, match="points have no 'time' coordinate"):
        sample_points(gridded(), pts)


def test_points_not_along_obs_are_refused():
    pts = point_observations(gridded(), n=6).rename(obs="track")
    with pytest.raises(ValueError, match="need 1-D coords along dim 'obs'"):
        sample_points(gridded(), pts)


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown method 'cubic'; choose one of linear, nearest"):
        sample_points(gridded(), point_observations(gridded(), n=5), method="cubic")


def test_curvilinear_fields_must_be_regridded_first():
    ds = curvilinear_dataset()
    pts = point_observations(ds, n=5)
    with pytest.raises(ValueError, match="regrid curvilinear data first"):
        sample_points(ds, pts)


def test_bad_tolerance_type_is_refused():
    with pytest.raises(TypeError, match="time_tolerance must be a duration"):
        sample_points(gridded(), point_observations(gridded(), n=5), time_tolerance=3.0)
