"""Patches: tiling, exact reassembly, seamless blending, land filtering, laziness, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xgenda
from xgenda.grid import LAT_ATTRS, LON_ATTRS
from xgenda.patches import blending_weights, patch, patch_origins, unpatch
from xgenda.testing import ocean_dataset, raise_if_dask_computes

CHUNKINGS = [{"time": 1}, {"time": 2}, {"time": 3, "lat": 5}]


def random_field(nt: int, ny: int, nx: int, seed: int = 0, land_fraction: float = 0.2
                 ) -> xr.DataArray:
    """Random values on a regular grid with random NaN (land) pixels at every time."""
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((nt, ny, nx))
    values[:, rng.random((ny, nx)) < land_fraction] = np.nan
    return xr.DataArray(
        values, dims=("time", "lat", "lon"), name="ssh",
        coords={"time": pd.date_range("2020-01-01", periods=nt),
                "lat": ("lat", 30.0 + 0.25 * np.arange(ny), LAT_ATTRS),
                "lon": ("lon", -60.0 + 0.25 * np.arange(nx), LON_ATTRS)},
        attrs={"units": "m", "standard_name": "sea_surface_height_above_geoid"},
    )


# -- tiling ---------------------------------------------------------------------
@pytest.mark.parametrize(("n", "size", "overlap"), [(10, 4, 1), (11, 4, 1), (8, 8, 0),
                                                     (9, 3, 0), (17, 5, 4), (7, 1, 0)])
def test_origins_cover_the_axis_with_the_last_patch_on_the_far_edge(n, size, overlap):
    starts = patch_origins(n, size, overlap)
    assert starts[0] == 0
    assert starts[-1] == n - size
    steps = np.diff(starts)
    assert np.all(steps[:-1] == size - overlap)
    assert np.all((steps > 0) & (steps <= size - overlap))
    covered = np.zeros(n, dtype=bool)
    for s in starts:
        covered[s:s + size] = True
    assert covered.all()


def test_patches_hold_the_grid_slices_at_their_origins():
    ds = ocean_dataset(nt=2, ny=13, nx=17)
    p = ds.genda.patch(size=6, overlap=2)
    assert p["ssh"].dims == ("patch", "time", "y", "x")
    assert p.sizes["patch"] == len(patch_origins(13, 6, 2)) * len(patch_origins(17, 6, 2))
    for k in range(p.sizes["patch"]):
        i0, j0 = int(p.patch_i0[k]), int(p.patch_j0[k])
        window = ds.isel(lat=slice(i0, i0 + 6), lon=slice(j0, j0 + 6))
        np.testing.assert_array_equal(p["sst"].isel(patch=k).values, window["sst"].values)
        np.testing.assert_array_equal(p["lat"].isel(patch=k).values, window["lat"].values)
        np.testing.assert_array_equal(p["lon"].isel(patch=k).values, window["lon"].values)
    assert p["ssh"].attrs == ds["ssh"].attrs
    assert p["lat"].attrs["units"] == "degrees_north"


def test_variables_without_the_grid_pass_through():
    ds = ocean_dataset(nt=3, ny=8, nx=8)
    ds["ssh_mean"] = ds["ssh"].mean(("lat", "lon"))
    p = patch(ds, 4)
    xr.testing.assert_identical(p["ssh_mean"], ds["ssh_mean"])
    xr.testing.assert_identical(unpatch(p)["ssh_mean"], ds["ssh_mean"])


def test_grid_coordinates_are_patched_and_restored():
    ds = ocean_dataset(nt=2, ny=9, nx=10).assign_coords(area=xgenda.grid.cell_area(
        ocean_dataset(nt=1, ny=9, nx=10)))
    p = patch(ds, 5, 2)
    assert p["area"].dims == ("patch", "y", "x")
    back = unpatch(p)
    np.testing.assert_allclose(back["area"].values, ds["area"].values, rtol=1e-12)
    assert "area" in back.coords


# -- exact reassembly -------------------------------------------------------------
@st.composite
def patch_cases(draw):
    ny, nx = draw(st.integers(1, 13)), draw(st.integers(1, 13))
    size = draw(st.integers(1, min(ny, nx)))
    overlap = draw(st.integers(0, size - 1))
    nt = draw(st.integers(1, 3))
    chunk_t = draw(st.sampled_from([None, 1, 2]))
    seed = draw(st.integers(0, 1000))
    return nt, ny, nx, size, overlap, chunk_t, seed


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patch_cases())
def test_property_unpatch_inverts_patch(case):
    nt, ny, nx, size, overlap, chunk_t, seed = case
    field = random_field(nt, ny, nx, seed)
    data = field.chunk({"time": chunk_t}) if chunk_t else field
    back = unpatch(patch(data, size, overlap))
    assert back.dims == field.dims
    xr.testing.assert_allclose(back, field, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(back.isnull().values, field.isnull().values)
    np.testing.assert_array_equal(back.lat.values, field.lat.values)


def test_unpatch_restores_dataset_coords_and_attrs():
    ds = ocean_dataset(nt=2, ny=12, nx=14)
    back = ds.genda.patch(size=5, overlap=1).genda.unpatch()
    xr.testing.assert_allclose(back, ds)
    assert back["ssh"].attrs == ds["ssh"].attrs
    assert back["lat"].attrs == ds["lat"].attrs
    assert back.attrs == ds.attrs


def test_patches_of_one_constant_unpatch_to_that_constant():
    p = patch(random_field(2, 15, 19, land_fraction=0.0), 7, 3)
    back = unpatch(xr.full_like(p, 2.5))
    np.testing.assert_allclose(back.values, 2.5, rtol=1e-14)


# -- blending ---------------------------------------------------------------------------
@pytest.mark.parametrize(("size", "overlap"), [(8, 0), (8, 1), (12, 4), (16, 8), (9, 8)])
def test_weights_are_positive_continuous_and_a_partition_of_unity(size, overlap):
    w = blending_weights(size, overlap)
    assert w.shape == (size, size)
    assert np.all(w > 0)
    assert w.max() <= 1.0
    if 2 * overlap < size:
        assert w[size // 2, size // 2] == 1.0
    np.testing.assert_array_equal(w, w.T)
    step = np.sin(np.pi / (2 * overlap)) if overlap else 0.0
    assert np.abs(np.diff(w[size // 2])).max() <= step + 1e-12
    if overlap > 0 and 2 * overlap <= size:
        # Two neighbours sharing exactly `overlap` pixels: weights sum to 1 there.
        window = np.sqrt(np.diagonal(w))  # w is the outer product of this 1-D window
        np.testing.assert_allclose(window[size - overlap:] + window[:overlap], 1.0,
                                   rtol=1e-12)


@pytest.mark.parametrize(("ny", "nx", "size", "overlap"), [(40, 45, 16, 8), (33, 50, 12, 4)])
def test_per_patch_offsets_blend_without_seams(ny, nx, size, overlap):
    ds = ocean_dataset(nt=1, ny=ny, nx=nx, variables=("ssh",), land=False)
    p = patch(ds["ssh"], size, overlap)
    offsets = xr.DataArray(np.random.default_rng(1).uniform(0, 1, p.sizes["patch"]),
                           dims="patch")
    error = (unpatch(p + offsets) - ds["ssh"]).values[0]
    spread = float(offsets.max() - offsets.min())
    # Each pixel is a convex mix of the offsets; adjacent mixes move by at most the
    # steepest weight step, far below a hard seam (a jump of up to `spread`).
    jumps = max(np.abs(np.diff(error, axis=0)).max(), np.abs(np.diff(error, axis=1)).max())
    assert jumps <= spread * np.sin(np.pi / (2 * overlap)) + 1e-12
    assert error.min() >= float(offsets.min()) - 1e-12
    assert error.max() <= float(offsets.max()) + 1e-12


# -- land filtering ----------------------------------------------------------------------
def land_field() -> xr.DataArray:
    field = random_field(3, 12, 14, land_fraction=0.0)
    return field.where((field.lat > 31.0) | (field.lon > -58.0))  # NaN in a corner


def test_nan_fraction_flags_patches_over_the_threshold():
    field = land_field()
    p = patch(field, 5, 1, max_nan_fraction=0.3, drop=False)
    land = np.isnan(field.isel(time=0).values)
    expected = [land[i:i + 5, j:j + 5].mean() <= 0.3
                for i, j in zip(p.patch_i0.values, p.patch_j0.values, strict=True)]
    np.testing.assert_array_equal(p.patch_valid.values, expected)
    assert not all(expected)
    assert p.sizes["patch"] == len(expected)


def test_dropped_patches_leave_nan_where_nothing_else_covers():
    field = land_field()
    p = patch(field, 5, 1, max_nan_fraction=0.3)
    full = patch(field, 5, 1, max_nan_fraction=0.3, drop=False)
    assert p.sizes["patch"] == int(full.patch_valid.sum())
    np.testing.assert_array_equal(p.patch.values, full.patch.values[full.patch_valid.values])
    covered = np.zeros(field.shape[1:], dtype=bool)
    for i, j in zip(p.patch_i0.values, p.patch_j0.values, strict=True):
        covered[i:i + 5, j:j + 5] = True
    back = unpatch(p)
    assert not covered.all()
    assert back.isnull().values[:, ~covered].all()
    xr.testing.assert_allclose(back.where(covered), field.where(covered))


def test_mask_argument_replaces_the_nan_test():
    field = random_field(2, 10, 10, land_fraction=0.0)
    mask = (field.lat < 31.0).broadcast_like(field.isel(time=0, drop=True))
    p = patch(field, 5, 0, max_nan_fraction=0.5, mask=mask)
    np.testing.assert_array_equal(p.patch_i0.values, [0, 0])


def test_land_mask_from_dask_data_costs_one_small_compute():
    field = land_field().chunk({"time": 1})
    with raise_if_dask_computes(max_computes=1):
        p = patch(field, 5, 1, max_nan_fraction=0.3)
    assert p.sizes["patch"] == patch(land_field(), 5, 1, max_nan_fraction=0.3).sizes["patch"]


# -- laziness ----------------------------------------------------------------------------
@pytest.mark.parametrize("chunks", CHUNKINGS)
def test_patch_and_unpatch_stay_lazy(chunks):
    ds = ocean_dataset(nt=4, ny=11, nx=13, chunks=chunks)
    mask = ds["ssh"].isel(time=0, drop=True).notnull().compute()
    with raise_if_dask_computes():
        p = ds.genda.patch(size=6, overlap=2, max_nan_fraction=0.5, mask=mask)
        back = p.genda.unpatch()
    assert p["ssh"].chunks is not None
    assert back["ssh"].chunks is not None
    eager = ds.load()
    xr.testing.assert_allclose(p, patch(eager, 6, 2, max_nan_fraction=0.5))
    kept = unpatch(patch(eager, 6, 2, max_nan_fraction=0.5))
    xr.testing.assert_allclose(back, kept)


# -- errors ------------------------------------------------------------------------------
@pytest.mark.parametrize(("size", "overlap", "message"), [
    (20, 0, "larger than the domain"),
    (4, 4, "must be smaller than the patch size"),
    (4, -1, "overlap must be an integer >= 0"),
    (0, 0, "patch size must be an integer >= 1"),
    (2.5, 0, "patch size must be an integer >= 1"),
])
def test_bad_sizes_are_errors(size, overlap, message):
    with pytest.raises(ValueError, match=message):
        patch(random_field(1, 10, 12), size, overlap)


def test_missing_lat_lon_is_an_error():
    field = random_field(1, 6, 6).drop_vars("lat")
    with pytest.raises(ValueError, match="no 'lat' coordinate"):
        patch(field, 3)


def test_bad_max_nan_fraction_is_an_error():
    with pytest.raises(ValueError, match=r"max_nan_fraction must lie in \[0, 1\]"):
        patch(random_field(1, 6, 6), 3, max_nan_fraction=1.5)


def test_unpatch_without_patch_metadata_is_an_error():
    with pytest.raises(ValueError, match="no patch metadata"):
        unpatch(random_field(1, 6, 6))
    p = patch(random_field(1, 6, 6), 3)
    p["patch_i0"].attrs = {}
    with pytest.raises(ValueError, match="no patch metadata"):
        unpatch(p)
