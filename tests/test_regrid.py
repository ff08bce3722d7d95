"""Regridding against closed forms: linear fields, nearest values, area-weighted means."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import xgenda
from xgenda.grid import LAT_ATTRS, LON_ATTRS, cell_area, regular
from xgenda.regrid import Regridder, regrid, xesmf_available
from xgenda.testing import (
    analytic_field,
    curvilinear_dataset,
    ocean_dataset,
    raise_if_dask_computes,
)

A, B, C = 0.3, 0.02, -0.015  # coefficients of the linear test field a + b lat + c lon


def linear(lat, lon, t=0.0):
    return A + B * lat + C * lon + 0.1 * t


def field_on(lat, lon, func=linear, nt: int = 3, name: str = "ssh") -> xr.Dataset:
    """A (time, lat, lon) Dataset with ``func(lat, lon, t)`` on 1-D coords."""
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    data = np.stack([func(la, lo, t) for t in range(nt)])
    return xr.Dataset(
        {name: (("time", "lat", "lon"), data, {"units": "m", "long_name": "test field"})},
        coords={"time": pd.date_range("2020-01-01", periods=nt, freq="D"),
                "lat": ("lat", lat, LAT_ATTRS), "lon": ("lon", lon, LON_ATTRS)},
        attrs={"title": "test"},
    )


def target_values(target: xr.Dataset, func=linear, nt: int = 3) -> np.ndarray:
    return field_on(target.lat.values, target.lon.values, func, nt)["ssh"].values


SOURCE = regular(lon=(-65, -55), lat=(33, 43), res_deg=0.5)
INSIDE = regular(lon=(-64, -56), lat=(34, 42), res_deg=0.3)


# -- bilinear ---------------------------------------------------------------------


def test_bilinear_reproduces_linear_field_exactly():
    src = field_on(SOURCE.lat, SOURCE.lon)
    out = regrid(src, INSIDE, method="bilinear", backend="native")
    np.testing.assert_allclose(out.ssh.values, target_values(INSIDE), rtol=0, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    dlat=st.floats(0.1, 1.0), dlon=st.floats(0.1, 1.0),
    west=st.floats(-180, 170), south=st.floats(-80, 70),
    fractions=st.tuples(*[st.floats(0.0, 1.0)] * 4),
    n=st.tuples(st.integers(1, 7), st.integers(1, 7)),
)
def test_bilinear_of_linear_fields_is_exact_on_random_grids(dlat, dlon, west, south,
                                                            fractions, n):
    lat = south + dlat * np.arange(8)
    lon = west + dlon * np.arange(9)
    f0, f1, f2, f3 = fractions
    # A target strictly between the outermost source centres, on its own spacing.
    t_lat = np.sort(lat[0] + (lat[-1] - lat[0]) * np.linspace(min(f0, f1), max(f0, f1), n[0]))
    t_lon = np.sort(lon[0] + (lon[-1] - lon[0]) * np.linspace(min(f2, f3), max(f2, f3), n[1]))
    t_lat, t_lon = np.unique(t_lat), np.unique(t_lon)
    target = xr.Dataset(coords={"lat": t_lat, "lon": t_lon})
    out = regrid(field_on(lat, lon, nt=1), target, method="bilinear", backend="native")
    np.testing.assert_allclose(out.ssh.values, target_values(target, nt=1), atol=1e-9)


def test_bilinear_is_nan_next_to_land_and_exact_elsewhere():
    src = field_on(SOURCE.lat, SOURCE.lon)
    src["ssh"][:, :4, :4] = np.nan
    out = regrid(src, INSIDE, method="bilinear", backend="native")
    expected = target_values(INSIDE)
    land_reach = (out.lat < SOURCE.lat[4]) & (out.lon < SOURCE.lon[4])
    assert out.ssh.where(land_reach).isel(time=0).isnull().all()
    np.testing.assert_allclose(out.ssh.where(~land_reach).values,
                               np.where(~land_reach.values, expected, np.nan), atol=1e-12)


# -- nearest ----------------------------------------------------------------------


def test_nearest_returns_the_nearest_source_values():
    rng = np.random.default_rng(0)
    src = field_on(SOURCE.lat, SOURCE.lon)
    src["ssh"].values = rng.standard_normal(src.ssh.shape)
    out = regrid(src, INSIDE, method="nearest", backend="native")
    ilat = np.abs(INSIDE.lat.values[:, None] - SOURCE.lat.values[None]).argmin(axis=1)
    ilon = np.abs(INSIDE.lon.values[:, None] - SOURCE.lon.values[None]).argmin(axis=1)
    np.testing.assert_array_equal(out.ssh.values, src.ssh.values[:, ilat][:, :, ilon])


def test_nearest_is_nan_beyond_source_cell_edges_only():
    src = field_on(SOURCE.lat, SOURCE.lon)  # cell edges at 33 and 43 deg N
    target = xr.Dataset(coords={"lat": [32.9, 33.1, 42.9, 43.1], "lon": [-60.1]})
    out = regrid(src, target, method="nearest", backend="native").ssh.isel(time=0, lon=0)
    np.testing.assert_array_equal(np.isnan(out.values), [True, False, False, True])
    np.testing.assert_allclose(out.values[1:3], src.ssh.isel(time=0).sel(
        lat=[33.25, 42.75], lon=-60.25).values)


# -- conservative -----------------------------------------------------------------


def test_conservative_2x2_aggregation_is_the_area_weighted_block_mean():
    rng = np.random.default_rng(1)
    src = field_on(SOURCE.lat, SOURCE.lon, nt=2)
    src["ssh"].values = rng.standard_normal(src.ssh.shape)
    coarse = regular(lon=(-65, -55), lat=(33, 43), res_deg=1.0)
    out = regrid(src, coarse, method="conservative", backend="native")

    area = cell_area(SOURCE).values.reshape(10, 2, 10, 2)
    blocks = src.ssh.values.reshape(2, 10, 2, 10, 2)
    expected = (blocks * area).sum(axis=(2, 4)) / area.sum(axis=(1, 3))
    np.testing.assert_allclose(out.ssh.values, expected, rtol=1e-12)
    # and the domain integral is conserved
    total_in = (src.ssh * cell_area(SOURCE)).sum(("lat", "lon"))
    total_out = (out.ssh * cell_area(coarse)).sum(("lat", "lon"))
    np.testing.assert_allclose(total_out.values, total_in.values, rtol=1e-12)


def test_conservative_cells_partly_over_land_average_only_the_ocean_part():
    rng = np.random.default_rng(2)
    src = field_on(SOURCE.lat, SOURCE.lon, nt=1)
    values = 20.0 + rng.standard_normal(src.ssh.shape)  # far from 0: zeros would show
    land = np.zeros(values.shape[1:], dtype=bool)
    land[:3, :5] = True   # the first coarse row: cells fully and partly over land
    land[5, 7] = True     # one isolated land cell
    values[:, land] = np.nan
    src["ssh"].values = values
    coarse = regular(lon=(-65, -55), lat=(33, 43), res_deg=1.0)
    out = regrid(src, coarse, method="conservative", backend="native").ssh.values[0]

    area = np.where(land, 0.0, cell_area(SOURCE).values).reshape(10, 2, 10, 2)
    sums = np.nan_to_num(values[0]).reshape(10, 2, 10, 2)
    with np.errstate(invalid="ignore"):
        expected = (sums * area).sum(axis=(1, 3)) / area.sum(axis=(1, 3))
    assert np.isnan(out[0, :2]).all()  # entirely land
    np.testing.assert_allclose(out, expected, rtol=1e-12)  # NaN where expected is NaN
    assert np.isfinite(out[1, 2])
    assert np.isfinite(out[2, 3])


def test_conservative_target_partly_outside_is_nan_there():
    src = field_on(SOURCE.lat, SOURCE.lon, nt=1)
    target = regular(lon=(-60, -50), lat=(38, 48), res_deg=1.0)
    out = regrid(src, target, method="conservative", backend="native").ssh.isel(time=0)
    outside = (out.lat > 43) | (out.lon > -55)
    assert out.where(outside).isnull().all()
    assert out.where(~outside, 0.0).notnull().all()
    # linear field: the area-weighted mean of a cell ~ its centre value (to the cell's
    # latitude-weighting asymmetry)
    expected = target_values(target, nt=1)[0]
    np.testing.assert_allclose(out.where(~outside).values, np.where(outside, np.nan, expected),
                               atol=1e-3)


# -- longitude conventions ----------------------------------------------------------


def _periodic(lat, lon, t=0.0):
    return np.cos(np.deg2rad(lon)) + 0.01 * lat + 0.1 * t


def test_bilinear_wraps_a_global_0_360_source_onto_a_minus180_180_target():
    lon = np.arange(0.5, 360, 1.0)
    src = field_on(np.arange(-10.5, 11, 1.0), lon, _periodic, nt=1)
    target = xr.Dataset(coords={"lat": [0.25, 1.75], "lon": [-179.9, -3.3, -0.2, 0.1, 179.9]})
    out = regrid(src, target, method="bilinear", backend="native").ssh.isel(time=0)
    np.testing.assert_array_equal(out.lon.values, target.lon.values)
    row = src.ssh.isel(time=0).sel(lat=-0.5).values
    for j, t_lat in enumerate(target.lat.values):
        along = np.interp(target.lon.values % 360, lon, row, period=360)
        np.testing.assert_allclose(out.values[j], along + 0.01 * (t_lat + 0.5), atol=1e-12)


def test_nearest_and_conservative_wrap_a_regional_source_onto_a_0_360_target():
    src = field_on(SOURCE.lat, SOURCE.lon, nt=1)      # lon in [-65, -55]
    shifted = SOURCE.assign_coords(lon=SOURCE.lon.values + 360.0)  # same cells, 0..360
    for method in ("nearest", "conservative"):
        out = regrid(src, shifted, method=method, backend="native")
        np.testing.assert_allclose(out.ssh.values, src.ssh.values, rtol=1e-12)
        np.testing.assert_array_equal(out.lon.values, shifted.lon.values)


def test_conservative_on_a_global_grid_conserves_the_global_integral():
    rng = np.random.default_rng(3)
    fine = regular(lon=(-180, 180), lat=(-60, 60), res_deg=2.0)
    src = field_on(fine.lat, fine.lon, nt=1)
    src["ssh"].values = rng.standard_normal(src.ssh.shape)
    coarse = xr.Dataset(coords={"lat": regular(lat=(-60, 60), res_deg=6.0).lat.values,
                                "lon": np.arange(3.0, 360.0, 6.0)})  # 0..360 convention
    out = regrid(src, coarse, method="conservative", backend="native")
    total_in = float((src.ssh * cell_area(fine)).sum())
    total_out = float((out.ssh * cell_area(coarse)).sum())
    np.testing.assert_allclose(total_out, total_in, rtol=1e-10)


# -- curvilinear sources ------------------------------------------------------------

CURVI_TARGET = regular(lon=(-63, -57), lat=(35, 41), res_deg=0.25)


def test_curvilinear_bilinear_matches_the_analytic_field():
    src = curvilinear_dataset()
    out = regrid(src, CURVI_TARGET, method="bilinear", backend="native")
    expected = analytic_field(CURVI_TARGET.lat.values, CURVI_TARGET.lon.values, np.arange(2))
    assert out.ssh.dims == ("time", "lat", "lon")
    assert out.ssh.notnull().all()
    # second-order error of linear interpolation over 0.5-deg triangles
    np.testing.assert_allclose(out.ssh.values, expected, atol=5e-3)


def test_curvilinear_bilinear_reproduces_a_linear_field_exactly():
    src = curvilinear_dataset()
    src["ssh"] = src.ssh.copy(data=np.stack(
        [linear(src.lat.values, src.lon.values, t) for t in range(2)]))
    out = regrid(src, CURVI_TARGET, method="bilinear", backend="native")
    np.testing.assert_allclose(out.ssh.values, target_values(CURVI_TARGET, nt=2), atol=1e-12)


def test_curvilinear_nearest_returns_the_closest_source_point():
    src = curvilinear_dataset()
    out = regrid(src, CURVI_TARGET, method="nearest", backend="native").ssh.isel(time=1)
    lat, lon = np.deg2rad(src.lat.values.ravel()), np.deg2rad(src.lon.values.ravel())
    tla, tlo = np.meshgrid(np.deg2rad(CURVI_TARGET.lat), np.deg2rad(CURVI_TARGET.lon),
                           indexing="ij")
    # great-circle distance (haversine) to every source point, brute force
    hav = (np.sin((tla[..., None] - lat) / 2) ** 2
           + np.cos(tla[..., None]) * np.cos(lat) * np.sin((tlo[..., None] - lon) / 2) ** 2)
    expected = src.ssh.isel(time=1).values.ravel()[hav.argmin(axis=-1)]
    np.testing.assert_array_equal(out.values, expected)


def test_curvilinear_targets_outside_the_source_are_nan():
    src = curvilinear_dataset()  # ~11 x 9 degrees around (-60, 38)
    target = regular(lon=(-62, -50), lat=(37, 39), res_deg=1.0)
    for method in ("bilinear", "nearest"):
        out = regrid(src, target, method=method, backend="native").ssh.isel(time=0)
        assert out.sel(lon=slice(None, -59)).notnull().all()
        assert out.sel(lon=slice(-53, None)).isnull().all()


def test_curvilinear_conservative_points_to_the_xesmf_backend():
    with pytest.raises(NotImplementedError, match="backend='xesmf'"):
        regrid(curvilinear_dataset(), CURVI_TARGET, method="conservative", backend="native")


# -- laziness, metadata, types ------------------------------------------------------

CHUNKINGS = [{"time": 1}, {"time": 2}, {"time": -1}]


@pytest.mark.parametrize("chunks", CHUNKINGS)
@pytest.mark.parametrize("method", ["bilinear", "nearest", "conservative"])
def test_regrid_is_lazy_and_matches_numpy(method, chunks):
    ds = ocean_dataset(nt=4)
    target = regular(lon=(-64, -56), lat=(34, 42), res_deg=0.7)
    with raise_if_dask_computes():
        out = regrid(ds.chunk(chunks), target, method=method, backend="native")
    assert out.ssh.chunks is not None
    assert out.ssh.chunks[0] == ds.chunk(chunks).ssh.chunks[0]
    expected = regrid(ds, target, method=method, backend="native")
    xr.testing.assert_allclose(out.compute(), expected)


@pytest.mark.parametrize("chunks", CHUNKINGS)
@pytest.mark.parametrize("method", ["bilinear", "nearest"])
def test_curvilinear_regrid_is_lazy_and_matches_numpy(method, chunks):
    ds = curvilinear_dataset(nt=4)
    # Data chunked, grid coordinates in memory (the weights are built from them).
    lazy = ds.assign(ssh=ds.ssh.chunk(chunks))
    with raise_if_dask_computes():
        out = regrid(lazy, CURVI_TARGET, method=method, backend="native")
    assert out.ssh.chunks is not None
    xr.testing.assert_allclose(out.compute(),
                               regrid(ds, CURVI_TARGET, method=method, backend="native"))


def test_spatially_chunked_input_is_rechunked_to_one_spatial_chunk():
    ds = ocean_dataset().chunk({"time": 1, "lat": 4, "lon": 5})
    with raise_if_dask_computes():
        out = regrid(ds, INSIDE, method="bilinear", backend="native")
    assert len(out.ssh.chunks[1]) == 1
    assert len(out.ssh.chunks[2]) == 1


@pytest.mark.parametrize("method", ["bilinear", "nearest", "conservative"])
def test_regrid_keeps_attrs_dtype_and_non_spatial_content(method):
    ds = ocean_dataset().astype("float32")
    ds["weight"] = ("time", np.arange(ds.sizes["time"], dtype="float32"), {"units": "1"})
    ds = ds.assign_coords(depth=0.5, mask=(("lat", "lon"), np.ones((16, 20))))
    out = regrid(ds, INSIDE, method=method, backend="native")
    assert out.attrs == ds.attrs
    assert out.ssh.attrs == ds.ssh.attrs
    assert out.sst.attrs["units"] == "degC"
    assert out.ssh.dtype == np.float32
    assert out.lat.attrs["units"] == "degrees_north"
    assert out.lon.attrs["standard_name"] == "longitude"
    xr.testing.assert_identical(out["weight"], ds["weight"])
    assert float(out["depth"]) == 0.5
    assert "mask" not in out.coords
    np.testing.assert_array_equal(out.time.values, ds.time.values)
    np.testing.assert_array_equal(out.lat.values, INSIDE.lat.values)


def test_target_data_and_time_are_ignored():
    ds = ocean_dataset()
    target = regular(lon=(-64, -56), lat=(34, 42), res_deg=0.3,
                     time=pd.date_range("2001-01-01", periods=2))
    target["junk"] = (("lat", "lon"), np.zeros((target.sizes["lat"], target.sizes["lon"])))
    out = regrid(ds, target, backend="native")
    np.testing.assert_array_equal(out.time.values, ds.time.values)
    xr.testing.assert_identical(out, regrid(ds, INSIDE, backend="native"))


def test_dataarray_in_dataarray_out_through_the_accessor():
    da = ocean_dataset().sst
    out = da.genda.regrid(INSIDE, method="bilinear", backend="native")
    assert isinstance(out, xr.DataArray)
    assert out.name == "sst"
    xr.testing.assert_identical(
        out, regrid(da.to_dataset(), INSIDE, method="bilinear", backend="native").sst)


def test_regridder_reuses_its_weights_and_refuses_another_grid():
    ds = curvilinear_dataset()
    regridder = Regridder(ds, CURVI_TARGET, method="bilinear", backend="native")
    assert regridder.curvilinear
    assert regridder.backend == "native"
    doubled = regridder(2 * ds.ssh)
    xr.testing.assert_allclose(doubled, 2 * regrid(ds, CURVI_TARGET, backend="native").ssh)
    with pytest.raises(ValueError, match="differs from the source grid"):
        regridder(curvilinear_dataset(rotation_deg=20.0))


# -- errors -------------------------------------------------------------------------


@pytest.mark.parametrize(("make", "match"), [
    (lambda ds: ds.drop_vars("lat"), "source has no 'lat' coordinate"),
    (lambda ds: ds.isel(lon=slice(None, None, -1)), "'lon' is not strictly increasing"),
])
def test_bad_source_grids_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        regrid(make(ocean_dataset()), INSIDE, backend="native")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"method": "cubic"}, "unknown method 'cubic'; choose one of bilinear, nearest"),
    ({"backend": "scipy"}, "unknown backend 'scipy'"),
])
def test_unknown_method_or_backend_is_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        regrid(ocean_dataset(), INSIDE, **kwargs)


def test_target_without_lat_lon_is_refused():
    with pytest.raises(ValueError, match="target grid has no 'lat' coordinate"):
        regrid(ocean_dataset(), xr.Dataset(coords={"x": [1.0, 2.0]}), backend="native")


@pytest.mark.parametrize("source", [ocean_dataset(), curvilinear_dataset()])
@pytest.mark.parametrize("method", ["bilinear", "nearest"])
def test_target_entirely_outside_the_source_is_refused(source, method):
    far = regular(lon=(10, 20), lat=(-10, 0), res_deg=1.0)
    with pytest.raises(ValueError, match="entirely outside"):
        regrid(source, far, method=method, backend="native")


def test_native_backend_takes_no_extra_options():
    with pytest.raises(TypeError, match="native backend takes no extra options"):
        regrid(ocean_dataset(), INSIDE, backend="native", periodic=True)


# -- backends -----------------------------------------------------------------------


def test_auto_backend_is_native_without_xesmf():
    regridder = Regridder(ocean_dataset(), INSIDE)
    assert regridder.backend == ("xesmf" if xesmf_available() else "native")


@pytest.mark.skipif(xesmf_available(), reason="xesmf is installed")
def test_xesmf_backend_without_xesmf_says_how_to_install_it():
    with pytest.raises(ImportError, match="conda install -c conda-forge xesmf"):
        regrid(ocean_dataset(), INSIDE, backend="xesmf")


def test_xesmf_corners_are_cell_edges_and_means_of_surrounding_centres():
    # What the xesmf backend hands to ESMF for conservative regridding (no ESMF needed).
    from xgenda.regrid.esmf import _grid_for_esmf

    regular_grid = _grid_for_esmf(SOURCE.lat, SOURCE.lon, with_bounds=True)
    np.testing.assert_allclose(regular_grid.lat_b.values, np.arange(33.0, 43.01, 0.5))
    np.testing.assert_allclose(regular_grid.lon_b.values, np.arange(-65.0, -54.99, 0.5))
    curvi = curvilinear_dataset()
    grid = _grid_for_esmf(curvi.lat, curvi.lon, with_bounds=True)
    assert grid.lat_b.shape == (curvi.sizes["y"] + 1, curvi.sizes["x"] + 1)
    for name in ("lat", "lon"):
        c = curvi[name].values
        inner = (c[:-1, :-1] + c[1:, :-1] + c[:-1, 1:] + c[1:, 1:]) / 4
        np.testing.assert_allclose(grid[f"{name}_b"].values[1:-1, 1:-1], inner, atol=1e-9)


class _RecordingXesmf:
    """Stand-in for the xesmf module: records how the backend drives it."""

    calls: ClassVar[list] = []

    class Regridder:
        def __init__(self, source, target, method, **options):
            _RecordingXesmf.calls.append(("build", method, options, set(source.coords)))
            self.target = target

        def __call__(self, ds, **kwargs):
            _RecordingXesmf.calls.append(("apply", kwargs))
            shape = (ds.sizes["time"], self.target.sizes["lat"], self.target.sizes["lon"])
            return xr.Dataset({v: (("time", "lat", "lon"), np.ones(shape)) for v in ds.data_vars},
                              coords={"time": ds.time, "lat": self.target.lat,
                                      "lon": self.target.lon})


@pytest.mark.parametrize(("method", "esmf_method", "skipna"), [
    ("bilinear", "bilinear", False), ("nearest", "nearest_s2d", False),
    ("conservative", "conservative_normed", True),
])
def test_xesmf_backend_drives_esmf_with_the_matching_options(monkeypatch, method, esmf_method,
                                                             skipna):
    monkeypatch.setitem(__import__("sys").modules, "xesmf", _RecordingXesmf)
    _RecordingXesmf.calls = []
    src = field_on(SOURCE.lat, SOURCE.lon, nt=2)
    target = regular(lon=(-64, -50), lat=(34, 42), res_deg=1.0)  # partly east of the source
    out = regrid(src, target, method=method, backend="auto", extrap_method=None)
    build, apply = _RecordingXesmf.calls
    assert build[1] == esmf_method
    assert build[2] == {"periodic": False, "unmapped_to_nan": True, "extrap_method": None}
    assert ({"lat_b", "lon_b"} <= build[3]) == (method == "conservative")
    assert apply[1] == {"keep_attrs": True, "skipna": skipna, "na_thres": 1.0}
    assert out.lat.attrs["units"] == "degrees_north"
    assert out.ssh.attrs == src.ssh.attrs
    # ESMF's nearest fills every target: the backend masks those beyond the source edges
    beyond = out.ssh.sel(lon=slice(-55, None))
    assert bool(beyond.isnull().all()) == (method == "nearest")


def _xesmf():
    # ImportError rather than ModuleNotFoundError: xesmf imports but esmpy may not.
    return pytest.importorskip("xesmf", exc_type=ImportError)


def test_xesmf_bilinear_agrees_with_native_on_a_linear_field():
    _xesmf()
    src = field_on(SOURCE.lat, SOURCE.lon)
    out = regrid(src, INSIDE, method="bilinear", backend="xesmf")
    # ESMF interpolates on the sphere: close to, not exactly, linear in lat/lon
    np.testing.assert_allclose(out.ssh.values, target_values(INSIDE), atol=1e-3)


def test_xesmf_conservative_2x2_matches_native():
    _xesmf()
    rng = np.random.default_rng(4)
    src = field_on(SOURCE.lat, SOURCE.lon, nt=1)
    src["ssh"].values = rng.standard_normal(src.ssh.shape)
    src["ssh"][:, :3, :5] = np.nan
    coarse = regular(lon=(-65, -55), lat=(33, 43), res_deg=1.0)
    native = regrid(src, coarse, method="conservative", backend="native")
    esmf = regrid(src, coarse, method="conservative", backend="xesmf")
    np.testing.assert_allclose(esmf.ssh.values, native.ssh.values, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("method", ["bilinear", "nearest"])
def test_xesmf_curvilinear_is_lazy_and_close_to_native(method):
    _xesmf()
    ds = curvilinear_dataset(nt=4)
    with raise_if_dask_computes():
        out = regrid(ds.assign(ssh=ds.ssh.chunk({"time": 1})), CURVI_TARGET, method=method,
                     backend="xesmf")
    native = regrid(ds, CURVI_TARGET, method=method, backend="native")
    np.testing.assert_allclose(out.ssh.values, native.ssh.values, atol=5e-3)


def test_regrid_is_reachable_from_the_package():
    assert xgenda.regrid.regrid is regrid
