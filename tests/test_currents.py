"""Surface-current decomposition: wind stress, Ekman regression, decompose/recompose."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xgenda
from xgenda.currents import (
    EkmanModel,
    decompose_currents,
    fit_ekman,
    recompose_currents,
    wind_stress,
)
from xgenda.grid import EARTH_RADIUS_M, GRAVITY, coriolis, regular
from xgenda.guard import DistributionShift
from xgenda.testing import raise_if_dask_computes

# Tolerances of the recovery tests: amplitude within 5 %, turning angle within 3 degrees.
AMP_RTOL = 0.05
ANGLE_ATOL_DEG = 3.0


def ekman_world(
    nt: int = 200,
    *,
    lon: tuple[float, float] = (-65.0, -59.0),
    lat: tuple[float, float] = (33.0, 38.0),
    res: float = 0.5,
    noise: float = 0.01,
    seed: int = 0,
    amplitude: np.ndarray | float | None = None,
    angle: np.ndarray | float | None = None,
) -> tuple[xr.Dataset, np.ndarray, np.ndarray]:
    """Random 10 m winds and the current ``A tau + noise`` with a known complex ``A(lat, lon)``.

    Returns the Dataset (``uwind``, ``vwind``, ``u``, ``v``), the true amplitude
    (m s-1 Pa-1) and the true angle (degrees), both (lat, lon).
    """
    rng = np.random.default_rng(seed)
    times = pd.date_range("2020-01-01", periods=nt, freq="D")
    ds = regular(lon=lon, lat=lat, res_deg=res, time=times)
    ny, nx = ds.sizes["lat"], ds.sizes["lon"]
    shape = (nt, ny, nx)
    ds["uwind"] = (("time", "lat", "lon"), 2.0 + 6.0 * rng.standard_normal(shape),
                   {"units": "m s-1"})
    ds["vwind"] = (("time", "lat", "lon"), 6.0 * rng.standard_normal(shape), {"units": "m s-1"})
    y = np.linspace(0, 1, ny)[:, None]
    x = np.linspace(0, 1, nx)[None, :]
    amp = 0.7 + 0.5 * y + 0 * x if amplitude is None else np.broadcast_to(amplitude, (ny, nx))
    ang = -50.0 + 15.0 * x + 0 * y if angle is None else np.broadcast_to(angle, (ny, nx))
    coef = amp * np.exp(1j * np.deg2rad(ang))
    tx, ty = wind_stress(ds["uwind"], ds["vwind"])
    w = coef * (tx.values + 1j * ty.values)
    w = w + noise * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape))
    ds["u"] = (("time", "lat", "lon"), w.real, {"units": "m s-1"})
    ds["v"] = (("time", "lat", "lon"), w.imag, {"units": "m s-1"})
    return ds, np.asarray(amp), np.asarray(ang)


def with_ssh(ds: xr.Dataset, members: int | None = None) -> xr.Dataset:
    """Add a smooth ``ssh`` (m) eddy field; with ``members``, a different one per member."""
    lat2, lon2 = np.meshgrid(np.deg2rad(ds.lat), np.deg2rad(ds.lon), indexing="ij")
    t = np.arange(ds.sizes["time"])[:, None, None]
    base = 0.3 * np.sin(20 * lat2 + 0.01 * t) * np.cos(15 * lon2)
    if members is None:
        ssh = xr.DataArray(base, dims=("time", "lat", "lon"))
    else:
        scale = xr.DataArray(1.0 + 0.5 * np.arange(members), dims="member")
        ssh = scale * xr.DataArray(base, dims=("time", "lat", "lon"))
    return ds.assign(ssh=ssh.assign_attrs(units="m"))


@pytest.fixture(scope="module")
def world() -> tuple[xr.Dataset, np.ndarray, np.ndarray]:
    return ekman_world()


@pytest.fixture(scope="module")
def model(world) -> EkmanModel:
    return fit_ekman(world[0], world[0])


# -- wind stress ---------------------------------------------------------------

def test_wind_stress_follows_large_and_pond():
    speed = xr.DataArray([5.0, 20.0, 30.0], dims="x", attrs={"units": "m s-1"})
    tau_x, tau_y = wind_stress(speed, 0 * speed)
    # 1e3 Cd = 1.2 below 11 m/s, 0.49 + 0.065 U from 11 to 25 m/s, held at 25 m/s above.
    cd = np.array([1.2e-3, (0.49 + 0.065 * 20) * 1e-3, (0.49 + 0.065 * 25) * 1e-3])
    np.testing.assert_allclose(tau_x, 1.22 * cd * speed.values**2, rtol=1e-12)
    np.testing.assert_array_equal(tau_y, 0.0)
    assert tau_x.attrs["units"] == "N m-2"
    assert tau_x.attrs["standard_name"] == "surface_downward_eastward_stress"


def test_wind_stress_is_along_the_wind_with_constant_drag_and_unit_conversion():
    knots = 1852.0 / 3600.0
    u = xr.DataArray([6.0 / knots], dims="x", attrs={"units": "knot"})
    v = xr.DataArray([8.0 / knots], dims="x", attrs={"units": "knot"})
    tau_x, tau_y = wind_stress(u, v, rho_air=1.2, drag=1.5e-3)
    np.testing.assert_allclose([tau_x[0], tau_y[0]], [1.2 * 1.5e-3 * 10 * 6,
                                                      1.2 * 1.5e-3 * 10 * 8], rtol=1e-9)


def test_wind_stress_rejects_unknown_drag():
    u = xr.DataArray([5.0], dims="x")
    with pytest.raises(ValueError, match="large_pond"):
        wind_stress(u, u, drag="charnock")


# -- geostrophic currents (one implementation, in diagnostics) -------------------

def test_geostrophic_currents_of_analytic_ssh_on_the_sphere():
    # ssh = a lambda + b phi (radians): u = -g b / (f R), v = g a / (f R cos phi)
    # exactly, with f = 2 Omega sin(phi) and the spherical metric terms.
    a, b = 0.5, -0.8
    ds = regular(lon=(-70, -50), lat=(20, 50), res_deg=1.0)
    lam, phi = np.deg2rad(ds.lon), np.deg2rad(ds.lat)
    ds["ssh"] = (a * lam + b * phi).transpose("lat", "lon").assign_attrs(units="m")
    geo = ds.genda.geostrophic_currents()
    f = coriolis(ds.lat)
    u_exact = (-GRAVITY * b / (f * EARTH_RADIUS_M)).broadcast_like(ds.ssh)
    v_exact = GRAVITY * a / (f * EARTH_RADIUS_M * np.cos(phi)) + 0 * ds.ssh
    inner = {"lat": slice(1, -1), "lon": slice(1, -1)}
    np.testing.assert_allclose(geo["u_geo"].isel(inner), u_exact.isel(inner), rtol=1e-3)
    np.testing.assert_allclose(geo["v_geo"].isel(inner).transpose("lat", "lon"),
                               v_exact.isel(inner).transpose("lat", "lon"), rtol=1e-3)


# -- the Ekman regression ----------------------------------------------------------

def test_fit_recovers_known_amplitude_and_turning_angle(world, model):
    _, amp, ang = world
    c = model.coefficients
    np.testing.assert_allclose(c["amplitude"], amp, rtol=AMP_RTOL)
    np.testing.assert_allclose(c["angle"], ang, atol=ANGLE_ATOL_DEG)
    # the noise is small next to the signal: the fit explains most of the variance
    assert float(c["r2"].min()) > 0.9
    assert (c["n_samples"] == 200).all()
    assert c["amplitude"].attrs["units"] == "m s-1 Pa-1"
    assert c["angle"].attrs["units"] == "degree"


def test_fit_coefficients_are_consistent_in_polar_and_cartesian_form(model):
    c = model.coefficients
    coef = c["coef_real"] + 1j * c["coef_imag"]
    np.testing.assert_allclose(np.abs(coef), c["amplitude"], rtol=1e-12)
    np.testing.assert_allclose(np.rad2deg(np.angle(coef)), c["angle"], atol=1e-9)


def test_fit_with_intercept_recovers_a_steady_current():
    ds, amp, ang = ekman_world(nt=150, seed=1)
    ds = ds.assign(u=ds.u + 0.05, v=ds.v - 0.02)
    c = fit_ekman(ds, ds, intercept=True).coefficients
    np.testing.assert_allclose(c["intercept_u"], 0.05, atol=0.005)
    np.testing.assert_allclose(c["intercept_v"], -0.02, atol=0.005)
    np.testing.assert_allclose(c["amplitude"], amp, rtol=AMP_RTOL)
    np.testing.assert_allclose(c["angle"], ang, atol=ANGLE_ATOL_DEG)


def test_fit_on_the_wind_itself_instead_of_the_stress():
    ds, _, _ = ekman_world(nt=60, noise=0.0)
    w = (0.02 * np.exp(-1j * np.pi / 4)) * (ds.uwind + 1j * ds.vwind)
    ds = ds.assign(u=np.real(w), v=np.imag(w))
    c = fit_ekman(ds, predictor="wind").coefficients
    np.testing.assert_allclose(c["amplitude"], 0.02, rtol=1e-10)
    np.testing.assert_allclose(c["angle"], -45.0, atol=1e-8)
    assert c["amplitude"].attrs["units"] == "1"


def test_fit_per_block_pools_the_pixels_of_each_block():
    # one coefficient per 5 x 5 block (lat 33-38 at 0.5 deg: 10 x 12 pixels, 2 x 3 blocks)
    block_amp = np.repeat(np.repeat([[0.6, 0.9, 1.2], [1.5, 0.8, 1.0]], 5, 0), 5, 1)[:, :12]
    block_ang = np.repeat(np.repeat([[-30.0, -45.0, -60.0], [-20, -50, -40]], 5, 0), 5, 1)[:, :12]
    ds, _, _ = ekman_world(nt=30, amplitude=block_amp, angle=block_ang, seed=2)
    c = fit_ekman(ds, ds, region=5).coefficients
    np.testing.assert_allclose(c["amplitude"], block_amp, rtol=0.02)
    np.testing.assert_allclose(c["angle"], block_ang, atol=1.0)
    # every pixel of a block carries the same fit, made with all the block's samples
    assert c["amplitude"].isel(lat=slice(0, 5), lon=slice(0, 5)).std() < 1e-12
    assert int(c["n_samples"][0, 0]) == 30 * 25
    assert int(c["n_samples"][0, -1]) == 30 * 5 * 2  # the last block is 2 pixels wide
    assert c.attrs["region"] == "block 5"


def test_fit_per_labelled_region_and_for_the_whole_domain():
    ds, _, _ = ekman_world(nt=30, amplitude=1.0, angle=-40.0, seed=3)
    labels = xr.where(ds.lat < 35.5, 0, 1) + 0 * ds.lon
    east = (ds.lon > -60).broadcast_like(labels)
    labels = labels.where(~east)  # NaN: left out of the fit
    c = fit_ekman(ds, ds, region=labels).coefficients
    np.testing.assert_allclose(c["amplitude"].where(~east, drop=False).fillna(1.0), 1.0,
                               rtol=0.02)
    assert c["amplitude"].where(east).isnull().all()
    domain = fit_ekman(ds, ds, region="domain").coefficients
    assert "lat" not in domain.dims
    assert "lon" not in domain.dims
    assert abs(float(domain["amplitude"]) - 1.0) < 0.01
    assert abs(float(domain["angle"]) + 40.0) < 0.5
    assert int(domain["n_samples"]) == ds.u.size


def test_fit_restricted_to_the_training_period():
    early, _, _ = ekman_world(nt=60, amplitude=1.0, angle=-40.0, seed=4)
    late, _, _ = ekman_world(nt=60, amplitude=2.0, angle=-10.0, seed=5)
    late = late.assign_coords(time=late.time + pd.Timedelta(days=60))
    ds = xr.concat([early, late], "time")
    c = fit_ekman(ds, ds, time_range=("2020-01-01", "2020-02-29")).coefficients
    np.testing.assert_allclose(c["amplitude"], 1.0, rtol=AMP_RTOL)
    np.testing.assert_allclose(c["angle"], -40.0, atol=ANGLE_ATOL_DEG)
    assert c.attrs["training_times"] == 60
    assert c.attrs["training_end"].startswith("2020-02-29")


def test_land_pixels_get_nan_coefficients():
    ds, _, _ = ekman_world(nt=20, seed=6)
    ds["u"][:, :2, :3] = np.nan
    c = fit_ekman(ds, ds).coefficients
    assert c["amplitude"][:2, :3].isnull().all()
    assert (c["n_samples"][:2, :3] == 0).all()
    assert c["amplitude"][2:, 3:].notnull().all()


def test_fit_computes_once_on_dask_input(world):
    ds = world[0].chunk(time=50)
    with raise_if_dask_computes(max_computes=1):
        m = fit_ekman(ds, ds, time_range=("2020-01-10", "2020-06-30"))
    assert not m.coefficients["amplitude"].chunks


def test_fit_subtracting_the_geostrophic_current_recovers_the_ekman_part(world):
    from xgenda.diagnostics import dynamics
    ds = with_ssh(world[0])
    geo = dynamics.geostrophic_currents(ds, ssh="ssh")
    total = ds.assign(u=ds.u + geo.u_geo.fillna(0), v=ds.v + geo.v_geo.fillna(0))
    c = fit_ekman(total, total, subtract_geostrophic=True).coefficients
    np.testing.assert_allclose(c["amplitude"], world[1], rtol=AMP_RTOL)
    np.testing.assert_allclose(c["angle"], world[2], atol=ANGLE_ATOL_DEG)


# -- the model object -----------------------------------------------------------------

def test_predict_is_the_complex_product_and_lazy(world, model):
    ds = world[0].isel(time=slice(0, 10)).chunk(time=5)
    with raise_if_dask_computes():
        ek = model.predict(ds)
    assert ek["u_ek"].chunks is not None
    tx, ty = wind_stress(ds.uwind, ds.vwind)
    c = model.coefficients
    expected = ((c.coef_real + 1j * c.coef_imag) * (tx + 1j * ty)).transpose(*tx.dims)
    np.testing.assert_allclose(ek["u_ek"], np.real(expected), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ek["v_ek"], np.imag(expected), rtol=1e-12, atol=1e-15)
    assert ek["u_ek"].attrs["units"] == "m s-1"


def test_predict_matches_float32_coordinates_without_regridding(world, model):
    wind = world[0][["uwind", "vwind"]].isel(time=slice(0, 3))
    wind32 = wind.assign_coords(lat=wind.lat.astype(np.float32),
                                lon=wind.lon.astype(np.float32))
    np.testing.assert_array_equal(model.predict(wind32)["u_ek"], model.predict(wind)["u_ek"])


def test_model_round_trips_through_netcdf(tmp_path, world, model):
    path = tmp_path / "ekman.nc"
    model.to_netcdf(path)
    back = EkmanModel.open(path)
    xr.testing.assert_identical(back.coefficients, model.coefficients)
    wind = world[0].isel(time=slice(0, 3))
    xr.testing.assert_allclose(back.predict(wind), model.predict(wind))


# -- decomposition and recomposition --------------------------------------------------

@pytest.fixture(scope="module")
def decomposable(world, model):
    return with_ssh(world[0].isel(time=slice(0, 12))), model


def test_decomposition_parts_are_geostrophic_ekman_and_exact_remainder(decomposable):
    ds, model = decomposable
    from xgenda.diagnostics import dynamics
    out = ds.genda.decompose_currents(model)
    geo = dynamics.geostrophic_currents(ds, ssh="ssh")
    defined = geo["u_geo"].notnull()
    xr.testing.assert_allclose(out["u_geo"].where(defined), geo["u_geo"].where(defined))
    xr.testing.assert_allclose(out["u_ek"], model.predict(ds)["u_ek"])
    assert (out["u_geo"].where(~defined, 0) == 0).all()  # 0 where geostrophy is undefined
    for c in ("u", "v"):
        total = out[f"{c}_geo"] + out[f"{c}_ek"] + out[f"{c}_res"]
        np.testing.assert_allclose(total, ds[c], rtol=0, atol=1e-13)
        assert out[f"{c}_res"].attrs["units"] == "m s-1"
    assert "u_geo" in out.attrs["current_decomposition"]


def test_recomposition_inverts_the_decomposition(decomposable):
    ds, model = decomposable
    parts = decompose_currents(ds, model)
    state = parts.drop_vars(["u", "v", "u_geo", "v_geo", "u_ek", "v_ek"])
    back = state.genda.recompose_currents(model)
    np.testing.assert_allclose(back["u"], ds["u"], rtol=0, atol=1e-13)
    np.testing.assert_allclose(back["v"], ds["v"], rtol=0, atol=1e-13)
    assert back["u"].attrs["standard_name"] == "eastward_sea_water_velocity"


def test_recomposition_uses_the_ssh_of_each_member(decomposable):
    ds, model = decomposable
    from xgenda.diagnostics import dynamics
    members = with_ssh(ds, members=3)
    rng = np.random.default_rng(7)
    members["u_res"] = 0.05 * xr.DataArray(rng.standard_normal((3, *ds.u.shape)),
                                           dims=("member", *ds.u.dims))
    members["v_res"] = -members["u_res"]
    wind = members[["uwind", "vwind"]]
    ens = members.drop_vars(["uwind", "vwind", "u", "v"])
    out = recompose_currents(ens, model, wind=wind)
    assert out["u"].dims == ("member", "time", "lat", "lon")
    for k in range(3):
        geo_k = dynamics.geostrophic_currents(ens.isel(member=k), ssh="ssh")
        u_k = geo_k["u_geo"].fillna(0) + model.predict(wind)["u_ek"] + ens.u_res.isel(member=k)
        np.testing.assert_allclose(out["u"].isel(member=k), u_k, rtol=1e-12, atol=1e-14)
    # and decomposing the recomposed ensemble gives its residual back
    again = decompose_currents(out.assign(**wind), model)
    np.testing.assert_allclose(again["u_res"], ens["u_res"], rtol=0, atol=1e-13)


@pytest.mark.parametrize("chunks", [{"time": 4}, {"time": 1, "member": 1}])
def test_decompose_and_recompose_are_lazy(decomposable, chunks):
    ds, model = decomposable
    ens = with_ssh(ds, members=2).chunk(dict(chunks.items()))
    with raise_if_dask_computes():
        parts = decompose_currents(ens, model)
        back = recompose_currents(parts.drop_vars(["u", "v"]), model)
    assert parts["u_res"].chunks is not None
    assert back["u"].chunks is not None
    np.testing.assert_allclose(back["u"], ens["u"].broadcast_like(back["u"]), atol=1e-13)


# -- bad input -------------------------------------------------------------------------

def test_wind_on_another_grid_is_regridded_or_refused():
    ds, _, _ = ekman_world(nt=40, amplitude=1.0, angle=-40.0, seed=8, noise=0.0)
    # a wind uniform in space (random in time) on a coarser, larger grid: bilinear
    # regridding is exact, so the fit must still recover the coefficients
    coarse = regular(lon=(-70, -55), lat=(30, 40), res_deg=2.0, time=ds.time)
    uniform = ds[["uwind", "vwind"]].isel(lat=0, lon=0, drop=True)
    wind = (uniform + 0 * coarse.lat * coarse.lon).transpose("time", "lat", "lon")
    tx, ty = wind_stress(uniform.uwind, uniform.vwind)
    w = np.exp(-1j * np.deg2rad(40)) * (tx + 1j * ty) + 0 * ds.u
    currents = ds.assign(u=np.real(w), v=np.imag(w))
    try:
        import xgenda.regrid  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="another grid"):
            fit_ekman(currents, wind)
        return
    c = fit_ekman(currents, wind).coefficients
    np.testing.assert_allclose(c["amplitude"], 1.0, rtol=1e-6)


def test_mismatched_times_name_both_ranges(world):
    ds = world[0]
    wind = ds[["uwind", "vwind"]].isel(time=slice(0, 100))
    with pytest.raises(ValueError, match=r"2020-01-01.*2020-07-18.*2020-04-09"):
        fit_ekman(ds, wind)


def test_too_few_samples_name_min_samples_and_the_count():
    ds, _, _ = ekman_world(nt=30, seed=9)
    ds["u"][5:, 3, 4] = np.nan  # 5 valid samples at one pixel
    with pytest.raises(ValueError, match=r"fewest 5.*min_samples=10"):
        fit_ekman(ds, ds, min_samples=10)
    c = fit_ekman(ds, ds, min_samples=10, on_insufficient="nan").coefficients
    assert np.isnan(c["amplitude"][3, 4])
    assert int(c["n_samples"][3, 4]) == 5
    assert c["amplitude"].count() == c["amplitude"].size - 1
    # per region, the count is the region's: 2 x 2 blocks of 30 days hold at most 120
    with pytest.raises(ValueError, match=r"region.*fewest 95.*min_samples=200"):
        fit_ekman(ds, ds, min_samples=200, region=2)


def test_missing_variables_are_named():
    ds, _, _ = ekman_world(nt=12, seed=10)
    with pytest.raises(ValueError, match=r"lacks variable\(s\) \['v'\]"):
        fit_ekman(ds.drop_vars("v"), ds)
    with pytest.raises(ValueError, match=r"uwind.*tau_x"):
        fit_ekman(ds, ds.drop_vars("vwind"))
    model = fit_ekman(ds, ds)
    with pytest.raises(ValueError, match="'ssh'"):
        decompose_currents(ds, model)
    with pytest.raises(ValueError, match="u_res"):
        recompose_currents(ds.assign(ssh=ds.u), model)
    with pytest.raises(ValueError, match="no winds"):
        decompose_currents(ds.assign(ssh=ds.u).drop_vars(["uwind", "vwind"]), model)


def test_model_from_another_grid_is_refused(model):
    ds, _, _ = ekman_world(nt=5, res=1.0, seed=11)
    with pytest.raises(ValueError, match="fitted on another grid"):
        decompose_currents(ds.assign(ssh=0 * ds.u), model)


# -- prior channels and winds as observations -------------------------------------------

def test_training_state_has_gendas_seven_channels_lazily(decomposable):
    ds, model = decomposable
    ds = ds.assign(sst=ds.ssh * 10 + 20, sss=ds.ssh + 35).chunk(time=4)
    with raise_if_dask_computes():
        state = xgenda.currents.training_state(ds, model)
    assert list(state.data_vars) == list(xgenda.currents.GENDA_STATE)
    assert xgenda.currents.is_decomposed_state(list(state.data_vars))
    expected = decompose_currents(ds, model)["u_res"]
    xr.testing.assert_allclose(state["u_res"].compute(), expected.compute())
    with pytest.raises(ValueError, match=r"\['sst', 'sss'\]"):
        xgenda.currents.training_state(ds.drop_vars(["sst", "sss"]), model)


def test_wind_observations_are_a_valid_grid_observation_set(world):
    from xgenda.obs import collect
    wind = world[0][["uwind", "vwind"]].isel(time=slice(0, 3))
    obs = xgenda.currents.wind_observations(wind, error=0.3)
    assert obs.attrs["genda_obs"] == "grid"
    (s,) = collect(obs, list(xgenda.currents.GENDA_STATE))
    assert s.kind == "grid"
    assert set(s.variables) == {"uwind", "vwind"}
    assert float(obs["uwind_error"]) == 0.3
    with pytest.raises(ValueError, match="positive"):
        xgenda.currents.wind_observations(wind, error=0.0)


@pytest.mark.slow
def test_assimilated_decomposed_state_conditions_on_winds_and_recomposes_currents():
    torch = pytest.importorskip("torch")
    from xgenda.config import MMPS, Heun
    from xgenda.diagnostics import dynamics
    from xgenda.normalize import Normalizer
    from xgenda.prior import Prior
    from xgenda.testing import GaussianDenoiser, gaussian_covariance
    ds, _, _ = ekman_world(nt=60, lon=(-60, -58), lat=(35, 37), res=0.25, seed=12)
    ds = with_ssh(ds)
    geo = dynamics.geostrophic_currents(ds)
    ds = ds.assign(u=ds.u + geo.u_geo, v=ds.v + geo.v_geo, sst=15 + 10 * ds.ssh,
                   sss=35 + ds.ssh)
    model = fit_ekman(ds, subtract_geostrophic=True)
    state = xgenda.currents.training_state(ds, model)
    # GenDA's seven channels, each an independent smooth Gaussian field: the exact
    # denoiser makes MMPS guidance exact, so the winds must match their observations
    cov = np.kron(np.eye(len(xgenda.currents.GENDA_STATE)), gaussian_covariance(8, 8, 2.5))
    prior = Prior.from_denoiser(GaussianDenoiser(cov), xgenda.currents.GENDA_STATE,
                                Normalizer.fit(state), 8, (0.25, 0.25),
                                lat=ds.lat.values, lon=ds.lon.values)
    winds = ds[["uwind", "vwind"]].isel(time=slice(0, 2))
    winds = (winds.isel(lat=0, lon=0, drop=True) + 0 * winds).transpose("time", "lat", "lon")
    obs = xgenda.currents.wind_observations(winds, error=0.1)
    # uniform winds vary far less than the prior's wind fields: the guard says so
    uniform = pytest.warns(DistributionShift, match="wind observations vary 0.0")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with uniform:
            ens = xgenda.assimilate(ds[["ssh"]].isel(time=slice(0, 2)), prior, [obs],
                                    members=3, sampler=Heun(steps=16),
                                    guidance=MMPS()).compute()
    finally:
        torch.set_num_threads(threads)
    assert float(np.abs(ens.uwind - winds.uwind).max()) < 0.5
    assert float(np.abs(ens.vwind - winds.vwind).max()) < 0.5
    total = ens.genda.recompose_currents(model)
    torch.set_num_threads(1)
    try:
        with pytest.warns(DistributionShift, match="wind observations vary 0.0"):
            auto = xgenda.assimilate(ds[["ssh"]].isel(time=slice(0, 2)), prior, [obs],
                                     members=3, sampler=Heun(steps=16), guidance=MMPS(),
                                     ekman_model=model)
        np.testing.assert_allclose(auto["u"].values, total["u"].values, rtol=1e-6)
    finally:
        torch.set_num_threads(threads)
    assert total["u"].dims == ("member", "time", "lat", "lon")
    assert total["u"].attrs["standard_name"] == "eastward_sea_water_velocity"
    for k in range(3):
        member = ens.isel(member=k)
        u_geo = dynamics.geostrophic_currents(member)["u_geo"].fillna(0)
        u_k = u_geo + model.predict(member)["u_ek"] + member["u_res"]
        np.testing.assert_allclose(total["u"].isel(member=k), u_k.transpose(*member.u_res.dims),
                                   rtol=1e-5, atol=1e-6)


# -- the toy ocean's wind-driven run ------------------------------------------------------

@pytest.mark.slow
def test_fit_recovers_the_toy_oceans_ekman_coefficient():
    from xgenda.datasets import toy_ocean

    ds = toy_ocean(days=60, size=16, seed=0, winds=True, spinup_days=10, threads=1)
    # The toy ocean adds u_ek + i v_ek = a exp(-i angle) (uwind + i vwind) (northern
    # hemisphere): linear in the wind itself, so regress on the wind. What remains of
    # the current after removing the geostrophic part computed with f(lat) on the
    # sphere (the toy is a beta-plane) is noise for the fit: pooled over the domain
    # the coefficient is recovered within 2 % and 1 degree, per pixel in the median
    # within 5 % and 3 degrees.
    amplitude, angle = ds.attrs["ekman_amplitude"], -ds.attrs["ekman_angle_deg"]
    domain = fit_ekman(ds, predictor="wind", subtract_geostrophic=True,
                       region="domain").coefficients
    assert abs(float(domain["amplitude"]) / amplitude - 1) < 0.02
    assert abs(float(domain["angle"]) - angle) < 1.0
    pixel = fit_ekman(ds, predictor="wind", subtract_geostrophic=True).coefficients
    assert abs(float(pixel["amplitude"].median()) / amplitude - 1) < AMP_RTOL
    assert abs(float(pixel["angle"].median()) - angle) < ANGLE_ATOL_DEG


def test_currents_are_reachable_from_the_package():
    assert xgenda.currents.fit_ekman is fit_ekman
