"""Observation operators against direct computation; compilation rules; input checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xgenda
from xgenda.obs import AnalysisGrid, collect, compile_tables, route
from xgenda.testing import point_observations

torch = pytest.importorskip("torch")

from xgenda.obs.operators import GaussianBlur, ObservationOperator, adjoint  # noqa: E402
from xgenda.obs.table import ObservationTable  # noqa: E402

TIMES = pd.date_range("2020-01-01", periods=3, freq="D")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _grid(ny: int = 8, nx: int = 10, land: np.ndarray | None = None,
          variables=("ssh", "sst")) -> AnalysisGrid:
    g = xgenda.grid.regular(lon=(-60, -60 + 0.25 * nx), lat=(35, 35 + 0.25 * ny), res_deg=0.25)
    return AnalysisGrid.from_coords(g.lat.values, g.lon.values, variables, land)


def _points(lat, lon, values, *, var="ssh", error=0.1, time=None, units="m") -> xr.Dataset:
    n = len(lat)
    time = np.full(n, TIMES[0].to_datetime64()) if time is None else np.asarray(time)
    return xr.Dataset(
        {var: ("obs", np.asarray(values, float), {"units": units}),
         f"{var}_error": ("obs", np.full(n, error), {"units": units})},
        coords={"time": ("obs", time), "lat": ("obs", np.asarray(lat, float)),
                "lon": ("obs", np.asarray(lon, float))},
        attrs={"genda_obs": "points"},
    )


def _operator(tables, grid, batch=1, mean=None, std=None, dtype=torch.float64, **kw):
    std = [1.0] * len(grid.variables) if std is None else std
    return ObservationOperator(tables, [0] * batch, grid.shape, std, mean=mean,
                               mask=~grid.land, dtype=dtype, **kw)


def _compile(obs, grid, times=TIMES[:1], window=0.5):
    sets = collect(obs, grid.variables)
    return compile_tables(sets, grid, times, window)


def _field(grid, fn):
    lat2, lon2 = np.meshgrid(grid.lat, grid.lon, indexing="ij")
    return fn(lat2, lon2)


# -- bilinear points ------------------------------------------------------------------------
def test_bilinear_at_grid_nodes_returns_node_values():
    grid = _grid()
    rng = np.random.default_rng(0)
    i, j = rng.integers(0, 8, 15), rng.integers(0, 10, 15)
    state = rng.standard_normal((1, 2, 8, 10))
    obs = _points(grid.lat[i], grid.lon[j], np.zeros(15))
    op = _operator(_compile(obs, grid), grid)
    np.testing.assert_allclose(op(torch.as_tensor(state)).numpy()[0], state[0, 0, i, j],
                               rtol=0, atol=1e-12)


def test_bilinear_reproduces_a_linear_field_anywhere():
    grid = _grid()
    rng = np.random.default_rng(1)
    lat = rng.uniform(grid.lat[0], grid.lat[-1], 40)
    lon = rng.uniform(grid.lon[0], grid.lon[-1], 40)
    field = _field(grid, lambda la, lo: 3.0 * la - 2.0 * lo + 1.0)
    state = torch.as_tensor(np.stack([field, 0 * field])[None])
    op = _operator(_compile(_points(lat, lon, np.zeros(40)), grid), grid)
    np.testing.assert_allclose(op(state).numpy()[0], 3.0 * lat - 2.0 * lon + 1.0, atol=1e-10)


def test_points_observe_the_right_channel():
    grid = _grid()
    obs = _points(grid.lat[[2]], grid.lon[[3]], [0.0], var="sst", units="degC")
    state = np.zeros((1, 2, 8, 10))
    state[0, 1, 2, 3] = 7.0
    op = _operator(_compile(obs, grid), grid)
    assert op(torch.as_tensor(state)).item() == pytest.approx(7.0)


# -- Gaussian blur --------------------------------------------------------------------------
@pytest.mark.parametrize("padding", ["mask", "reflect"])
def test_blur_of_a_constant_is_the_constant(padding):
    land = np.zeros((12, 14), bool)
    land[:3, :4] = True
    blur = GaussianBlur((1.7, 2.3), (12, 14), torch.as_tensor(~land, dtype=torch.float64),
                        padding=padding, dtype=torch.float64)
    out = blur(torch.full((2, 12, 14), 4.25, dtype=torch.float64))
    np.testing.assert_allclose(out.numpy()[:, ~land], 4.25, rtol=1e-12)


def test_mask_aware_blur_matches_a_direct_normalized_convolution():
    ny, nx, sy, sx = 9, 11, 1.3, 2.1
    land = np.zeros((ny, nx), bool)
    land[6:, :3] = True
    x = np.random.default_rng(2).standard_normal((ny, nx))
    # direct: weighted mean over ocean pixels within the truncated kernel
    ry, rx = int(np.ceil(4 * sy)), int(np.ceil(4 * sx))
    expected = np.zeros_like(x)
    for i in range(ny):
        for j in range(nx):
            num = den = 0.0
            for k in range(max(0, i - ry), min(ny, i + ry + 1)):
                for m in range(max(0, j - rx), min(nx, j + rx + 1)):
                    if land[k, m]:
                        continue
                    w = np.exp(-0.5 * ((k - i) / sy) ** 2 - 0.5 * ((m - j) / sx) ** 2)
                    num += w * x[k, m]
                    den += w
            expected[i, j] = num / den
    blur = GaussianBlur((sy, sx), (ny, nx), torch.as_tensor(~land, dtype=torch.float64),
                        dtype=torch.float64)
    out = blur(torch.as_tensor(x[None])).numpy()[0]
    np.testing.assert_allclose(out[~land], expected[~land], rtol=1e-10)


def test_land_does_not_leak_into_the_blur():
    land = np.zeros((10, 10), bool)
    land[:, :5] = True
    x = np.where(land, 1e6, 1.0)
    blur = GaussianBlur((2.0, 2.0), (10, 10), torch.as_tensor(~land, dtype=torch.float64),
                        dtype=torch.float64)
    out = blur(torch.as_tensor(x[None])).numpy()[0]
    np.testing.assert_allclose(out[~land], 1.0)


def test_smoothed_product_compares_the_blurred_state_in_km():
    grid = _grid(12, 12, variables=("ssh",))
    sigma_km = 30.0
    dx, dy = grid.spacing_km
    state = np.random.default_rng(3).standard_normal((1, 1, 12, 12))
    blurred = GaussianBlur((sigma_km / dy, sigma_km / dx), (12, 12), dtype=torch.float64)(
        torch.as_tensor(state[:, 0])).numpy()[0]
    ds = xr.Dataset({"ssh": (("time", "lat", "lon"), np.zeros((1, 12, 12)), {"units": "m"}),
                     "ssh_error": ((), 0.05, {"units": "m"})},
                    coords={"time": TIMES[:1], "lat": grid.lat, "lon": grid.lon},
                    attrs={"genda_obs": "smoothed", "sigma_km": sigma_km})
    op = _operator(_compile(ds, grid), grid)
    np.testing.assert_allclose(op(torch.as_tensor(state)).numpy()[0], blurred.ravel(),
                               atol=1e-12)


# -- adjoint and normalization --------------------------------------------------------------
def test_adjoint_satisfies_the_dot_product_identity():
    grid = _grid()
    rng = np.random.default_rng(4)
    pts = _points(rng.uniform(35.2, 36.8, 20), rng.uniform(-59.8, -57.7, 20), np.zeros(20))
    l3 = xr.Dataset({"sst": (("time", "lat", "lon"),
                             np.where(rng.random((1, 8, 10)) < 0.5, 1.0, np.nan),
                             {"units": "degC"}), "sst_error": ((), 0.3, {"units": "degC"})},
                    coords={"time": TIMES[:1], "lat": grid.lat, "lon": grid.lon},
                    attrs={"genda_obs": "grid"})
    l4 = l3.assign(sst=l3.sst * 0 + 1).assign_attrs(genda_obs="smoothed", sigma_km=40.0)
    op = _operator(_compile([pts, l3, l4], grid), grid, batch=3)
    x = torch.as_tensor(rng.standard_normal((3, 2, 8, 10)))
    y = torch.as_tensor(rng.standard_normal((3, op.size)))
    lhs = (op(x) * y).sum()
    rhs = (x * adjoint(op, y, x)).sum()
    assert op.size == 20 + 2 * int(np.isfinite(l3.sst.values).sum())
    assert float(lhs) == pytest.approx(float(rhs), rel=1e-12)


def test_normalized_observations_of_the_truth_are_exact():
    ds = xgenda.testing.ocean_dataset(nt=2, ny=8, nx=10, land=False,
                                      variables=("ssh",))
    norm = xgenda.Normalizer.fit(ds, climatology="pixel")
    grid = AnalysisGrid.from_coords(ds.lat.values, ds.lon.values, ("ssh",))
    rng = np.random.default_rng(5)
    lat = rng.uniform(ds.lat[0], ds.lat[-1], 25)
    lon = rng.uniform(ds.lon[0], ds.lon[-1], 25)
    truth = ds.ssh.isel(time=0)
    values = truth.interp(lat=xr.DataArray(lat, dims="obs"), lon=xr.DataArray(lon, dims="obs"))
    obs = _points(lat, lon, values.values, time=np.full(25, ds.time.values[0]))
    mean = norm.mean_on(ds.isel(time=[0]))["ssh"].values[:, None]
    std = [norm.std["ssh"]]
    op = _operator(_compile(obs, grid, ds.time.values[:1]), grid, mean=mean, std=std)
    x = torch.as_tensor(norm.apply(truth).values[None, None])
    np.testing.assert_allclose(op(x).numpy(), op.y.numpy(), atol=1e-10)
    np.testing.assert_allclose(op.error.numpy(), 0.1 / std[0])


def test_batch_of_different_times_is_padded_with_inert_rows():
    grid = _grid(variables=("ssh",))
    t0, t1 = TIMES[0].to_datetime64(), TIMES[1].to_datetime64()
    obs = _points(grid.lat[[1, 2, 3]], grid.lon[[1, 2, 3]], [1.0, 2.0, 3.0],
                  time=[t0, t1, t1])
    tables = _compile(obs, grid, TIMES[:2])
    op = ObservationOperator(tables, [0, 1, 1], grid.shape, [1.0], dtype=torch.float64)
    assert op.size == 2
    assert op.valid.tolist() == [[True, False], [True, True], [True, True]]
    assert op.y[0, 1].item() == 0.0
    assert op.error[0, 1].item() == 1.0
    assert op(torch.ones(3, 1, 8, 10, dtype=torch.float64))[0, 1].item() == 0.0


# -- compilation rules ----------------------------------------------------------------------
def test_time_window_is_half_open_around_each_analysis_time():
    grid = _grid(variables=("ssh",))
    t = TIMES[1].to_datetime64()
    hours = np.array([-12.0, -11.9, 0.0, 11.9, 12.0])
    times = t + (hours * 3600).astype("timedelta64[s]")
    obs = _points(np.full(5, grid.lat[2]), np.full(5, grid.lon[2]), np.arange(5.0), time=times)
    (table,) = _compile(obs, grid, [t])
    assert sorted(table.value.tolist()) == [0.0, 1.0, 2.0, 3.0]
    np.testing.assert_allclose(np.sort(table.dt_days), hours[:4] / 24)


def test_errors_grow_with_time_distance_when_asked():
    grid = _grid(variables=("ssh",))
    t = TIMES[1].to_datetime64()
    times = t + np.array([0, 6 * 3600], dtype="timedelta64[s]")
    obs = _points(grid.lat[[2, 2]], grid.lon[[2, 3]], [0.0, 0.0], time=times, error=0.3)
    op = ObservationOperator(_compile(obs, grid, [t]), [0], grid.shape, [2.0],
                             time_error_growth=0.4, dtype=torch.float64)
    np.testing.assert_allclose(op.error.numpy()[0], [0.15, np.hypot(0.15, 0.4 * 0.25)])


def test_route_drops_and_counts_observations_outside_domain_and_time():
    grid = _grid(variables=("ssh",))
    t = TIMES[0].to_datetime64()
    lat = [35.5, 35.5, 10.0, 35.5]
    lon = [-59.5, -59.5, -59.5, -59.5]
    times = [t, t + np.timedelta64(5, "D"), t, t]
    obs = _points(lat, lon, [1.0, 2.0, 3.0, np.nan], time=times)
    sets, summary = route(collect(obs, ("ssh",)), [t], grid, 0.5)
    assert summary[0]["count"] == 4
    assert summary[0]["outside_time"] == 1
    assert summary[0]["outside_domain"] == 1
    assert summary[0]["kept"] == 2
    assert summary[0]["nan"] == 1
    (table,) = compile_tables(sets, grid, [t], 0.5)
    assert table.value.tolist() == [1.0]


def test_land_is_never_observed():
    land = np.zeros((8, 10), bool)
    land[:4, :4] = True
    grid = _grid(land=land, variables=("ssh",))
    # a point whose bilinear stencil touches land, one on an ocean node next to land
    obs = _points([0.5 * (grid.lat[3] + grid.lat[4]), grid.lat[4]],
                  [grid.lon[2], grid.lon[2]], [1.0, 2.0])
    l3 = xr.Dataset({"ssh": (("time", "lat", "lon"), np.ones((1, 8, 10)), {"units": "m"}),
                     "ssh_error": ((), 0.1, {"units": "m"})},
                    coords={"time": TIMES[:1], "lat": grid.lat, "lon": grid.lon},
                    attrs={"genda_obs": "grid"})
    (table,) = _compile([obs, l3], grid)
    pixels = table.index[table.weight > 0]
    assert not land.ravel()[pixels].any()
    assert (table.value == 2.0).sum() == 1
    assert len(table) == 1 + (~land).sum()


def test_gridded_observations_on_another_grid_are_regridded():
    grid = _grid(8, 10, variables=("sst",))
    fine = xgenda.grid.regular(lon=(-60.5, -57), lat=(34.5, 37.5), res_deg=0.1)
    lat2, lon2 = np.meshgrid(fine.lat, fine.lon, indexing="ij")
    ds = xr.Dataset({"sst": (("time", "lat", "lon"), (2.0 * lat2 + lon2)[None],
                             {"units": "degC"}),
                     "sst_error": ((), 0.2, {"units": "degC"})},
                    coords={"time": TIMES[:1], "lat": fine.lat, "lon": fine.lon},
                    attrs={"genda_obs": "grid"})
    (table,) = _compile(ds, grid)
    expected = _field(grid, lambda la, lo: 2.0 * la + lo).ravel()[table.index[:, 0]]
    assert len(table) == 80
    np.testing.assert_allclose(table.value, expected, atol=1e-9)


def test_unit_conversion_to_canonical_units():
    grid = _grid(variables=("ssh", "sst"))
    obs = _points(grid.lat[[1]], grid.lon[[1]], [293.15], var="sst", units="K", error=0.5)
    obs2 = _points(grid.lat[[1]], grid.lon[[1]], [12.0], var="ssh", units="cm", error=2.0)
    (table,) = _compile([obs, obs2], grid)
    np.testing.assert_allclose(sorted(table.value), [0.12, 20.0])
    np.testing.assert_allclose(sorted(table.error), [0.02, 0.5])


# -- collecting observations ----------------------------------------------------------------
def test_datatree_leaves_are_collected_and_evaluation_nodes_skipped():
    ds = xgenda.testing.ocean_dataset(nt=2, ny=8, nx=10)
    pts = point_observations(ds, n=5)
    tree = xr.DataTree.from_dict({"nadir": pts, "withheld/nadir": pts,
                                  "l3": ds[["sst"]].assign(sst_error=0.3)
                                  .assign_attrs(genda_obs="grid")})
    tree["l3"].attrs["genda_obs"] = "grid"
    sets = collect(tree, ("ssh", "sst"))
    assert sorted(s.name for s in sets) == ["l3", "nadir"]


def test_explicit_observation_objects_keep_their_settings():
    ds = xgenda.testing.ocean_dataset(nt=2, ny=8, nx=10)[["sst"]].assign(sst_error=0.2)
    (s,) = collect([xgenda.obs.smoothed(ds, sigma_km=16.0, time_window=2.0)], ("sst",))
    assert (s.kind, s.sigma_km, s.time_window) == ("smoothed", 16.0, 2.0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.drop_vars("ssh_error"), "no error"),
        (lambda d: d.assign(ssh=d.ssh.assign_attrs(units="K")), "cannot be converted"),
        (lambda d: d.assign(ssh=d.ssh.assign_attrs(units="furlongs-ish")), "unknown units"),
        (lambda d: d.assign(ssh=d.ssh.drop_attrs()), "no units"),
        (lambda d: d.rename(ssh="sss", ssh_error="sss_error"), "does not model"),
        (lambda d: d.rename(ssh="height"), "no canonical variable"),
        (lambda d: d.drop_vars("lat"), "no 'lat' coordinate"),
        (lambda d: d.expand_dims(member=2).transpose("obs", "member"), "dims"),
        (lambda d: d.assign(ssh_error=d.ssh_error * 0), "non-positive"),
        (lambda d: d.assign_attrs(genda_obs="swath"), "genda_obs"),
    ],
)
def test_bad_observations_get_clear_errors(change, message):
    ds = xgenda.testing.ocean_dataset(nt=2, ny=8, nx=10)
    obs = change(point_observations(ds, n=5))
    with pytest.raises(ValueError, match=message):
        collect(obs, ("ssh", "sst"))


def test_observation_table_concat_remaps_blurs_and_sources():
    a = ObservationTable(channel=np.array([0]), blur=np.array([0]), blurs=[(1.0, 1.0)],
                         index=np.zeros((1, 4), int), weight=np.eye(4)[:1],
                         value=np.ones(1), error=np.ones(1), dt_days=np.zeros(1),
                         source=np.zeros(1, int), names=["a"])
    b = ObservationTable(channel=np.array([0, 0]), blur=np.array([0, -1]),
                         blurs=[(2.0, 2.0)], index=np.zeros((2, 4), int),
                         weight=np.eye(4)[:2], value=np.ones(2), error=np.ones(2),
                         dt_days=np.zeros(2), source=np.zeros(2, int), names=["b"])
    c = ObservationTable.concat([a, b])
    assert c.blurs == [(1.0, 1.0), (2.0, 2.0)]
    assert c.blur.tolist() == [0, 1, -1]
    assert [c.names[k] for k in c.source] == ["a", "b", "b"]
