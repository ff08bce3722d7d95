"""The toy-ocean nature run as a CF Dataset (xgenda.datasets.toy_ocean)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import xarray as xr

pytest.importorskip("torch")

import xgenda
from xgenda.datasets import ToyOceanParameters, toy_ocean
from xgenda.datasets.toy_ocean import ROUGH_HYPERVISCOUS_HOURS, SMOOTH_HYPERVISCOUS_HOURS
from xgenda.diagnostics.spectra import isotropic_spectrum
from xgenda.grid import EARTH_RADIUS_M, LAT_ATTRS, LON_ATTRS, metrics, regular
from xgenda.variables import VARIABLES

OCEAN = ("ssh", "sst", "sss", "u", "v")


@pytest.fixture(scope="module")
def eddying() -> xr.Dataset:
    """20 days of the default 64 x 64 run after the default 180-day spin-up (~5 s)."""
    return toy_ocean(days=20, size=64, seed=0)


@pytest.fixture(scope="module")
def rough() -> xr.Dataset:
    """60 days of the default (rough) 64 x 64 run after the 180-day spin-up (~8 s)."""
    return toy_ocean(days=60, size=64, seed=0)


@pytest.fixture(scope="module")
def smooth() -> xr.Dataset:
    """20 days of the smooth 64 x 64 run after the 180-day spin-up (~5 s)."""
    return toy_ocean(days=20, size=64, seed=0, parameters=ToyOceanParameters.smooth())


@pytest.fixture(scope="module")
def short() -> xr.Dataset:
    return toy_ocean(days=3, size=32, seed=1, spinup_days=20)


def periodic_ssh(ds: xr.Dataset) -> np.ndarray:
    """SSH minus its background slope, which is periodic like the model's streamfunction.

    The slope is recovered from the output alone: the box-mean zonal velocity is the
    background flow ``U1`` (eddy velocities of a periodic field average to zero).
    """
    f0, g = ds.attrs["f0"], ds.attrs["gravity"]
    _, dy = metrics(ds)
    y = np.cumsum(np.full(ds.sizes["lat"], float(dy.mean())))
    y -= y.mean()
    u_mean = ds["u"].mean(("lat", "lon")).values[:, None, None]
    return ds["ssh"].values.astype(float) + (f0 / g) * u_mean * y[None, :, None]


def spectral_derivative(field: np.ndarray, spacing: float, axis: int) -> np.ndarray:
    k = 2 * np.pi * np.fft.fftfreq(field.shape[axis], spacing)
    shape = [1] * field.ndim
    shape[axis] = -1
    return np.fft.ifft(1j * k.reshape(shape) * np.fft.fft(field, axis=axis), axis=axis).real


def beta_plane_dx(ds: xr.Dataset) -> float:
    dlon = np.deg2rad(float(ds.lon[1] - ds.lon[0]))
    return EARTH_RADIUS_M * np.cos(np.deg2rad(ds.attrs["lat0"])) * dlon


def ssh_slope_over_grid_spacings(ds: xr.Dataset, shortest: int = 4, longest: int = 16) -> float:
    """Log-log slope of the isotropic SSH spectrum between two wavelengths in grid spacings."""
    spacing_km = beta_plane_dx(ds) / 1e3
    spectrum = isotropic_spectrum(ds["ssh"])
    wavelength = spectrum.wavelength.values
    band = ((wavelength >= shortest * spacing_km * (1 - 1e-9))
            & (wavelength <= longest * spacing_km * (1 + 1e-9)))
    assert band.sum() >= 4  # 5 bins at 64 x 64
    k, e = spectrum.freq_r.values[band], spectrum.values[band]
    return float(np.polyfit(np.log(k), np.log(e), 1)[0])


# -- amplitudes and physics of the output -----------------------------------------------------
@pytest.mark.slow
def test_ssh_and_current_amplitudes_are_gulf_stream_like(eddying):
    # measured (64 x 64, seed 0): SSH std 0.35-0.38 m, max speed 1.3-2.0 m/s
    ssh_std = eddying["ssh"].std(("lat", "lon"))
    speed = np.hypot(eddying["u"], eddying["v"]).max(("lat", "lon"))
    assert float(ssh_std.min()) > 0.2
    assert float(ssh_std.max()) < 0.5
    assert 1.0 < float(speed.mean()) < 2.0


@pytest.mark.slow
@pytest.mark.parametrize("run", ["eddying", "rough"])
def test_currents_are_in_geostrophic_balance_with_ssh_using_f0(run, request):
    eddying = request.getfixturevalue(run)
    f0, g = eddying.attrs["f0"], eddying.attrs["gravity"]
    _, dy = metrics(eddying)
    ssh = periodic_ssh(eddying)
    u_mean = eddying["u"].mean(("lat", "lon")).values[:, None, None]
    u_geo = u_mean - g / f0 * spectral_derivative(ssh, float(dy.mean()), axis=1)
    v_geo = g / f0 * spectral_derivative(ssh, beta_plane_dx(eddying), axis=2)
    speed = float(np.hypot(eddying["u"], eddying["v"]).max())
    # measured: max error 1e-6 m/s, the float32 rounding of the output
    np.testing.assert_allclose(u_geo, eddying["u"].values, atol=1e-4 * speed)
    np.testing.assert_allclose(v_geo, eddying["v"].values, atol=1e-4 * speed)


@pytest.mark.slow
def test_background_flow_matches_the_recorded_upper_layer_velocity(eddying):
    u_mean = eddying["u"].mean(("lat", "lon"))
    np.testing.assert_allclose(u_mean, eddying.attrs["U1"], atol=1e-5)
    np.testing.assert_allclose(eddying["v"].mean(("lat", "lon")), 0.0, atol=1e-5)


@pytest.mark.slow
def test_ssh_wavenumber_spectrum_slope_is_quasi_geostrophic(eddying):
    _, dy_da = metrics(eddying)
    dx, dy = beta_plane_dx(eddying), float(dy_da.mean())
    ssh = periodic_ssh(eddying)
    n = ssh.shape[-1]
    power = (np.abs(np.fft.fft2(ssh)) ** 2).mean(axis=0)
    kx, ky = np.fft.fftfreq(n, dx), np.fft.fftfreq(n, dy)
    kmag = np.hypot(kx[None, :], ky[:, None])
    dk = 1.0 / (n * dy)
    ring = np.rint(kmag / dk).astype(int)
    spectrum = np.bincount(ring.ravel(), power.ravel())[1 : n // 2]
    k = np.arange(1, n // 2) * dk
    mesoscale = (1 / k >= 100e3) & (1 / k <= 300e3)
    slope = np.polyfit(np.log(k[mesoscale]), np.log(spectrum[mesoscale]), 1)[0]
    # QG turbulence: k^-3 kinetic energy, so k^-5 for SSH in the enstrophy cascade (steeper
    # near the dissipation range); altimetry shows k^-4 to k^-5. Measured: -5.5 (64 x 64).
    assert -6.0 < slope < -4.0


# -- the default (rough) and the smooth ocean ----------------------------------------------------
def test_default_parameters_are_those_of_the_demo_prior_ocean():
    # the bundled demo priors, the benchmarks and the demo were trained and run on this ocean
    default = ToyOceanParameters()
    assert default.hyperviscous_hours == ROUGH_HYPERVISCOUS_HOURS == 1000.0
    assert default == ToyOceanParameters.rough()
    assert default.drag_days == 20.0
    assert (default.deformation_radius_km, default.mean_flow, default.shear,
            default.layer_depth_ratio) == (25.0, 0.1, 0.12, 0.25)
    ds = toy_ocean(days=1, size=16, seed=0, spinup_days=1)
    assert ds.attrs["hyperviscous_time_s"] == 1000.0 * 3600.0
    assert ds.attrs["bottom_drag_s-1"] == pytest.approx(1 / (20 * 86400.0), rel=1e-15)


def test_smooth_parameters_change_only_the_hyperviscous_time():
    smooth = ToyOceanParameters.smooth()
    assert smooth == replace(ToyOceanParameters(), hyperviscous_hours=SMOOTH_HYPERVISCOUS_HOURS)
    assert smooth.hyperviscous_hours == 1.0
    ds = toy_ocean(days=1, size=16, seed=0, spinup_days=1, parameters=smooth)
    assert ds.attrs["hyperviscous_time_s"] == 3600.0
    assert ToyOceanParameters.smooth(shear=0.1) == replace(smooth, shear=0.1)
    with pytest.raises(TypeError, match=r"smooth\(\) got unexpected keyword"):
        ToyOceanParameters.smooth(hyperviscous=2.0)


def test_rough_parameters_take_overrides_and_are_validated():
    assert ToyOceanParameters.rough(shear=0.1) == replace(ToyOceanParameters.rough(), shear=0.1)
    assert ToyOceanParameters.rough(hyperviscous_hours=500.0).hyperviscous_hours == 500.0
    with pytest.raises(ValueError, match="drag_days must be a positive"):
        ToyOceanParameters.rough(drag_days=0.0)
    with pytest.raises(TypeError, match="fields of ToyOceanParameters"):
        ToyOceanParameters.rough(viscosity=1.0)


@pytest.mark.slow
def test_smooth_ssh_spectrum_is_steep_over_4_to_16_grid_spacings(smooth):
    # the strong grid-scale damping of the smooth ocean steepens the small mesoscale well
    # past altimetry's k^-4 to k^-5; measured -7.8 (20 days), -7.4 and -7.7 (120 days,
    # seeds 0, 1)
    assert ssh_slope_over_grid_spacings(smooth) < -6.5


@pytest.mark.slow
def test_rough_ssh_spectrum_is_altimetry_like_over_4_to_16_grid_spacings(rough):
    # measured -4.6 (60 days), -4.64 and -4.68 (120 days, seeds 0, 1)
    assert -5.5 < ssh_slope_over_grid_spacings(rough) < -3.5


@pytest.mark.slow
def test_rough_ocean_is_stable_and_gulf_stream_like(rough, smooth):
    # measured: SSH std 0.38 m, daily max speed 1.57 m/s (at most 1.86), shortest step 1122 s
    # (smooth ocean: 1290 s)
    assert np.isfinite(rough["ssh"].values).all()
    ssh_std = rough["ssh"].std(("lat", "lon"))
    speed = np.hypot(rough["u"], rough["v"]).max(("lat", "lon"))
    assert float(ssh_std.min()) > 0.2
    assert float(ssh_std.max()) < 0.5
    assert 1.0 < float(speed.mean()) < 2.0
    # the CFL-adapted step stays close to the smooth ocean's: no grid-scale noise
    # accelerating the flow and forcing ever shorter steps
    assert rough.attrs["time_step_s_min"] > 0.5 * smooth.attrs["time_step_s_min"]
    # the rough ocean keeps the smooth ocean's large scales: the same SST gradient
    zonal = rough["sst"].mean(("time", "lon"))
    assert 8.0 < float(zonal[0] - zonal[-1]) < 12.0


@pytest.mark.slow
def test_sst_has_a_ten_kelvin_warm_south_gradient_and_stirred_anomalies(eddying):
    zonal = eddying["sst"].mean(("time", "lon"))
    assert 8.0 < float(zonal[0] - zonal[-1]) < 12.0  # measured 9.8 K
    anomaly = eddying["sst"] - zonal
    assert float(anomaly.std()) > 0.5  # fronts and filaments, not a smooth gradient


@pytest.mark.slow
def test_sss_partly_compensates_sst(eddying):
    # warm water is salty (density-compensating), but SSS has its own background direction
    # and restoring so the two are not copies of each other; measured correlation 0.81
    r = np.corrcoef(eddying["sst"].values.ravel(), eddying["sss"].values.ravel())[0, 1]
    assert 0.4 < r < 0.95
    zonal = eddying["sss"].mean(("time", "lon"))
    assert float(zonal[0] - zonal[-1]) > 0  # saltier to the south


# -- winds and Ekman currents ----------------------------------------------------------------------
def test_winds_add_an_ekman_current_with_the_recorded_complex_coefficient(short):
    windy = toy_ocean(days=3, size=32, seed=1, spinup_days=20, winds=True)
    xr.testing.assert_identical(windy["ssh"], short["ssh"])  # winds do not force the ocean
    ekman = (windy["u"] - short["u"]) + 1j * (windy["v"] - short["v"])
    wind = windy["uwind"] + 1j * windy["vwind"]
    coef = complex((np.conj(wind) * ekman).sum() / (np.abs(wind) ** 2).sum())
    assert abs(coef) == pytest.approx(windy.attrs["ekman_amplitude"], rel=1e-4)
    # clockwise (to the right of the wind) in the northern hemisphere
    assert -np.degrees(np.angle(coef)) == pytest.approx(windy.attrs["ekman_angle_deg"], abs=0.01)


def test_winds_are_smooth_and_slowly_varying():
    ds = toy_ocean(days=3, size=32, seed=0, spinup_days=1, winds=True)
    speed = np.hypot(ds["uwind"], ds["vwind"])
    assert float(speed.max()) < 25.0
    # large scales: neighbouring points differ far less than the field varies
    step = np.abs(ds["uwind"].diff("lon")).max()
    assert float(step) < 0.1 * float(ds["uwind"].max() - ds["uwind"].min() + 1.0)
    lag1 = np.corrcoef(ds["uwind"][0].values.ravel(), ds["uwind"][1].values.ravel())[0, 1]
    assert lag1 > 0.5


# -- reproducibility ---------------------------------------------------------------------------------
def test_same_seed_gives_identical_runs(short):
    again = toy_ocean(days=3, size=32, seed=1, spinup_days=20)
    xr.testing.assert_identical(again, short)


def test_different_seeds_give_independent_runs(short):
    other = toy_ocean(days=3, size=32, seed=2, spinup_days=20)
    a = short["ssh"] - short["ssh"].mean("lon")  # removes the common background slope
    b = other["ssh"] - other["ssh"].mean("lon")
    assert float(a.std()) > 0.01
    assert abs(np.corrcoef(a.values.ravel(), b.values.ravel())[0, 1]) < 0.3


# -- CF output --------------------------------------------------------------------------------------
def test_output_is_a_cf_dataset_with_canonical_variables(short):
    assert set(short.data_vars) == set(OCEAN)
    for name in OCEAN:
        da = short[name]
        assert da.dims == ("time", "lat", "lon")
        assert da.dtype == np.float32
        assert bool(np.isfinite(da).all())
        for key, value in VARIABLES[name].attrs.items():
            assert da.attrs[key] == value
    for name, attrs in (("lat", LAT_ATTRS), ("lon", LON_ATTRS)):
        assert short[name].attrs == attrs
    assert short["time"].attrs["standard_name"] == "time"
    assert short.attrs["Conventions"] == "CF-1.8"
    assert short.attrs["xgenda_version"] == xgenda.__version__
    assert (short.attrs["seed"], short.attrs["spinup_days"]) == (1, 20)
    for key in ("f0", "beta", "deformation_radius_m", "U1", "U2", "bottom_drag_s-1"):
        assert np.isfinite(short.attrs[key])


def test_time_axis_is_daily_from_start():
    ds = toy_ocean(days=4, size=16, seed=0, spinup_days=0, start="2020-02-27")
    expected = pd.date_range("2020-02-27", periods=4, freq="D")
    np.testing.assert_array_equal(ds["time"].values, expected.values)


@pytest.mark.parametrize("size", [64, 128])
def test_grid_matches_xgenda_regular_grid_of_the_box(size):
    ds = toy_ocean(days=1, size=size, seed=0, spinup_days=0, lon=(-70, -60), lat=(30, 40))
    grid = regular(lon=(-70, -60), lat=(30, 40), res_deg=10 / size)
    np.testing.assert_allclose(ds["lat"], grid["lat"])
    np.testing.assert_allclose(ds["lon"], grid["lon"])
    assert ds.attrs["lat0"] == 35.0
    if size == 128:
        assert abs(float(ds["lat"].diff("lat")[0]) - 1 / 12) < 0.01  # ~1/12 deg


def test_netcdf_round_trip_keeps_values_and_attributes(short, tmp_path):
    pytest.importorskip("netCDF4")
    path = tmp_path / "truth.nc"
    short.to_netcdf(path)
    with xr.open_dataset(path) as back:
        xr.testing.assert_identical(back.load(), short)


def test_float32_model_precision_runs_and_is_recorded():
    ds = toy_ocean(days=2, size=16, seed=0, spinup_days=2, dtype="float32")
    assert ds.attrs["dtype"] == "float32"
    assert bool(np.isfinite(ds["ssh"]).all())


@pytest.mark.gpu
def test_gpu_run_matches_cpu_run_over_a_few_days():
    cpu = toy_ocean(days=2, size=32, seed=0, spinup_days=3, device="cpu")
    gpu = toy_ocean(days=2, size=32, seed=0, spinup_days=3, device="cuda")
    assert gpu.attrs["device"].startswith("cuda")
    np.testing.assert_allclose(gpu["ssh"], cpu["ssh"], atol=1e-3)


# -- progress, threads, time step ------------------------------------------------------------------
def test_progress_bar_is_silent_when_stderr_is_not_a_terminal(capsys):
    toy_ocean(days=1, size=16, seed=0, spinup_days=1)
    assert capsys.readouterr().err == ""


def test_progress_bar_can_be_forced(capsys):
    toy_ocean(days=1, size=16, seed=0, spinup_days=1, progress=True)
    assert "toy_ocean" in capsys.readouterr().err


def test_torch_thread_count_is_restored():
    import torch

    before = torch.get_num_threads()
    toy_ocean(days=1, size=16, seed=0, spinup_days=1, threads=1)
    assert torch.get_num_threads() == before


def test_fixed_time_step_gives_the_same_ocean_as_the_adaptive_one_to_truncation_error():
    fixed = toy_ocean(days=1, size=32, seed=0, spinup_days=5, dt=1800)
    auto = toy_ocean(days=1, size=32, seed=0, spinup_days=5)
    assert fixed.attrs["time_step_s_min"] == fixed.attrs["time_step_s_max"] == 1800.0
    err = float(np.abs(fixed["ssh"] - auto["ssh"]).max())
    assert 0 < err < 1e-3 * float(np.abs(auto["ssh"]).max())


def test_too_large_fixed_time_step_is_reported_as_instability():
    with pytest.raises(RuntimeError, match="smaller dt"):
        toy_ocean(days=1, size=32, seed=0, spinup_days=3, dt=86400)


def test_importing_datasets_does_not_import_torch():
    code = "import sys, xgenda.datasets; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# -- bad input --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"size": 63}, ValueError, "even integer from 16 to 1024"),
        ({"size": 8}, ValueError, "even integer from 16 to 1024"),
        ({"size": 2048}, ValueError, "even integer from 16 to 1024"),
        ({"size": 64.0}, TypeError, "size must be"),
        ({"days": 0}, ValueError, "days must be >= 1"),
        ({"days": -5}, ValueError, "days must be >= 1"),
        ({"days": 2.5}, TypeError, "days must be an integer"),
        ({"spinup_days": -1}, ValueError, "spinup_days must be >= 0"),
        ({"seed": -1}, ValueError, "seed must be >= 0"),
        ({"dt": 7000}, ValueError, "does not divide one day"),
        ({"dt": -60.0}, ValueError, "dt must be a positive"),
        ({"device": "tpu"}, ValueError, "unknown device"),
        ({"dtype": "float16"}, ValueError, "float32 or float64"),
        ({"start": "not a date"}, ValueError, "start must be a date"),
        ({"lon": (-55, -65)}, ValueError, "lon=.* is empty"),
        ({"lat": (-3, 4)}, ValueError, "poleward of 5N"),
        ({"shear": 0.0}, ValueError, "shear must be a positive"),
        ({"tracer_diffusivity": -1.0}, ValueError, "tracer_diffusivity must be >= 0"),
        ({"viscosity": 1.0}, TypeError, "fields of ToyOceanParameters"),
        ({"threads": 0}, ValueError, "threads must be >= 1"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_error(kwargs, error, match):
    args = {"days": 1, "size": 16, "seed": 0, "spinup_days": 0, **kwargs}
    with pytest.raises(error, match=match):
        toy_ocean(**args)


def test_parameters_object_and_keywords_give_the_same_run():
    from xgenda.datasets import ToyOceanParameters

    by_object = toy_ocean(days=1, size=16, seed=0, spinup_days=1,
                          parameters=ToyOceanParameters(shear=0.1, sst_mean=18.0))
    by_keywords = toy_ocean(days=1, size=16, seed=0, spinup_days=1, shear=0.1, sst_mean=18.0)
    xr.testing.assert_identical(by_object, by_keywords)
    assert by_object.attrs["U2"] == pytest.approx(0.1 - 0.1)
    assert by_object.attrs["sst_mean"] == 18.0
    with pytest.raises(ValueError, match="drag_days must be a positive"):
        ToyOceanParameters(drag_days=float("inf"))


def test_cuda_request_without_cuda_is_rejected():
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ValueError, match="CUDA is not available"):
        toy_ocean(days=1, size=16, device="cuda")
