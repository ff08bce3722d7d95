"""Total currents with a prior of the decomposed state: the observation operator, the
Ekman model stored with the prior, and assimilation of total-current observations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xgenda
from xgenda.config import MMPS, Heun, NoGuidance
from xgenda.currents import fit_ekman
from xgenda.currents._inputs import geostrophic_part
from xgenda.diagnostics.dynamics import geostrophic_currents
from xgenda.grid import regular
from xgenda.guard import DistributionShift
from xgenda.normalize import Normalizer
from xgenda.obs.operators import ObservationOperator, TotalCurrent, derivative_matrix
from xgenda.obs.table import ObservationTable
from xgenda.prior import Prior
from xgenda.testing import GaussianDenoiser, gaussian_covariance

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

STATE = ("ssh", "u_res", "v_res")


def windy_world(nt: int = 40, seed: int = 0) -> tuple[xr.Dataset, xgenda.currents.EkmanModel]:
    """8 x 8 grid (0.25 deg, 35-37 N): smooth SSH, random winds, the current
    ``u_geo + A wind + noise``, and the Ekman model fitted on it."""
    rng = np.random.default_rng(seed)
    times = pd.date_range("2020-01-01", periods=nt, freq="D")
    ds = regular(lon=(-60.0, -58.0), lat=(35.0, 37.0), res_deg=0.25, time=times)
    shape = (nt, ds.sizes["lat"], ds.sizes["lon"])
    y, x = np.meshgrid(np.arange(shape[1]), np.arange(shape[2]), indexing="ij")
    phase = rng.uniform(0, 2 * np.pi, (nt, 1, 1))
    ssh = 0.1 * np.sin(0.6 * x + phase) * np.cos(0.5 * y - phase)
    ds["ssh"] = (("time", "lat", "lon"), ssh, {"units": "m"})
    # smooth winds (a Gaussian prior of length 2.5 pixels can represent them) that vary
    # enough over time for a per-pixel Ekman fit
    amp = 5 * rng.standard_normal((2, nt, 1, 1))
    turn = rng.uniform(0, 2 * np.pi, (2, nt, 1, 1))
    ds["uwind"] = (("time", "lat", "lon"), 3 + amp[0] * np.cos(0.3 * x + 0.2 * y + turn[0]),
                   {"units": "m s-1"})
    ds["vwind"] = (("time", "lat", "lon"), amp[1] * np.cos(0.25 * y - 0.3 * x + turn[1]),
                   {"units": "m s-1"})
    geo = geostrophic_currents(ds)
    ek = 0.02 * np.exp(-1j * np.deg2rad(45)) * (ds.uwind + 1j * ds.vwind)
    noise = 0.02 * rng.standard_normal((2, *shape))
    ds["u"] = (geo.u_geo.fillna(0) + np.real(ek) + noise[0]).assign_attrs(units="m s-1")
    ds["v"] = (geo.v_geo.fillna(0) + np.imag(ek) + noise[1]).assign_attrs(units="m s-1")
    model = fit_ekman(ds, predictor="wind", subtract_geostrophic=True)
    return ds, model


def gaussian_prior(state: xr.Dataset, model=None, variables=STATE) -> Prior:
    """Independent smooth Gaussian channels: MMPS guidance with it is exact."""
    cov = np.kron(np.eye(len(variables)), gaussian_covariance(8, 8, 2.5))
    prior = Prior.from_denoiser(GaussianDenoiser(cov), variables,
                                Normalizer.fit(state[list(variables)]), 8, (0.25, 0.25),
                                lat=state.lat.values, lon=state.lon.values)
    if model is not None:
        prior.ekman_model = model
    return prior


# -- the linear map of the state to its total current -------------------------------------

def test_derivative_matrix_is_centred_inside_and_one_sided_at_the_ends():
    d = derivative_matrix(5)
    f = np.array([0.0, 1.0, 4.0, 9.0, 16.0])
    np.testing.assert_allclose(d @ f, [1.0, 2.0, 4.0, 6.0, 7.0])
    with pytest.raises(ValueError, match="at least 2"):
        derivative_matrix(1)


def test_total_current_equals_geostrophic_part_plus_residual_with_land():
    """The operator's discretization is the one of decompose/recompose_currents."""
    rng = np.random.default_rng(1)
    lat = np.linspace(20.0, 30.0, 9)
    lon = np.linspace(-40.0, -28.0, 11)
    land = np.zeros((9, 11), bool)
    land[3:5, 4:7] = True
    land[:, 0] = True
    std = np.array([0.2, 0.3, 0.15])
    x = rng.standard_normal((2, 3, 9, 11))
    op = TotalCurrent(lat, lon, (0, 1, 2), std, land, dtype=torch.float64)
    got = op(torch.as_tensor(x)).numpy()

    phys = x * std[None, :, None, None]
    ds = xr.Dataset(
        {"ssh": (("member", "lat", "lon"), np.where(land, np.nan, phys[:, 0]), {"units": "m"})},
        coords={"lat": lat, "lon": lon})
    u_geo, v_geo = geostrophic_part(ds, "ssh", defined=ds["ssh"])
    ocean = ~land
    want_u = (u_geo.values + phys[:, 1]) / std[1]
    want_v = (v_geo.values + phys[:, 2]) / std[2]
    np.testing.assert_allclose(got[:, 0][:, ocean], want_u[:, ocean], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got[:, 1][:, ocean], want_v[:, ocean], rtol=1e-12, atol=1e-12)
    # no stencil reaches across land: the land values do not matter
    x2 = x.copy()
    x2[:, 0][:, land] = 1e3
    got2 = op(torch.as_tensor(x2)).numpy()
    np.testing.assert_allclose(got2[..., ocean], got[..., ocean], atol=1e-12)


