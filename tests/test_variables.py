"""Specification of ds.genda.standardize(): names, units, coordinates, CF attributes."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xgenda  # noqa: F401  (registers .genda)
from xgenda.testing import ocean_dataset, raise_if_dask_computes
from xgenda.variables import VARIABLES, canonical_name, unit_conversion


def glorys_like(chunks=None) -> xr.Dataset:
    """The test dataset dressed as a GLORYS12 product: names, depth dim, 0..360 lon."""
    ds = ocean_dataset(nt=3, ny=8, nx=10, land=True)
    g = ds.rename(ssh="zos", sst="thetao", sss="so", u="uo", v="vo",
                  lat="latitude", lon="longitude")
    g = g.expand_dims(depth=[0.494]).transpose("time", "depth", ...)
    g["so"].attrs["units"] = "psu"
    g = g.assign_coords(longitude=g.longitude % 360)
    return g.chunk(chunks) if chunks else g


def test_glorys_names_become_canonical():
    out = glorys_like().genda.standardize()
    assert set(out.data_vars) == {"ssh", "sst", "sss", "u", "v"}
    assert "depth" not in out.dims


def test_values_survive_renaming_and_surface_selection():
    ref = ocean_dataset(nt=3, ny=8, nx=10, land=True)
    out = glorys_like().genda.standardize()
    for name in ref.data_vars:
        np.testing.assert_allclose(out[name].values, ref[name].values, equal_nan=True)


def test_lon_wrapped_to_minus180_180_and_sorted():
    ds = ocean_dataset(nt=1, ny=4, nx=6, lon=(170.0, 200.0), land=False)
    out = ds.genda.standardize()
    lon = out.lon.values
    assert np.all(lon >= -180)
    assert np.all(lon < 180)
    assert np.all(np.diff(lon) > 0)
    # the value at 195 E is now at -165 E
    np.testing.assert_allclose(out.ssh.sel(lon=-165.0 - 2.5 + 2.5, method="nearest").values,
                               ds.ssh.sel(lon=195.0, method="nearest").values)


def test_descending_lat_is_sorted_ascending():
    ds = ocean_dataset(nt=1, ny=5, nx=4, land=False)
    out = ds.isel(lat=slice(None, None, -1)).genda.standardize()
    np.testing.assert_array_equal(out.lat.values, ds.lat.values)
    np.testing.assert_array_equal(out.ssh.values, ds.ssh.values)


def test_kelvin_sst_converted_to_celsius():
    ds = ocean_dataset(nt=1, ny=4, nx=4, land=False, variables=("sst",))
    ghrsst = ds.rename(sst="analysed_sst")
    ghrsst["analysed_sst"] = ghrsst.analysed_sst + 273.15
    ghrsst.analysed_sst.attrs["units"] = "kelvin"
    out = ghrsst.genda.standardize()
    np.testing.assert_allclose(out.sst.values, ds.sst.values, rtol=0, atol=1e-10)
    assert out.sst.attrs["units"] == "degC"
    assert out.sst.attrs["standard_name"] == "sea_surface_temperature"
    assert out.sst.attrs["units_original"] == "kelvin"


@pytest.mark.parametrize(("units", "factor"), [("cm", 0.01), ("mm", 0.001), ("m", 1.0)])
def test_length_units_converted_to_metres(units, factor):
    ds = ocean_dataset(nt=1, ny=4, nx=4, land=False, variables=("ssh",))
    duacs = ds.rename(ssh="adt")
    duacs["adt"] = duacs.adt / factor
    duacs.adt.attrs["units"] = units
    out = duacs.genda.standardize()
    np.testing.assert_allclose(out.ssh.values, ds.ssh.values, rtol=1e-12)


def test_cm_per_second_currents_converted():
    ds = ocean_dataset(nt=1, ny=4, nx=4, land=False, variables=("u", "v"))
    duacs = ds.rename(u="ugos", v="vgos") * 100.0
    for name in ("ugos", "vgos"):
        duacs[name].attrs["units"] = "cm/s"
    out = duacs.genda.standardize()
    np.testing.assert_allclose(out.u.values, ds.u.values, rtol=1e-12)
    assert out.v.attrs["units"] == "m s-1"


def test_unknown_variables_pass_through_untouched():
    ds = ocean_dataset(nt=1, ny=4, nx=4, land=False, variables=("ssh",))
    ds["chlorophyll"] = ds.ssh * 0 + 1.0
    ds.chlorophyll.attrs = {"units": "mg m-3", "long_name": "chl"}
    out = ds.genda.standardize()
    xr.testing.assert_identical(out.chlorophyll, ds.chlorophyll)


def test_alias_not_renamed_onto_existing_canonical_variable():
    ds = ocean_dataset(nt=1, ny=4, nx=4, land=False, variables=("ssh",))
    ds["sla"] = ds.ssh - 0.1
    ds.sla.attrs["units"] = "m"
    out = ds.genda.standardize()
    assert "sla" in out
    assert "ssh" in out
    np.testing.assert_allclose(out.ssh.values, ds.ssh.values)


def test_unknown_units_raise_clear_error():
    ds = ocean_dataset(nt=1, ny=4, nx=4, land=False, variables=("sst",))
    ds.sst.attrs["units"] = "furlongs of warmth"
    with pytest.raises(ValueError, match=r"unknown units 'furlongs of warmth' of 'sst'"):
        ds.genda.standardize()


def test_incompatible_units_raise_clear_error():
    ds = ocean_dataset(nt=1, ny=4, nx=4, land=False, variables=("ssh",))
    ds.ssh.attrs["units"] = "m s-1"
    with pytest.raises(ValueError, match="cannot be converted to 'm'"):
        ds.genda.standardize()


def test_missing_units_warns_and_assumes_canonical():
    ds = ocean_dataset(nt=1, ny=4, nx=4, land=False, variables=("ssh",))
    del ds.ssh.attrs["units"]
    with pytest.warns(UserWarning, match="no units attribute"):
        out = ds.genda.standardize()
    assert out.ssh.attrs["units"] == "m"


def test_dataarray_standardized_by_its_name():
    ds = ocean_dataset(nt=1, ny=4, nx=4, land=False, variables=("sst",))
    da = (ds.sst + 273.15).rename("analysed_sst")
    da.attrs["units"] = "K"
    out = da.genda.standardize()
    assert out.name == "sst"
    np.testing.assert_allclose(out.values, ds.sst.values, atol=1e-10)


@pytest.mark.parametrize("chunks", [{"time": 1}, {"time": 2}, {"time": -1, "latitude": 4}])
def test_standardize_is_lazy(chunks):
    g = glorys_like(chunks)
    with raise_if_dask_computes():
        out = g.genda.standardize()
    assert all(out[v].chunks is not None for v in out.data_vars)


def test_canonical_name_lookup():
    assert canonical_name("zos") == "ssh"
    assert canonical_name("analysed_sst") == "sst"
    assert canonical_name("ugos") == "u"
    assert canonical_name("nonsense") is None
    assert set(VARIABLES) >= {"ssh", "sst", "sss", "u", "v", "uwind", "vwind"}


def test_unit_conversion_is_affine_kelvin_to_celsius():
    scale, offset = unit_conversion("K", "degC")
    assert scale == pytest.approx(1.0)
    assert offset == pytest.approx(-273.15)


@pytest.mark.parametrize("as_coord", [False, True])
def test_standardize_wraps_longitude_bounds_with_their_cells(as_coord):
    lon = np.arange(0.125, 360, 0.25)
    bounds = np.stack([lon - 0.125, lon + 0.125], axis=1)
    ds = xr.Dataset({"adt": (("lat", "lon"), np.zeros((2, lon.size)), {"units": "m"})},
                    coords={"lat": [10.0, 11.0], "lon": ("lon", lon, {"bounds": "lon_bnds"})})
    bnds = xr.DataArray(bounds, dims=("lon", "nv"))
    ds = ds.assign_coords(lon_bnds=bnds) if as_coord else ds.assign(lon_bnds=bnds)
    out = ds.genda.standardize()
    assert out["lon"].values.min() == -179.875
    assert out["lon"].values.max() == 179.875
    np.testing.assert_array_equal(out["lon_bnds"].values[:, 0], out["lon"].values - 0.125)
    np.testing.assert_array_equal(out["lon_bnds"].values[:, 1], out["lon"].values + 0.125)
    assert ("lon_bnds" in out.coords) == as_coord
