"""Normalizer: statistics against numpy references, lazy transforms, round trips, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xgenda
from xgenda import Normalizer
from xgenda.testing import ocean_dataset, raise_if_dask_computes

CLIMATOLOGIES = [None, "pixel", "month"]
CHUNKINGS = [{"time": 1}, {"time": 4}, {"time": 3, "lat": 5}]


def monthly_dataset(nt: int = 70, ny: int = 6, nx: int = 7, seed: int = 0,
                    chunks: dict | None = None) -> xr.Dataset:
    """Data every 10 days (so several months) with a land corner."""
    ds = ocean_dataset(nt=nt, ny=ny, nx=nx, variables=("ssh", "sst"), seed=seed)
    ds = ds.assign_coords(time=("time", pd.date_range("2001-01-01", periods=nt, freq="10D"),
                                ds.time.attrs))
    return ds.chunk(chunks) if chunks else ds


# -- statistics equal numpy references ---------------------------------------
def test_scalar_statistics_equal_nanmean_and_nanstd():
    ds = monthly_dataset()
    norm = Normalizer.fit(ds)
    for v in ("ssh", "sst"):
        x = ds[v].values
        np.testing.assert_allclose(float(norm.stats[f"{v}_mean"]), np.nanmean(x), rtol=1e-12)
        np.testing.assert_allclose(norm.std[v], np.nanstd(x), rtol=1e-12)


def test_pixel_statistics_equal_numpy_reference():
    ds = monthly_dataset()
    norm = Normalizer.fit(ds, climatology="pixel")
    x = ds["sst"].values
    with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning, match="empty slice"):
        mean = np.nanmean(x, axis=0)
    np.testing.assert_allclose(norm.stats["sst_mean"].values, mean, rtol=1e-12)
    np.testing.assert_allclose(norm.std["sst"], np.nanstd(x - mean), rtol=1e-12)
    assert norm.stats["sst_mean"].dims == ("lat", "lon")


def test_month_statistics_equal_groupby_and_anomaly_std():
    ds = monthly_dataset()
    norm = Normalizer.fit(ds, climatology="month")
    reference = ds["ssh"].groupby("time.month").mean()
    np.testing.assert_allclose(norm.stats["ssh_mean"].values, reference.values, rtol=1e-12)
    months = ds.time.dt.month.values
    x = ds["ssh"].values
    anomaly = np.stack([x[i] - reference.sel(month=m).values for i, m in enumerate(months)])
    np.testing.assert_allclose(norm.std["ssh"], np.nanstd(anomaly), rtol=1e-12)
    assert norm.stats["ssh_mean"].dims == ("month", "lat", "lon")


def test_statistics_pool_extra_dims():
    ds = monthly_dataset()
    ens = xr.concat([ds, ds + 1.0], dim="member")
    norm = Normalizer.fit(ens, climatology="pixel")
    x = ens["ssh"].values.reshape(-1, ds.sizes["lat"], ds.sizes["lon"])
    with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning, match="empty slice"):
        mean = np.nanmean(x, axis=0)
    np.testing.assert_allclose(norm.stats["ssh_mean"].values, mean, rtol=1e-12)
    np.testing.assert_allclose(norm.std["ssh"], np.nanstd(x - mean), rtol=1e-12)


@pytest.mark.parametrize("climatology", ["pixel", "month"])
def test_land_keeps_nan_mean(climatology):
    ds = monthly_dataset()
    norm = Normalizer.fit(ds, climatology=climatology)
    land = ds["ssh"].isel(time=0).isnull().values
    mean = norm.stats["ssh_mean"].values
    assert land.any()
    assert np.isnan(mean[..., land]).all()
    assert np.isfinite(mean[..., ~land]).all()


def test_fit_computes_once_on_dask_data():
    ds = monthly_dataset(chunks={"time": 7})
    with raise_if_dask_computes(max_computes=1):
        norm = Normalizer.fit(ds, climatology="month")
    eager = Normalizer.fit(ds.load(), climatology="month")
    xr.testing.assert_allclose(norm.stats, eager.stats)


@pytest.mark.parametrize("time_range", [("2001-03-01", "2002-01-31"),
                                        slice("2001-03-01", "2002-01-31")])
def test_time_range_restricts_the_fit(time_range):
    ds = monthly_dataset()
    norm = Normalizer.fit(ds, climatology="pixel", time_range=time_range)
    subset = Normalizer.fit(ds.sel(time=slice("2001-03-01", "2002-01-31")), climatology="pixel")
    xr.testing.assert_allclose(norm.stats, subset.stats)
    full = Normalizer.fit(ds, climatology="pixel")
    assert abs(norm.std["ssh"] - full.std["ssh"]) > 1e-6
    start, end = norm.stats.attrs["fit_time_range"].split("/")
    assert start.startswith("2001-03")
    assert end.startswith("2002-01")


def test_variables_argument_selects_what_is_fitted():
    ds = monthly_dataset()
    norm = Normalizer.fit(ds, variables=["sst"])
    assert norm.variables == ["sst"]
    assert set(norm.std) == {"sst"}
    out = norm.apply(ds)
    xr.testing.assert_identical(out["ssh"], ds["ssh"])


def test_stats_attrs_record_units_kind_range_and_version():
    ds = monthly_dataset()
    norm = Normalizer.fit(ds, climatology="month")
    attrs = norm.stats.attrs
    assert attrs["climatology"] == "month"
    assert attrs["fit_variables"] == ["ssh", "sst"]
    assert attrs["xgenda_version"] == xgenda.__version__
    assert attrs["fit_time_range"].startswith("2001-01-01")
    assert norm.stats["sst_mean"].attrs["units"] == "degC"
    assert norm.stats["sst_std"].attrs["units"] == "degC"
    assert norm.stats["ssh_mean"].attrs["standard_name"] == "sea_surface_height_above_geoid"


# -- transforms ---------------------------------------------------------------
@pytest.mark.parametrize("climatology", CLIMATOLOGIES)
def test_apply_gives_zero_mean_unit_std_on_fit_data(climatology):
    ds = monthly_dataset()
    out = Normalizer.fit(ds, climatology=climatology).apply(ds)
    for v in ("ssh", "sst"):
        assert abs(float(out[v].mean())) < 1e-10
        np.testing.assert_allclose(float(out[v].std()), 1.0, rtol=1e-10)


@pytest.mark.parametrize("climatology", CLIMATOLOGIES)
def test_apply_equals_numpy_formula(climatology):
    ds = monthly_dataset()
    norm = Normalizer.fit(ds, climatology=climatology)
    x = ds["ssh"].values
    mean = norm.stats["ssh_mean"]
    if climatology == "month":
        mean = mean.sel(month=ds.time.dt.month)
    expected = (x - mean.values) / norm.std["ssh"]
    np.testing.assert_allclose(norm.apply(ds)["ssh"].values, expected, rtol=1e-12)


def test_apply_attrs_and_invert_restores_units():
    ds = monthly_dataset()
    norm = Normalizer.fit(ds, climatology="pixel")
    out = ds.genda.normalize(norm)
    assert out["sst"].attrs["units"] == "1"
    assert out["sst"].attrs["normalized"] == 1
    assert out["sst"].attrs["standard_name"] == "sea_surface_temperature"
    back = out.genda.denormalize(norm)
    assert back["sst"].attrs["units"] == "degC"
    assert "normalized" not in back["sst"].attrs
    back_bare = norm.invert(out["sst"].drop_attrs())
    assert back_bare.attrs["units"] == "degC"
    assert back_bare.attrs["standard_name"] == "sea_surface_temperature"


def test_dataarray_is_normalized_as_the_variable_of_its_name():
    ds = monthly_dataset()
    norm = Normalizer.fit(ds, climatology="month")
    out = norm.apply(ds["sst"])
    assert out.name == "sst"
    xr.testing.assert_allclose(out, norm.apply(ds)["sst"])


def test_float32_data_stay_float32():
    ds = monthly_dataset().astype("float32")
    norm = Normalizer.fit(ds, climatology="month")
    assert norm.apply(ds)["ssh"].dtype == np.float32
    assert norm.invert(norm.apply(ds))["ssh"].dtype == np.float32


def test_apply_on_member_dim_time_subset_and_subgrid():
    ds = monthly_dataset()
    norm = Normalizer.fit(ds, climatology="month")
    sub = ds.isel(time=slice(20, 31, 3), lat=slice(1, 5), lon=slice(2, 6))
    ens = xr.concat([sub, sub * 1.1], dim="member")
    out = norm.apply(ens)
    mean = norm.stats["ssh_mean"].sel(month=sub.time.dt.month, lat=sub.lat, lon=sub.lon)
    expected = (ens["ssh"] - mean.drop_vars("month")) / norm.std["ssh"]
    np.testing.assert_allclose(out["ssh"].values, expected.transpose(*out["ssh"].dims).values,
                               rtol=1e-12)


def test_apply_on_patched_data_matches_patched_normalized_data():
    ds = monthly_dataset(ny=9, nx=11)
    norm = Normalizer.fit(ds, climatology="month")
    patches = ds.genda.patch(size=5, overlap=2)
    xr.testing.assert_allclose(norm.apply(patches), norm.apply(ds).genda.patch(5, 2))


@pytest.mark.parametrize("chunks", CHUNKINGS)
@pytest.mark.parametrize("climatology", CLIMATOLOGIES)
def test_apply_and_invert_stay_lazy(chunks, climatology):
    ds = monthly_dataset(chunks=chunks)
    norm = Normalizer.fit(ds.load(), climatology=climatology)
    with raise_if_dask_computes():
        out = ds.genda.normalize(norm)
        back = out.genda.denormalize(norm)
        mean = norm.mean_on(ds)
    assert isinstance(out["ssh"].data, type(ds["ssh"].data))
    assert out["ssh"].chunks == ds["ssh"].chunks
    assert back["sst"].chunks == ds["sst"].chunks
    xr.testing.assert_allclose(back, ds)
    xr.testing.assert_allclose(out, norm.apply(ds.load()))
    assert mean["ssh"].sizes == ds["ssh"].sizes


def test_mean_on_broadcasts_the_climatology_onto_a_template():
    ds = monthly_dataset()
    norm = Normalizer.fit(ds, climatology="month")
    template = xgenda.grid.regular(lon=(-65, -55), lat=(33, 43), res_deg=(10 / 7, 10 / 6),
                                   time=pd.date_range("2030-02-10", periods=3, freq="MS"))
    template = template.assign_coords(lat=ds.lat, lon=ds.lon)
    mean = norm.mean_on(template)
    assert mean["sst"].dims == ("time", "lat", "lon")
    for k, month in enumerate((3, 4, 5)):
        np.testing.assert_array_equal(mean["sst"].isel(time=k).values,
                                      norm.stats["sst_mean"].sel(month=month).values)
    assert mean["sst"].attrs["units"] == "degC"


def test_mean_on_points_for_scalar_climatology():
    ds = monthly_dataset()
    norm = Normalizer.fit(ds)
    pts = xgenda.testing.point_observations(ds, n=5)
    mean = norm.mean_on(pts)
    assert mean["ssh"].dims == ("obs",)
    np.testing.assert_allclose(mean["ssh"].values, float(norm.stats["ssh_mean"]))


# -- round trips ----------------------------------------------------------------
@pytest.mark.parametrize("engine", ["scipy", "netcdf4"])
@pytest.mark.parametrize("climatology", CLIMATOLOGIES)
def test_netcdf_round_trip(tmp_path, engine, climatology):
    ds = monthly_dataset()
    norm = Normalizer.fit(ds, climatology=climatology)
    path = tmp_path / "norm.nc"
    norm.to_netcdf(path, engine=engine)
    again = Normalizer.open(path, engine=engine)
    xr.testing.assert_identical(again.to_dataset(), norm.to_dataset())
    assert again.climatology == climatology
    xr.testing.assert_identical(again.apply(ds), norm.apply(ds))


def test_dataset_round_trip():
    norm = Normalizer.fit(monthly_dataset(), climatology="pixel")
    again = Normalizer.from_dataset(norm.to_dataset())
    xr.testing.assert_identical(again.stats, norm.stats)
    assert again.variables == norm.variables


@st.composite
def fitted_cases(draw):
    nt = draw(st.integers(2, 40))
    ny, nx = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    climatology = draw(st.sampled_from(CLIMATOLOGIES))
    chunk_t = draw(st.sampled_from([None, 1, 3, 7]))
    seed = draw(st.integers(0, 1000))
    return nt, ny, nx, climatology, chunk_t, seed


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fitted_cases())
def test_property_invert_undoes_apply(case):
    nt, ny, nx, climatology, chunk_t, seed = case
    rng = np.random.default_rng(seed)
    ds = monthly_dataset(nt=nt, ny=max(ny, 2), nx=max(nx, 2), seed=seed)
    ds["ssh"] = ds["ssh"] * rng.uniform(0.1, 10) + rng.uniform(-5, 5)
    norm = Normalizer.fit(ds, climatology=climatology)
    data = ds.chunk({"time": chunk_t}) if chunk_t else ds
    back = norm.invert(norm.apply(data))
    xr.testing.assert_allclose(back, ds, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(back["ssh"].isnull(), ds["ssh"].isnull())


# -- errors -------------------------------------------------------------------
def test_apply_to_dataset_missing_a_variable_names_it():
    ds = monthly_dataset()
    norm = Normalizer.fit(ds)
    with pytest.raises(ValueError, match=r"fitted on \['ssh', 'sst'\]; dataset is missing 'sst'"):
        norm.apply(ds.drop_vars("sst"))
    with pytest.raises(ValueError, match="missing 'sst'"):
        norm.invert(ds[["ssh"]])


def test_dataarray_with_unknown_name_is_an_error():
    norm = Normalizer.fit(monthly_dataset())
    with pytest.raises(ValueError, match="named 'sss'"):
        norm.apply(monthly_dataset()["ssh"].rename("sss"))


def test_zero_std_variable_is_an_error():
    ds = monthly_dataset()
    ds["flat"] = xr.full_like(ds["ssh"], 3.0)
    with pytest.raises(ValueError, match="'flat' has zero standard deviation"):
        Normalizer.fit(ds)


def test_all_nan_variable_is_an_error():
    ds = monthly_dataset()
    ds["empty"] = xr.full_like(ds["ssh"], np.nan)
    with pytest.raises(ValueError, match="'empty' has non-finite"):
        Normalizer.fit(ds, variables=["ssh", "empty"])


def test_month_climatology_needs_time():
    ds = monthly_dataset().isel(time=0)
    with pytest.raises(ValueError, match="needs a 'time' dim"):
        Normalizer.fit(ds, climatology="month")


def test_unknown_climatology_is_an_error():
    with pytest.raises(ValueError, match="unknown climatology 'season'"):
        Normalizer.fit(monthly_dataset(), climatology="season")  # type: ignore[arg-type]


def test_grid_other_than_the_fit_grid_is_an_error():
    ds = monthly_dataset()
    norm = Normalizer.fit(ds, climatology="pixel")
    shifted = ds.assign_coords(lat=ds.lat + 0.1)
    with pytest.raises(ValueError, match=r"'lat' values .* are not on the grid"):
        norm.apply(shifted)


def test_month_absent_from_the_fit_is_an_error():
    ds = monthly_dataset()
    norm = Normalizer.fit(ds, climatology="month", time_range=("2001-01-01", "2001-03-31"))
    with pytest.raises(ValueError, match=r"no statistics for month\(s\) \[4"):
        norm.apply(ds)


def test_empty_time_range_is_an_error():
    with pytest.raises(ValueError, match="selects no time step"):
        Normalizer.fit(monthly_dataset(), time_range=("1990", "1991"))


def test_statistics_without_metadata_are_rejected():
    stats = Normalizer.fit(monthly_dataset()).to_dataset()
    stats.attrs.pop("climatology")
    with pytest.raises(ValueError, match="lack the 'climatology' attribute"):
        Normalizer.from_dataset(stats)