def test_total_current_needs_ssh_and_residual_channels():
    with pytest.raises(ValueError, match="missing"):
        TotalCurrent.for_grid(np.arange(4.0) + 30, np.arange(4.0), ["ssh", "sst"], [1, 1])


def test_operator_rows_of_total_current_observe_geostrophic_plus_residual():
    rng = np.random.default_rng(2)
    lat, lon = np.linspace(30, 32, 6), np.linspace(-50, -48, 6)
    std = np.array([0.1, 0.2, 0.2])
    mean = rng.standard_normal((1, 3, 6, 6)) * std[None, :, None, None]
    pix = np.array([[7, 8, 13, 14], [20, 21, 26, 27]])
    weight = np.array([[0.25, 0.25, 0.25, 0.25], [0.1, 0.2, 0.3, 0.4]])
    table = ObservationTable(channel=np.array([1, 2]), blur=np.array([-1, -1]),
                             derived=np.array([0, 1]), index=pix, weight=weight,
                             value=np.array([0.3, -0.2]), error=np.array([0.05, 0.05]),
                             dt_days=np.zeros(2), source=np.zeros(2, np.int64), names=["hf"])
    currents = TotalCurrent(lat, lon, (0, 1, 2), std, dtype=torch.float64)
    op = ObservationOperator([table], [0], (6, 6), std, mean=mean, currents=currents,
                             dtype=torch.float64)
    x = torch.as_tensor(rng.standard_normal((1, 3, 6, 6)))
    total = currents(x)[0].reshape(2, -1).numpy()
    want = [(total[0, pix[0]] * weight[0]).sum(), (total[1, pix[1]] * weight[1]).sum()]
    np.testing.assert_allclose(op(x)[0].numpy(), want, rtol=1e-12)
    # observations in normalized units: physical value minus the mean state's total current
    mean_total = currents(torch.as_tensor(mean / std[None, :, None, None]))[0].reshape(2, -1)
    offset = [(mean_total[0, pix[0]].numpy() * weight[0]).sum(),
              (mean_total[1, pix[1]].numpy() * weight[1]).sum()]
    np.testing.assert_allclose(op.y[0].numpy(), np.array([0.3, -0.2]) / std[1:] - offset,
                               rtol=1e-12)
    with pytest.raises(ValueError, match="currents=TotalCurrent"):
        ObservationOperator([table], [0], (6, 6), std)


# -- the Ekman model travels with the prior ---------------------------------------------------

