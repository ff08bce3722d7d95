"""Geostrophic currents, vorticity, strain, divergence and drifter errors on the sphere."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from xgenda.diagnostics import dynamics
from xgenda.grid import EARTH_RADIUS_M as R
from xgenda.grid import GRAVITY as G
from xgenda.grid import coriolis, regular
from xgenda.testing import ocean_dataset, point_observations, raise_if_dask_computes

INNER = {"lat": slice(1, -1), "lon": slice(1, -1)}


def sphere_grid(lat: tuple[float, float] = (20.0, 40.0), res: float = 0.1) -> xr.Dataset:
    return regular(lon=(-70.0, -50.0), lat=lat, res_deg=res)


def lam_phi(g: xr.Dataset) -> tuple[xr.DataArray, xr.DataArray]:
    return np.deg2rad(g.lon), np.deg2rad(g.lat)


def analytic_ssh(g: xr.Dataset, a: float = 0.5, m: int = 4, n: int = 6) -> xr.Dataset:
    lam, phi = lam_phi(g)
    eta = (a * np.cos(m * lam) * np.sin(n * phi)).transpose("lat", "lon")
    return xr.Dataset({"ssh": eta.assign_attrs(units="m")})


def test_geostrophic_currents_match_analytic_on_sphere() -> None:
    g = sphere_grid()
    a, m, n = 0.5, 4, 6
    cur = dynamics.geostrophic_currents(analytic_ssh(g, a, m, n))
    lam, phi = lam_phi(g)
    f = coriolis(g.lat)
    u = -(G / (f * R)) * a * n * np.cos(m * lam) * np.cos(n * phi)
    v = -(G / (f * R * np.cos(phi))) * a * m * np.sin(m * lam) * np.sin(n * phi)
    scale_u, scale_v = float(abs(u).max()), float(abs(v).max())
    # centred differences inside: O(h^2); one-sided at the edges: O(h)
    assert float(abs(cur.u_geo - u).isel(INNER).max()) < 1e-4 * scale_u
    assert float(abs(cur.v_geo - v).isel(INNER).max()) < 1e-4 * scale_v
    assert float(abs(cur.u_geo - u).max()) < 2e-2 * scale_u
    assert cur.u_geo.attrs["units"] == "m s-1"
    assert cur.v_geo.attrs["standard_name"] == "surface_geostrophic_northward_sea_water_velocity"
    assert cur.u_geo.dims == ("lat", "lon")


def test_geostrophic_currents_are_nan_near_the_equator() -> None:
    g = sphere_grid(lat=(-10.0, 10.0), res=0.5)
    cur = dynamics.geostrophic_currents(analytic_ssh(g))
    near = np.abs(g.lat) < 5.0
    assert cur.u_geo.where(near).isnull().all()
    assert cur.v_geo.where(~near, drop=True).notnull().all()


def test_geostrophic_currents_keep_land_nan_and_extra_dims() -> None:
    ds = ocean_dataset(nt=2, ny=16, nx=20)
    cur = dynamics.geostrophic_currents(ds)
    assert cur.u_geo.dims == ("time", "lat", "lon")
    assert cur.u_geo.where(ds.ssh.isnull()).isnull().all()
    assert cur.u_geo.isel(time=0, lat=10, lon=10).notnull()


def test_geostrophic_currents_are_lazy() -> None:
    ds = ocean_dataset(nt=4, ny=16, nx=20)
    with raise_if_dask_computes():
        lazy = dynamics.geostrophic_currents(ds.chunk({"time": 1, "lat": 8}))
        vort = dynamics.vorticity(ds.chunk({"time": 2}))
    assert lazy.u_geo.chunks is not None
    assert vort.chunks is not None
    xr.testing.assert_allclose(lazy.compute(), dynamics.geostrophic_currents(ds))


def test_vorticity_of_spherical_harmonic_streamfunction() -> None:
    # psi = cos^m(phi) cos(m lam) is a spherical harmonic: laplacian(psi) = -m(m+1)/R^2 psi
    g = sphere_grid(res=0.05)
    lam, phi = lam_phi(g)
    m, psi0 = 8, 1e4
    psi = psi0 * np.cos(phi) ** m * np.cos(m * lam)
    u = -psi0 / R * np.cos(m * lam) * (-m * np.cos(phi) ** (m - 1) * np.sin(phi))
    v = psi0 / (R * np.cos(phi)) * (-m * np.cos(phi) ** m * np.sin(m * lam))
    ds = xr.Dataset({"u": u.transpose("lat", "lon"), "v": v.transpose("lat", "lon")})
    zeta = dynamics.vorticity(ds, normalize=False)
    expected = -m * (m + 1) / R**2 * psi
    assert float(abs(zeta - expected).isel(INNER).max()) < 1e-3 * float(abs(expected).max())
    over_f = dynamics.vorticity(ds)
    np.testing.assert_allclose(over_f.isel(INNER).values,
                               (zeta / coriolis(g.lat)).isel(INNER).values)
    div = dynamics.divergence(ds)
    assert float(abs(div).isel(INNER).max()) < 1e-3 * float(abs(expected).max())


def test_solid_body_rotation_has_no_strain_and_twice_the_angular_velocity() -> None:
    g = sphere_grid()
    _, phi = lam_phi(g)
    u0 = 0.5
    ds = xr.Dataset({"u": (u0 * np.cos(phi)).broadcast_like(g.lon).transpose("lat", "lon"),
                     "v": xr.zeros_like(g.lon * g.lat).transpose("lat", "lon")})
    strain = dynamics.strain_rate(ds)
    assert float(strain.isel(INNER).max()) < 1e-3 * u0 / R
    zeta = dynamics.vorticity(ds, normalize=False)
    np.testing.assert_allclose(zeta.isel(INNER).values,
                               (2 * u0 * np.sin(phi) / R).broadcast_like(zeta).isel(INNER)
                               .values, rtol=1e-4)


def test_vorticity_from_ssh_uses_geostrophic_currents() -> None:
    ds = analytic_ssh(sphere_grid(res=0.25))
    cur = dynamics.geostrophic_currents(ds)
    expected = dynamics.vorticity(cur.rename(u_geo="u", v_geo="v"))
    xr.testing.assert_allclose(dynamics.vorticity(ds), expected)


def test_ssh_in_wrong_units_raises() -> None:
    ds = analytic_ssh(sphere_grid(res=1.0))
    ds.ssh.attrs["units"] = "cm"
    with pytest.raises(ValueError, match="SSH must be in m"):
        dynamics.geostrophic_currents(ds)


def test_no_currents_and_no_ssh_raises() -> None:
    ds = ocean_dataset(nt=1, variables=("sst",))
    with pytest.raises(ValueError, match="neither currents"):
        dynamics.vorticity(ds)


def test_drifter_errors_of_known_offset() -> None:
    truth = ocean_dataset(nt=4, ny=16, nx=20, land=False)
    drifters = point_observations(truth, n=100, var="u", seed=2)
    at = truth.genda.sample_points(drifters)
    drifters["u"] = ("obs", at.u.values)
    drifters["v"] = ("obs", at.v.values)
    ens = xr.concat([truth + 0.1, truth + 0.3], dim="member")  # mean: truth + 0.2
    stats = dynamics.drifter_errors(ens, drifters)
    assert float(stats.rmse_u) == pytest.approx(0.2)
    assert float(stats.rmse_v) == pytest.approx(0.2)
    assert float(stats.rmse_vector) == pytest.approx(0.2 * np.sqrt(2))
    assert float(stats.magnitude_error) == pytest.approx(0.2 * np.sqrt(2))
    speed_m = np.hypot(at.u + 0.2, at.v + 0.2)
    assert float(stats.speed_bias) == pytest.approx(float((speed_m - np.hypot(at.u, at.v))
                                                          .mean()))
    assert int(stats.n_obs) == 100
    # scaling the currents changes speed, not direction
    scaled = dynamics.drifter_errors(truth * 2.0, drifters)
    assert float(scaled.angle_error) == pytest.approx(0.0, abs=1e-9)
    assert stats.angle_error.attrs["units"] == "degree"
    each = dynamics.drifter_errors(ens, drifters, member="each")
    np.testing.assert_allclose(each.rmse_u.values, [0.1, 0.3])


def test_drifter_errors_name_missing_velocity() -> None:
    truth = ocean_dataset(nt=2, land=False)
    drifters = point_observations(truth, n=10, var="ssh")
    with pytest.raises(ValueError, match="no velocity 'u'"):
        dynamics.drifter_errors(truth, drifters)


def test_accessor_delegates() -> None:
    ds = analytic_ssh(sphere_grid(res=0.5))
    xr.testing.assert_identical(ds.genda.geostrophic_currents(),
                                dynamics.geostrophic_currents(ds))
    xr.testing.assert_identical(ds.genda.diag.geostrophic_currents(),
                                dynamics.geostrophic_currents(ds))
    xr.testing.assert_identical(ds.genda.diag.vorticity(), dynamics.vorticity(ds))
