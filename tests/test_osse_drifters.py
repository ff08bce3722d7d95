"""Drifters: RK4 trajectories against analytic solutions, reports, redeployment."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from xgenda.grid import EARTH_RADIUS_M
from xgenda.osse import observe
from xgenda.osse._sampling import GriddedTruth
from xgenda.osse.drifters import drifter_observations, trajectories
from xgenda.testing import ocean_dataset

DRIFTERS_ONLY = {"nadirs": 0, "sst_cloud_cover": None, "l4_sigma_km": {},
                 "withheld_nadir": None}


def _flow(u: np.ndarray | float, v: np.ndarray | float, nt: int = 6) -> xr.Dataset:
    """Spatially uniform currents (m s-1) on the Gulf Stream box; u, v may vary with time."""
    ds = ocean_dataset(nt, 40, 40, land=False, variables=("u", "v"))
    shape = (nt, 1, 1)
    return ds.assign(
        u=(("time", "lat", "lon"), np.broadcast_to(np.reshape(u, (-1, 1, 1)) * np.ones(shape),
                                                   (nt, 40, 40)).copy(), ds["u"].attrs),
        v=(("time", "lat", "lon"), np.broadcast_to(np.reshape(v, (-1, 1, 1)) * np.ones(shape),
                                                   (nt, 40, 40)).copy(), ds["v"].attrs),
    )


def test_uniform_flow_gives_the_analytic_loxodrome() -> None:
    u, v = 0.2, 0.1
    lat0, lon0 = np.array([35.0, 37.0]), np.array([-63.0, -62.0])
    out = trajectories(_flow(u, v), lat0, lon0, hours=72)
    t = (out.time.values - out.time.values[0]) / np.timedelta64(1, "s")
    phi0 = np.deg2rad(lat0)[None]
    phi = phi0 + v * t[:, None] / EARTH_RADIUS_M
    # dlon/dphi = u / (v cos phi)  =>  lon - lon0 = u/v [ln(sec + tan)] from phi0 to phi.
    gd = np.log(1 / np.cos(phi) + np.tan(phi)) - np.log(1 / np.cos(phi0) + np.tan(phi0))
    np.testing.assert_allclose(out.lat.values, np.rad2deg(phi), atol=1e-9)
    np.testing.assert_allclose(out.lon.values, lon0 + np.rad2deg(u / v * gd), atol=1e-9)


def test_flow_changing_linearly_in_time_is_integrated_exactly() -> None:
    days = np.arange(6)
    a, b = 0.1, 0.05  # u = a + b t (t in days), v = 0
    out = trajectories(_flow(a + b * days, 0.0), np.array([38.0]), np.array([-64.0]), hours=96)
    t = (out.time.values - out.time.values[0]) / np.timedelta64(1, "s")
    b_s = b / 86400.0
    dist = a * t + b_s * t**2 / 2
    expected = -64.0 + np.rad2deg(dist / (EARTH_RADIUS_M * np.cos(np.deg2rad(38.0))))
    np.testing.assert_allclose(out.lat.values[:, 0], 38.0, atol=1e-12)
    np.testing.assert_allclose(out.lon.values[:, 0], expected, atol=1e-9)


def test_solid_body_rotation_keeps_particles_on_their_circle() -> None:
    # u = -w y, v = w x in a local tangent plane around the box centre (small domain: the
    # metric terms are close to constant), a period of one day.
    ds = ocean_dataset(4, 80, 80, land=False, variables=("u", "v"), lat=(37, 39),
                       lon=(-61, -59))
    lat_c, lon_c = 38.0, -60.0
    omega = 2 * np.pi / 86400.0
    y = np.deg2rad(ds.lat - lat_c) * EARTH_RADIUS_M
    x = np.deg2rad(ds.lon - lon_c) * EARTH_RADIUS_M * np.cos(np.deg2rad(ds.lat))
    u = (-omega * y * xr.ones_like(x)).transpose("lat", "lon")
    v = (omega * x * xr.ones_like(y)).transpose("lat", "lon")
    ds = ds.assign(u=u.expand_dims(time=ds.time), v=v.expand_dims(time=ds.time))
    out = trajectories(ds, np.array([38.3]), np.array([-60.0]), hours=24, dt_s=600.0)
    ry = np.deg2rad(out.lat - lat_c) * EARTH_RADIUS_M
    rx = np.deg2rad(out.lon - lon_c) * EARTH_RADIUS_M * np.cos(np.deg2rad(out.lat))
    radius = np.hypot(rx, ry)
    assert float(radius.std() / radius.mean()) < 0.01
    # After one period the particle is back where it started (within a few km).
    assert abs(float(ry[-1, 0] - ry[0, 0])) < 3000.0
    assert abs(float(rx[-1, 0] - rx[0, 0])) < 3000.0


def test_drifters_leaving_the_domain_stop() -> None:
    flow = _flow(1.0, 0.0)
    out = trajectories(flow, np.array([38.0]), np.array([-56.0]), hours=120)
    lon = out.lon.values[:, 0]
    gone = np.isnan(lon)
    assert gone.any()
    assert not gone[0]
    first = np.argmax(gone)
    assert gone[first:].all()
    assert np.nanmax(lon) <= float(flow.lon.max())


def test_reported_velocities_are_truth_plus_noise() -> None:
    u, v = 0.3, -0.2
    field = GriddedTruth(_flow(u, v), ("u", "v"))
    obs = drifter_observations(field, np.random.default_rng(0), n=10, velocity_noise=0.05)
    assert obs.sizes["obs"] > 500
    assert float(obs.u.mean()) == pytest.approx(u, abs=0.01)
    assert float((obs.v - v).std()) == pytest.approx(0.05, rel=0.1)
    assert (obs.u_error == 0.05).all()


def test_drifters_report_hourly() -> None:
    obs = observe(ocean_dataset(3, 32, 32, land=False), drifters=4,
                  **DRIFTERS_ONLY)["withheld/drifters"].to_dataset()
    for _, one in obs.groupby("drifter_id"):
        dt = np.diff(one.time.values) / np.timedelta64(1, "h")
        np.testing.assert_array_equal(dt, 1.0)


def test_stopped_drifters_are_replaced_to_keep_the_number_active() -> None:
    field = GriddedTruth(_flow(1.5, 0.0), ("u", "v"))
    obs = drifter_observations(field, np.random.default_rng(0), n=5)
    per_time = obs.groupby("time").count()["u"].values
    np.testing.assert_array_equal(per_time, 5)
    assert np.unique(obs.drifter_id).size > 5


def test_drifters_are_withheld_for_evaluation() -> None:
    obs = observe(ocean_dataset(3, 32, 32, land=True), drifters=3, **DRIFTERS_ONLY)
    assert "drifters" not in obs.children
    assert obs["withheld/drifters"].attrs["genda_obs"] == "points"


def test_negative_number_of_drifters_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="drifters must be a number of drifters >= 0"):
        observe(ocean_dataset(3, 16, 16), drifters=-1)