def _network_prior(variables):
    from xgenda.diffusion.unet import UNet, UNetConfig

    cfg = UNetConfig(in_channels=len(variables) + 1, out_channels=len(variables), resolution=8,
                     base_channels=4, channel_mult=(1, 2), num_blocks=1, attn_resolutions=(),
                     dropout=0.0)
    rng = np.random.default_rng(0)
    lat, lon = np.linspace(35, 37, 8), np.linspace(-60, -58, 8)
    ds = xr.Dataset({v: (("time", "lat", "lon"), rng.normal(size=(5, 8, 8)),
                         {"units": "m" if v == "ssh" else "m s-1"}) for v in variables},
                    # fitted over January, the analysis period of the tests
                    coords={"time": pd.date_range("2020", periods=5, freq="7D"), "lat": lat,
                            "lon": lon})
    config = {"variables": list(variables), "patch_size": 8, "res_deg": [0.25, 0.25],
              "spacing_km": [22.7, 27.8], "unet": cfg.to_dict()}
    return Prior(config, Normalizer.fit(ds), weights=UNet(cfg).state_dict())


def test_prior_saves_and_loads_its_ekman_model(tmp_path):
    pytest.importorskip("safetensors")
    _, model = windy_world(nt=30)
    prior = _network_prior(STATE)
    plain_id = prior.id
    prior.ekman_model = model
    assert prior.id != plain_id  # the model is part of what the prior is
    path = prior.save(tmp_path / "p")
    assert (path / "ekman.safetensors").exists()
    loaded = Prior.load(path)
    assert loaded.id == prior.id
    xr.testing.assert_identical(loaded.ekman_model.coefficients, model.coefficients)
    # tampering is caught by the checksum
    data = bytearray((path / "ekman.safetensors").read_bytes())
    data[-3] ^= 0xFF
    (path / "ekman.safetensors").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum mismatch"):
        Prior.load(path)
    # saving a prior without a model over it removes the stale file
    prior.ekman_model = None
    prior.save(path)
    assert not (path / "ekman.safetensors").exists()
    assert Prior.load(path).ekman_model is None


def test_only_decomposed_priors_take_an_ekman_model():
    _, model = windy_world(nt=30)
    prior = _network_prior(("ssh", "u", "v"))
    with pytest.raises(ValueError, match="decomposed state"):
        prior.ekman_model = model
    with pytest.raises(TypeError, match="EkmanModel"):
        _network_prior(STATE).ekman_model = "model.nc"


# -- assimilating total currents ---------------------------------------------------------------

def _drifters(ds: xr.Dataset, day: int, n: int, seed: int) -> xr.Dataset:
    """Total-current observations at random points of one day (the truth plus noise)."""
    rng = np.random.default_rng(seed)
    lat = rng.uniform(35.3, 36.7, n)
    lon = rng.uniform(-59.7, -58.3, n)
    truth = ds[["u", "v"]].isel(time=day).interp(lat=xr.DataArray(lat, dims="obs"),
                                                   lon=xr.DataArray(lon, dims="obs"))
    time = np.full(n, ds.time.values[day])
    out = xr.Dataset(
        {"u": ("obs", truth.u.values, {"units": "m s-1"}),
         "v": ("obs", truth.v.values, {"units": "m s-1"}),
         "u_error": 0.02, "v_error": 0.02},
        coords={"time": ("obs", time), "lat": ("obs", lat), "lon": ("obs", lon)},
        attrs={"genda_obs": "points", "name": "drifters"})
    out["u_error"].attrs["units"] = out["v_error"].attrs["units"] = "m s-1"
    return out


def test_total_current_observations_are_fitted_by_the_recomposed_ensemble():
    ds, model = windy_world()
    state = xgenda.currents.decompose_currents(ds, model)
    prior = gaussian_prior(state, model)
    day = 30
    obs = _drifters(ds, day, 6, seed=3)
    template = ds[["ssh"]].isel(time=[day])
    wind = ds[["uwind", "vwind"]]
    ens = xgenda.assimilate(template, prior, [obs], members=6, sampler=Heun(steps=24),
                            guidance=MMPS(),
                            wind=wind).compute()
    assert ens["u_res"].attrs["long_name"].startswith("eastward residual current")
    assert ens["u"].attrs["standard_name"] == "eastward_sea_water_velocity"
    at = {"lat": xr.DataArray(obs.lat.values, dims="obs"),
          "lon": xr.DataArray(obs.lon.values, dims="obs")}
    posterior = ens[["u", "v"]].isel(time=0).interp(**at)
    with pytest.warns(UserWarning, match="unconditional"):
        prior_ens = xgenda.assimilate(template, prior, None, members=6, sampler=Heun(steps=24),
                                      guidance=NoGuidance(), wind=wind).compute()
    free = prior_ens[["u", "v"]].isel(time=0).interp(**at)
    for v in ("u", "v"):
        misfit = np.abs(posterior[v].mean("member").values - obs[v].values)
        free_misfit = np.abs(free[v].mean("member").values - obs[v].values)
        # the total current, Ekman part included, matches the observations to a few
        # times their error, where the prior alone misses them by a lot more
        assert misfit.max() < 0.05, misfit
        assert misfit.mean() < 0.25 * free_misfit.mean(), (misfit.mean(), free_misfit.mean())


def test_total_current_observations_need_the_ekman_model_and_winds():
    ds, model = windy_world(nt=30)
    state = xgenda.currents.decompose_currents(ds, model)
    obs = _drifters(ds, 20, 4, seed=0)
    template = ds[["ssh"]].isel(time=[20])
    with pytest.raises(ValueError, match="Ekman model"):
        xgenda.assimilate(template, gaussian_prior(state), [obs], members=1, sampler=Heun(steps=2))
    prior = gaussian_prior(state, model)
    with pytest.raises(ValueError, match="need the 10 m winds"):
        xgenda.assimilate(template, prior, [obs], members=1, sampler=Heun(steps=2))
    with pytest.raises(ValueError, match="do not cover"):
        xgenda.assimilate(template, prior, [obs], members=1, sampler=Heun(steps=2),
                          wind=ds[["uwind", "vwind"]].isel(time=slice(0, 5)))
    product = ds[["u", "v"]].isel(time=[20]).assign(u_error=0.05, v_error=0.05)
    product["u_error"].attrs["units"] = product["v_error"].attrs["units"] = "m s-1"
    with pytest.raises(ValueError, match="smoothed observations"):
        xgenda.assimilate(template, prior, [xgenda.obs.smoothed(product, sigma_km=30)],
                          members=1, sampler=Heun(steps=2), wind=ds[["uwind", "vwind"]])


def test_wind_observations_provide_the_winds_and_the_prior_its_ekman_model():
    ds, model = windy_world(nt=30)
    state = xgenda.currents.decompose_currents(ds, model)
    variables = (*STATE, "uwind", "vwind")
    prior = gaussian_prior(state, model, variables)
    obs = _drifters(ds, 20, 6, seed=0)
    winds = xgenda.currents.wind_observations(ds[["uwind", "vwind"]].isel(time=[20]),
                                              error=0.1)
    template = ds[["ssh"]].isel(time=[20])
    # the winds of one day vary less than those of the 30 days the prior was fitted on
    calm = "uwind observations vary 0.03 times as much"
    # no wind=, no ekman_model=: the Ekman part of the drifters comes from the wind
    # observations, the model from the prior, the recomposition from each member's winds
    with pytest.warns(DistributionShift, match=calm):
        ens = xgenda.assimilate(template, prior, [obs, winds], members=4,
                                sampler=Heun(steps=24)).compute()
    with pytest.warns(DistributionShift, match=calm):
        explicit = xgenda.assimilate(template, prior, [obs, winds], members=4,
                                     sampler=Heun(steps=24), ekman_model=model).compute()
    np.testing.assert_array_equal(ens["u"].values, explicit["u"].values)
    recomposed = xgenda.currents.recompose_currents(ens[list(variables)], model)
    np.testing.assert_allclose(ens["u"].values, recomposed["u"].values, rtol=1e-6)
    at = {"lat": xr.DataArray(obs.lat.values, dims="obs"),
          "lon": xr.DataArray(obs.lon.values, dims="obs")}
    for v in ("u", "v"):
        fit = ens[v].isel(time=0).interp(**at).mean("member").values
        assert np.abs(fit - obs[v].values).max() < 0.05


def test_winds_given_as_conditioning_input_are_imposed_exactly():
    ds, model = windy_world(nt=30)
    state = xgenda.currents.decompose_currents(ds, model)
    variables = (*STATE, "uwind", "vwind")
    prior = gaussian_prior(state, model, variables)
    template = ds[["ssh"]].isel(time=[20, 21])
    wind = ds[["uwind", "vwind"]]
    given = xgenda.assimilate(template, prior, None, members=3, sampler=Heun(steps=16),
                              wind=wind).compute()
    with pytest.warns(UserWarning, match="unconditional"):
        free = xgenda.assimilate(template, prior, None, members=3, sampler=Heun(steps=16)).compute()
    # every member's winds are the given ones (float32 rounding of the normalization)
    for v in ("uwind", "vwind"):
        expected = wind[v].isel(time=[20, 21]).broadcast_like(given[v])
        np.testing.assert_allclose(given[v].values, expected.transpose(*given[v].dims).values,
                                   rtol=0, atol=1e-5 * float(np.abs(wind[v]).max()))
    # this prior's channels are independent: knowing the winds changes nothing else,
    # so the other channels are exactly the unconditioned members (same seeds)
    np.testing.assert_allclose(given["ssh"].values, free["ssh"].values, rtol=1e-6, atol=1e-7)
    # the total current is recomposed with the given winds
    u_ek = model.predict(wind.isel(time=[20, 21]))["u_ek"]
    np.testing.assert_allclose(given["u_ek"].isel(member=0).values,
                               u_ek.transpose(*given["u_ek"].isel(member=0).dims).values,
                               rtol=1e-5, atol=1e-7)


def test_conditioning_winds_must_cover_the_analysis_times():
    ds, model = windy_world(nt=30)
    state = xgenda.currents.decompose_currents(ds, model)
    prior = gaussian_prior(state, model, (*STATE, "uwind", "vwind"))
    with pytest.raises(ValueError, match="does not cover the times"):
        xgenda.assimilate(ds[["ssh"]].isel(time=[20]), prior, None, members=1,
                          sampler=Heun(steps=2),
                          wind=ds[["uwind", "vwind"]].isel(time=slice(0, 10)))


def test_command_line_conditions_on_a_wind_file(tmp_path, capsys):
    from xgenda.cli import main

    ds, _ = windy_world(nt=30)
    prior = _network_prior(("ssh", "u", "v", "uwind", "vwind"))
    prior.save(tmp_path / "prior")
    wind = ds[["uwind", "vwind"]].isel(time=slice(20, 23))
    wind.to_netcdf(tmp_path / "wind.nc")
    _drifters(ds, 20, 4, seed=0).to_netcdf(tmp_path / "drifters.nc")
    argv = ["assimilate", "--obs", str(tmp_path / "drifters.nc"), "--out",
            str(tmp_path / "ens.zarr"), "--prior", str(tmp_path / "prior"), "--start",
            "2020-01-21", "--days", "2", "--lon", "-60", "-58", "--lat", "35", "37",
            "--members", "2", "--steps", "4", "--no-progress"]
    assert main([*argv, "--wind", str(tmp_path / "wind.nc")]) == 0
    ens = xr.open_zarr(tmp_path / "ens.zarr")
    expected = wind["uwind"].isel(time=[0, 1]).values
    np.testing.assert_allclose(ens["uwind"].values, np.broadcast_to(expected, (2, *expected.shape)),
                               atol=1e-4)
    assert main([*argv, "--overwrite", "--wind", str(tmp_path / "missing.nc")]) == 1
    assert "no winds at" in capsys.readouterr().err


def test_ekman_part_is_removed_lazily_from_point_and_gridded_currents():
    from xgenda.currents.state import without_ekman
    from xgenda.obs import collect
    from xgenda.testing import raise_if_dask_computes

    ds, model = windy_world(nt=30)
    wind = ds[["uwind", "vwind"]].chunk({"time": 1})
    points = _drifters(ds, 20, 4, seed=0)
    points = points.assign(u=points.u.chunk(2), v=points.v.chunk(2))
    maps = ds[["u", "v"]].isel(time=[20]).assign(u_error=0.05, v_error=0.05).chunk({"time": 1})
    maps["u_error"].attrs["units"] = maps["v_error"].attrs["units"] = "m s-1"
    maps.attrs["genda_obs"] = "grid"
    sets = collect([points, maps], [*STATE, "u", "v"])
    with raise_if_dask_computes():
        out = without_ekman(sets, model, wind)
    assert all(s.data["u"].chunks is not None for s in out)
    # the removed part is the model's Ekman current at the observation (same day here)
    ek = model.predict(ds[["uwind", "vwind"]].isel(time=20))
    at_points = ek["u_ek"].interp(lat=points.lat, lon=points.lon)
    np.testing.assert_allclose((points.u - out[0].data.u).values, at_points.values,
                               atol=1e-12)
    np.testing.assert_allclose((maps.v - out[1].data.v).isel(time=0).values,
                               ek["v_ek"].fillna(0.0).values, atol=1e-12)
