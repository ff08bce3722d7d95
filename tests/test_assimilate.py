"""The lazy assimilation: output schema, laziness, determinism, resume, tiles, bad input."""

from __future__ import annotations

import json
import warnings

import dask
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xgenda
from xgenda.config import (
    DPS,
    MMPS,
    SDA,
    Configuration,
    Euler,
    GendaDDIM,
    Heun,
    KindWindow,
    Window,
    presets,
)
from xgenda.testing import gaussian_prior, point_observations, raise_if_dask_computes

torch = pytest.importorskip("torch")

from xgenda import _engine  # noqa: E402
from xgenda.stream import missing_times, resume_to_zarr  # noqa: E402

MEAN, STD = 0.1, 0.2  # physical ssh = MEAN + STD * normalized state


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def prior():
    return gaussian_prior(8, mean=MEAN, std=STD)[0]


def _template(nt: int = 4, nx: int = 8, land: bool = False) -> xr.Dataset:
    g = xgenda.grid.regular(lon=(-60, -60 + 0.25 * nx), lat=(35, 37), res_deg=0.25,
                            time=pd.date_range("2020-01-01", periods=nt))
    field = np.zeros((nt, 8, nx))
    if land:
        field[:, :2, :3] = np.nan
    return g.assign(ssh=(("time", "lat", "lon"), field, {"units": "m"}))


@pytest.fixture(scope="module")
def obs(in_prior_range):
    """Point observations of the prior's climatology and spread (the guard accepts them)."""
    return in_prior_range(point_observations(_template(), n=40, error=0.02, seed=1), MEAN, STD)


def _run(template, prior, obs, **kw):
    kw.setdefault("members", 3)
    kw.setdefault("sampler", Heun(steps=6))
    return xgenda.assimilate(template, prior, obs, **kw)


# -- schema ---------------------------------------------------------------------------------
def test_result_is_a_lazy_cf_ensemble_with_provenance(prior, obs):
    with raise_if_dask_computes():
        ens = _run(_template().chunk({"time": 2}), prior, obs, seed=5)
    assert dict(ens.sizes) == {"member": 3, "time": 4, "lat": 8, "lon": 8}
    assert ens.ssh.dims == ("member", "time", "lat", "lon")
    assert ens.ssh.chunks == ((3,), (2, 2), (8,), (8,))
    assert ens.ssh.attrs["units"] == "m"
    assert ens.ssh.attrs["standard_name"] == "sea_surface_height_above_geoid"
    attrs = ens.attrs
    assert attrs["xgenda_version"] == xgenda.__version__
    assert attrs["prior_id"] == prior.id
    assert attrs["method"] == "mmps"
    assert json.loads(attrs["method_params"])["cg_steps"] == 3
    assert (attrs["seed"], attrs["members"], attrs["steps"]) == (5, 3, 6)
    assert attrs["obs_used"] == 40
    assert json.loads(attrs["observations"])[0]["kind"] == "points"
    assert "date_created" in attrs


def test_accessor_calls_the_same_function(prior, obs):
    a = _run(_template(nt=1), prior, obs)
    b = _template(nt=1).genda.assimilate(prior, obs, members=3, sampler=Heun(steps=6))
    xr.testing.assert_identical(a.drop_attrs(), b.drop_attrs())


def test_output_is_in_physical_units_and_fits_the_observations(prior):
    template = _template(nt=1)
    # anomalies of the prior's size (smaller ones would be out of its distribution)
    truth = MEAN + 2.5 * STD * np.sin(np.linspace(0, 3, 8))[:, None] \
        * np.cos(np.linspace(0, 2, 8))
    ii, jj = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    pick = (ii + jj) % 3 == 0  # a third of the pixels, observed exactly at the nodes
    obs = xr.Dataset(
        {"ssh": ("obs", truth[pick], {"units": "m"}),
         "ssh_error": ("obs", np.full(pick.sum(), 0.005), {"units": "m"})},
        coords={"time": ("obs", np.full(pick.sum(), template.time.values[0])),
                "lat": ("obs", template.lat.values[ii[pick]]),
                "lon": ("obs", template.lon.values[jj[pick]])},
        attrs={"genda_obs": "points"})
    ens = _run(template, prior, obs, members=8, sampler=Heun(steps=16),
               guidance=MMPS(cg_steps=30)).compute()
    mean = ens.ssh.mean("member").isel(time=0).values
    # observed pixels within a few error std; the field is in metres around MEAN
    assert np.max(np.abs(mean[pick] - truth[pick])) < 3 * 0.005
    assert abs(float(ens.ssh.mean()) - MEAN) < 3 * STD


def test_land_stays_nan_and_unobserved(prior, obs):
    ens = _run(_template(nt=1, land=True), prior, obs).compute()
    assert np.isnan(ens.ssh.values[:, :, :2, :3]).all()
    assert np.isfinite(ens.ssh.values[:, :, 2:, :]).all()


def test_no_observations_gives_an_unconditional_ensemble_with_a_warning(prior):
    with pytest.warns(UserWarning, match="unconditional"):
        ens = _run(_template(nt=1), prior, None, members=2)
    assert ens.attrs["obs_used"] == 0
    assert np.isfinite(ens.ssh.values).all()


def test_observations_outside_domain_and_time_are_counted(prior):
    template = _template(nt=2)
    obs = point_observations(template, n=10, seed=3)
    far = obs.isel(obs=slice(0, 3)).assign_coords(lat=("obs", [10.0, 11.0, 12.0]))
    late = obs.isel(obs=slice(3, 5)).assign_coords(
        time=("obs", obs.time.values[3:5] + np.timedelta64(30, "D")))
    ens = _run(template, prior, [obs.isel(obs=slice(5, 10)), far, late])
    assert ens.attrs["obs_dropped_outside_domain"] == 3
    assert ens.attrs["obs_dropped_outside_time"] == 2
    assert ens.attrs["obs_used"] == 5


# -- randomness and determinism -------------------------------------------------------------
def test_same_seed_same_ensemble_and_members_differ(prior, obs):
    a = _run(_template(nt=1), prior, obs, seed=1).ssh.values
    b = _run(_template(nt=1), prior, obs, seed=1).ssh.values
    c = _run(_template(nt=1), prior, obs, seed=2).ssh.values
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert not np.allclose(a[0], a[1])


def test_identical_on_synchronous_and_threaded_schedulers(prior, obs):
    template = _template().chunk({"time": 1})
    with dask.config.set(scheduler="synchronous"):
        sync = _run(template, prior, obs).ssh.values
    with dask.config.set(scheduler="threads", num_workers=2):
        threads = _run(template, prior, obs).ssh.values
    np.testing.assert_array_equal(sync, threads)


@pytest.mark.parametrize("guidance", [MMPS(), SDA()])
def test_bitwise_identical_for_any_chunking(prior, obs, guidance):
    one = _run(_template().chunk({"time": 1}), prior, obs, guidance=guidance).ssh.values
    two = _run(_template().chunk({"time": 2}), prior, obs, guidance=guidance).ssh.values
    four = _run(_template(), prior, obs, guidance=guidance, time_chunk=4).ssh.values
    np.testing.assert_array_equal(two, one)
    np.testing.assert_array_equal(four, one)


@pytest.mark.parametrize("batch_size", [2, 9])
def test_batch_size_changes_only_float_rounding(prior, obs, batch_size):
    # same draws and per-sample solves; another batch composition changes float32 rounding
    reference = _run(_template(), prior, obs, time_chunk=4).ssh.values
    batched = _run(_template(), prior, obs, time_chunk=4, batch_size=batch_size).ssh.values
    np.testing.assert_allclose(batched, reference, rtol=0, atol=2e-4 * STD)


def test_a_sample_depends_only_on_seed_time_and_member(prior, obs):
    full = _run(_template(), prior, obs, members=4).ssh.values
    late = _run(_template().isel(time=[2, 3]), prior, obs, members=2).ssh.values
    np.testing.assert_allclose(late, full[:2, 2:], rtol=0, atol=2e-4 * STD)


def test_batches_hold_one_time_unless_asked():
    assert _engine.sample_batches(2, 3, None) == [[(0, 0), (0, 1), (0, 2)],
                                                  [(1, 0), (1, 1), (1, 2)]]
    assert _engine.sample_batches(1, 3, 2) == [[(0, 0), (0, 1)], [(0, 2)]]
    assert _engine.sample_batches(3, 2, 5) == [[(0, 0), (0, 1), (1, 0), (1, 1)],
                                               [(2, 0), (2, 1)]]


def test_sample_seeds_differ_by_time_and_member():
    from xgenda.diffusion.samplers import sample_generator

    t = np.datetime64("2020-01-01T00:00")
    seeds = {sample_generator(0, m, _engine.time_key(t + np.timedelta64(h, "h"))).initial_seed()
             for h in range(0, 48, 6) for m in range(4)}
    assert len(seeds) == 32
    assert _engine.time_key(np.datetime64("1960-01-01")) > 0
    assert _engine.time_key(np.datetime64("1970-01-02")) - _engine.time_key(0.0) == 86400


@pytest.mark.distributed
@pytest.mark.slow
def test_runs_unchanged_on_a_distributed_cluster_of_processes(prior, obs):
    distributed = pytest.importorskip("distributed")
    template = _template().chunk({"time": 2})
    with dask.config.set(scheduler="synchronous"):
        expected = _run(template, prior, obs).ssh.values
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        ens = _run(template, prior, obs)
        got = client.compute(ens.ssh).result().values
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * STD)


# -- zarr: streaming and resume -------------------------------------------------------------
def test_resume_recomputes_only_missing_times(prior, obs, tmp_path, monkeypatch):
    store = tmp_path / "ens.zarr"
    template = _template().chunk({"time": 1})
    expected = _run(template, prior, obs).compute()
    calls = []
    original = _engine.run_block

    def failing(spec, sets, land, known=None):
        calls.append(spec.times[0])
        if len(calls) == 3:  # the third block computed fails, whichever it is
            raise RuntimeError("simulated interruption")
        return original(spec, sets, land, known)

    monkeypatch.setattr(_engine, "run_block", failing)
    with dask.config.set(scheduler="synchronous"), \
            pytest.raises(RuntimeError, match="interruption"):
        resume_to_zarr(_run(template, prior, obs), store)
    missing = missing_times(_run(template, prior, obs), store)
    assert 1 <= len(missing) <= 2

    monkeypatch.setattr(_engine, "run_block", original)
    calls.clear()
    monkeypatch.setattr(_engine, "run_block", lambda *a: calls.append(1) or original(*a))
    computed = resume_to_zarr(_run(template, prior, obs), store)
    assert sorted(computed.tolist()) == sorted(missing.tolist())
    assert len(calls) == len(missing)
    assert missing_times(_run(template, prior, obs), store).size == 0
    written = xr.open_zarr(store).compute()
    np.testing.assert_array_equal(written.ssh.values, expected.ssh.values)
    assert written.attrs["prior_id"] == prior.id


def test_resume_refuses_a_store_of_another_run(prior, obs, tmp_path):
    store = tmp_path / "ens.zarr"
    resume_to_zarr(_run(_template(nt=1), prior, obs, seed=1), store)
    with pytest.raises(ValueError, match="another run"):
        resume_to_zarr(_run(_template(nt=1), prior, obs, seed=2), store)


# -- tiles ----------------------------------------------------------------------------------
def _gradient_profile(values: np.ndarray) -> np.ndarray:
    """Mean |d/dlon| of (members, lat, lon) fields for each pair of columns."""
    return np.abs(np.diff(values, axis=-1)).mean(axis=(0, 1))


@pytest.mark.slow
def test_tiled_domain_has_no_seams(prior):
    nx = 20  # the 8-pixel prior tiles it with starts 0, 6, 12
    template = _template(nt=1, nx=nx)
    with pytest.warns(UserWarning, match="unconditional"):
        ens = _run(template, prior, None, members=150, sampler=Heun(steps=12),
                   tile_overlap=2)
    values = ens.ssh.isel(time=0).values
    borders = [5, 7, 11, 13]  # column pairs (j, j+1) that cross a tile edge
    inside = [j for j in range(nx - 1) if j not in borders]
    profile = _gradient_profile(values)
    assert profile[borders].max() <= 1.15 * profile[inside].mean()
    assert profile[borders].max() <= profile[inside].max()
    std = values.std(axis=0).mean(axis=0)
    assert std.min() > 0.8 * STD
    assert std.max() < 1.2 * STD
    # the same test flags independently sampled tiles (the check can fail)
    with pytest.warns(UserWarning, match="unconditional"):
        naive = np.concatenate([_run(_template(nt=1), prior, None, members=150,
                                              sampler=Heun(steps=12),
                                     seed=s).ssh.isel(time=0).values[..., :7]
                                for s in range(3)], axis=-1)[..., :nx]
    naive_profile = _gradient_profile(naive)
    assert naive_profile[[6, 13]].min() > 1.3 * naive_profile[inside[:5]].mean()


def test_an_observation_guides_the_tile_it_falls_in(prior):
    template = _template(nt=1, nx=20)
    t = template.time.values[0]
    value = MEAN + 2.5 * STD
    obs = xr.Dataset({"ssh": ("obs", [value], {"units": "m"}),
                      "ssh_error": ("obs", [0.002], {"units": "m"})},
                     coords={"time": ("obs", [t]), "lat": ("obs", [template.lat.values[4]]),
                             "lon": ("obs", [template.lon.values[17]])},
                     attrs={"genda_obs": "points"})
    ens = _run(template, prior, obs, members=6, sampler=Heun(steps=12), tile_overlap=2,
               guidance=MMPS(cg_steps=4)).compute()
    at_obs = ens.ssh.isel(time=0, lat=4, lon=17).values
    np.testing.assert_allclose(at_obs, value, atol=5 * 0.002)


# -- presets and options --------------------------------------------------------------------
def test_genda_preset_runs_with_its_configuration(prior, obs):
    config = {**presets.genda(), "sampler": GendaDDIM(steps=8)}
    ens = xgenda.assimilate(_template(nt=1), prior, obs, members=2, **config)
    assert ens.attrs["method"] == "sda"
    assert json.loads(ens.attrs["method_params"]) == {"gamma": 0.1, "detach": False}
    assert Configuration.from_json(ens.attrs["configuration"]).kwargs() == config
    assert np.isfinite(ens.ssh.values).all()


def test_default_steps_of_the_genda_preset_are_256(prior, obs):
    ens = xgenda.assimilate(_template(nt=1), prior, obs, members=1, **presets.genda())
    assert ens.attrs["steps"] == 256


def test_the_output_recreates_its_run(prior, obs):
    config = Configuration(Euler(steps=5, churn=1.0), SDA(gamma=0.2, detach=True),
                           Window(half_width=1.0, error_growth=0.1))
    ens = _run(_template(nt=2), prior, obs, seed=4, **config.kwargs())
    again = Configuration.from_json(ens.attrs["configuration"])
    assert again == config
    rerun = _run(_template(nt=2), prior, obs, seed=ens.attrs["seed"], **again.kwargs())
    np.testing.assert_array_equal(rerun.ssh.values, ens.ssh.values)


def test_legacy_keywords_give_the_same_ensemble_as_the_objects(prior, obs):
    legacy = _run(_template(nt=1), prior, obs, sampler=None, method="sda", gamma=0.3, steps=5,
                  solver="euler", churn=1.0, time_window="18h")
    objects = _run(_template(nt=1), prior, obs, sampler=Euler(steps=5, churn=1.0),
                   guidance=SDA(gamma=0.3), window=Window(half_width=0.75))
    assert legacy.attrs["configuration"] == objects.attrs["configuration"]
    np.testing.assert_array_equal(legacy.ssh.values, objects.ssh.values)


def test_a_diverging_sampler_is_reported(prior, obs):
    ens = _run(_template(nt=1), prior, obs, guidance=DPS(zeta=1e4), sampler=Heun(steps=4))
    with dask.config.set(scheduler="synchronous"), \
            pytest.warns(RuntimeWarning, match="diverged"):
        ens.compute()


def test_divergence_to_nan_only_is_reported_as_such():
    # the message itself must not fail when every value is NaN
    from types import SimpleNamespace

    from xgenda._engine import _check_divergence

    spec = SimpleNamespace(guidance=MMPS(), sampler=Heun(steps=8))
    x = np.full((1, 1, 4, 4), np.nan, dtype=np.float32)
    ocean = np.ones((4, 4), bool)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no All-NaN warning from numpy on the way
        with pytest.raises(RuntimeWarning, match="samples reach only NaN; use more steps"):
            _check_divergence(x, ocean, spec)
    x[0, 0, 0, 0] = 250.0
    with pytest.warns(RuntimeWarning, match="reach 250 prior standard deviations and NaN"):
        _check_divergence(x, ocean, spec)


def test_corrector_and_churn_options_run(prior, obs):
    ens = _run(_template(nt=1), prior, obs, sampler=Euler(steps=6, churn=2.0,
                                                          corrector_steps=1))
    assert np.isfinite(ens.ssh.values).all()


@pytest.fixture(scope="module")
def network_prior_dir(tmp_path_factory):
    """A small untrained UNet prior saved to disk (its denoiser is c_skip x)."""
    from xgenda.diffusion.unet import UNet, UNetConfig
    from xgenda.prior import Prior

    config = UNetConfig(in_channels=2, out_channels=1, resolution=8, base_channels=16,
                        channel_mult=(1, 2), num_blocks=1, attn_resolutions=(), dropout=0.0)
    gaussian = gaussian_prior(8, mean=MEAN, std=STD)[0]
    prior = Prior({"variables": ["ssh"], "patch_size": 8, "res_deg": [0.25, 0.25],
                   "spacing_km": list(gaussian.spacing_km), "unet": config.to_dict(),
                   "mask_channel": True}, gaussian.normalizer,
                  weights=UNet(config).state_dict())
    return prior.save(tmp_path_factory.mktemp("prior") / "net")


def test_a_saved_prior_travels_as_its_path(network_prior_dir, obs):
    import cloudpickle

    from xgenda.prior import Prior

    by_path = _run(_template(nt=2), str(network_prior_dir), obs)
    by_object = _run(_template(nt=2), Prior.load(network_prior_dir), obs)
    graph = dict(by_path.__dask_graph__())
    weights = sum(v.numel() for v in Prior.load(network_prior_dir).denoiser().state_dict()
                  .values()) * 4
    assert len(cloudpickle.dumps(graph)) < weights / 4
    np.testing.assert_array_equal(by_path.ssh.values, by_object.ssh.values)
    assert np.isfinite(by_path.ssh.values).all()


def test_acceleration_is_recorded_and_keeps_the_result(network_prior_dir, obs):
    from xgenda.config import Acceleration
    from xgenda.config.objects import from_json

    plain = _run(_template(nt=1), str(network_prior_dir), obs)
    fast = _run(_template(nt=1), str(network_prior_dir), obs,
                acceleration=Acceleration(channels_last=True))
    assert from_json(fast.attrs["acceleration"]) == Acceleration(channels_last=True)
    assert from_json(plain.attrs["acceleration"]) == Acceleration()
    np.testing.assert_allclose(fast.ssh.values, plain.ssh.values, rtol=0, atol=1e-5)


def test_acceleration_of_another_type_is_refused(prior, obs):
    with pytest.raises(TypeError, match="xgenda.config.Acceleration"):
        _run(_template(nt=1), prior, obs, acceleration={"bf16": True})


# -- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize(("kwargs", "message"), [
    ({"members": 0}, "members"),
    ({"device": "tpu"}, "device"),
    ({"device": "cuda:7"}, "cuda"),
    ({"tile_overlap": 8}, "tile_overlap"),
    ({"batch_size": 0}, "batch_size"),
    ({"seed": -1}, "seed"),
    ({"padding": "wrap"}, "padding"),
    ({"steps": 8}, "repeat what sampler"),
    ({"sampler": None, "method": "kalman"}, "unknown method"),
    ({"sampler": None, "preset": "slow"}, "unknown preset"),
    ({"sampler": None, "time_window": -1}, "time_window .*half_width"),
    ({"sampler": None, "gamma": 0.3}, "gamma is SDA's strength"),
    ({"sampler": None, "method": "dps", "gamma": 0.3}, "DPS\\(zeta"),
    ({"sampler": None, "guidance": {"zeta": 1.0}}, "do not all apply"),
])
def test_bad_arguments_are_refused_before_anything_runs(prior, obs, kwargs, message):
    if kwargs.get("device") == "cuda:7" and torch.cuda.is_available() and \
            torch.cuda.device_count() > 7:
        pytest.skip("this machine has 8 GPUs")
    with raise_if_dask_computes(), pytest.raises(ValueError, match=message):
        _run(_template(nt=1), prior, obs, **kwargs)


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: t.drop_vars("time"), "no 'time' coordinate"),
    (lambda t: t.drop_vars("lat"), "no 'lat' coordinate"),
    (lambda t: t.isel(lon=slice(None, None, -1)), "not strictly increasing"),
    (lambda t: xgenda.grid.regular(lon=(-60, -58), lat=(35, 37), res_deg=0.5,
                                   time=t.time.values), "spacing"),
])
def test_bad_templates_are_refused(prior, obs, change, message):
    with pytest.raises(ValueError, match=message):
        _run(change(_template(nt=1)), prior, obs)


def test_observations_of_a_variable_the_prior_does_not_model_are_refused(prior):
    obs = point_observations(_template(), n=5, var="sst")
    with pytest.raises(ValueError, match="does not model"):
        _run(_template(nt=1), prior, obs)


def test_observations_with_wrong_units_are_refused(prior, obs):
    with pytest.raises(ValueError, match="cannot be converted"):
        _run(_template(nt=1), prior, obs.assign(ssh=obs.ssh.assign_attrs(units="degC")))


def test_observations_with_wrong_dims_are_refused(prior, obs):
    bad = obs.rename(obs="points")
    with pytest.raises(ValueError, match="obs"):
        _run(_template(nt=1), prior, bad.assign_attrs(genda_obs="points"))


def test_bad_input_writes_nothing(prior, obs, tmp_path):
    store = tmp_path / "never.zarr"
    with pytest.raises(ValueError, match="members"):
        resume_to_zarr(_run(_template(nt=1), prior, obs, members=-1), store)
    assert not store.exists()


# -- the bundled prior on the toy ocean -----------------------------------------------------
def _demo_available() -> str | None:
    try:
        from xgenda.prior import demo_prior_path
    except ImportError:
        return "xgenda.prior is not available"
    if not (demo_prior_path() / "config.json").exists():
        return "the bundled demo prior is not in this installation yet"
    for name in ("datasets", "osse"):
        try:
            getattr(xgenda, name)
        except ImportError:
            return f"xgenda.{name} is not available"
    return None


@pytest.mark.slow
@pytest.mark.skipif(_demo_available() is not None, reason=str(_demo_available()))
def test_demo_prior_posterior_beats_the_prior_on_the_toy_ocean():
    prior = xgenda.load_demo_prior()
    truth = xgenda.datasets.toy_ocean(days=3, size=prior.patch_size, seed=7, spinup_days=30,
                                      progress=False)
    obs = xgenda.osse.observe(truth, nadirs=4, swot=True, sst_cloud_cover=0.3, seed=0,
                              drifters=0)
    template = truth.isel(time=[2])[list(prior.variables)]
    t = template.time.values[0]
    # the analysis day's observations with their own errors (not the prior's recommended
    # windows and inflation, which trade this fit for spread): they must be fit closely
    ens = xgenda.assimilate(template, prior, obs, members=6, steps=16, window=Window(),
                            device="cpu").compute()
    post = ens.isel(time=0)
    samples = prior.sample(6, seed=1, steps=16, device="cpu")
    # at the nadir points of the analysis day: the posterior mean fits them to within
    # their error, the prior does not
    nadir = obs["nadir"].to_dataset()
    nadir = nadir.isel(obs=np.flatnonzero(np.abs((nadir.time.values - t)
                                                 / np.timedelta64(1, "D")) < 0.5))
    at = {"lat": nadir.lat, "lon": nadir.lon}
    post_misfit = float(np.sqrt(((post.ssh.mean("member").interp(at) - nadir.ssh) ** 2)
                                .mean()))
    prior_misfit = float(np.sqrt(((samples.ssh.mean("member")
                                   .assign_coords(lat=truth.lat, lon=truth.lon).interp(at)
                                   - nadir.ssh) ** 2).mean()))
    error = float(nadir.ssh_error.mean())
    assert post_misfit < 1.5 * error < prior_misfit
    # the L3 SST pixels too
    l3 = obs["l3_sst"].to_dataset().sel(time=t)
    sst_misfit = post.sst.mean("member") - l3.sst
    assert float(np.sqrt((sst_misfit**2).mean())) < 1.5 * float(l3.sst_error.mean())
    # and the whole field is closer to the truth than the prior's
    for var in ("ssh", "sst", "u", "v"):
        truth_now = truth[var].isel(time=2)
        post_rmse = float(np.sqrt(((post[var].mean("member") - truth_now) ** 2).mean()))
        prior_rmse = float(np.sqrt(((samples[var].mean("member").values - truth_now.values)
                                    ** 2).mean()))
        assert post_rmse < 0.5 * prior_rmse, var


# -- command line ---------------------------------------------------------------------------
def test_command_line_writes_and_resumes_an_ensemble(network_prior_dir, obs, tmp_path, capsys):
    from xgenda.cli import main

    obs_path = tmp_path / "obs.nc"
    obs.to_netcdf(obs_path)
    out = tmp_path / "ens.zarr"
    argv = ["assimilate", "--obs", str(obs_path), "--out", str(out), "--prior",
            str(network_prior_dir), "--start", "2020-01-01", "--days", "2", "--lon", "-60",
            "-58", "--lat", "35", "37", "--members", "2", "--steps", "4", "--no-progress"]
    assert main(argv) == 0
    assert "2 time(s) computed now" in capsys.readouterr().out
    written = xr.open_zarr(out)
    assert dict(written.sizes) == {"member": 2, "time": 2, "lat": 8, "lon": 8}
    assert np.isfinite(written.ssh.values).all()
    assert main(argv) == 1  # refuses to overwrite silently
    assert "--resume" in capsys.readouterr().err
    assert main([*argv, "--resume"]) == 0
    assert "0 time(s) computed now" in capsys.readouterr().out


def test_ekman_model_needs_a_decomposed_state_prior(prior):
    template = _template(nt=1)
    with pytest.raises(ValueError, match="no 'u_res'/'v_res'"):
        xgenda.assimilate(template, prior, point_observations(template, n=5), members=1,
                          steps=1, ekman_model=object())


# -- the prior's recommended configuration ------------------------------------------------------
RECOMMENDED = Configuration(Heun(steps=5, churn=2.0), MMPS(cg_steps=2),
                            Window(points=KindWindow(half_width=2.0, error_growth=0.5),
                                   error_inflation=1.5))


@pytest.fixture(scope="module")
def recommending_prior():
    prior = gaussian_prior(8, mean=MEAN, std=STD)[0]
    prior.metadata["recommended"] = RECOMMENDED.to_dict()
    return prior


def test_assimilate_runs_the_priors_recommended_configuration(recommending_prior, obs):
    template = _template(nt=1)
    with raise_if_dask_computes():
        ens = xgenda.assimilate(template, recommending_prior, obs, members=2)
    assert Configuration.from_json(ens.attrs["configuration"]) == RECOMMENDED
    # the points' window is 2 days: the observations of the days around the first one
    days = (obs.time.values - template.time.values[0]) / np.timedelta64(1, "D")
    assert ens.attrs["obs_used"] == int(((days >= -2.0) & (days < 2.0)).sum())
    assert ens.attrs["obs_used"] > int(((days >= -0.5) & (days < 0.5)).sum())


def test_explicit_arguments_and_presets_win_over_the_recommendation(recommending_prior, obs):
    template = _template(nt=1)
    ens = xgenda.assimilate(template, recommending_prior, obs, members=2,
                            sampler=Heun(steps=4), window=Window())
    assert Configuration.from_json(ens.attrs["configuration"]) == Configuration(
        Heun(steps=4), MMPS(cg_steps=2), Window())
    ens = xgenda.assimilate(template, recommending_prior, obs, members=2, preset="default")
    assert Configuration.from_json(ens.attrs["configuration"]) == Configuration()
    # a prior without a recommendation runs the library defaults
    plain = xgenda.assimilate(template, gaussian_prior(8, mean=MEAN, std=STD)[0], obs,
                              members=2)
    assert Configuration.from_json(plain.attrs["configuration"]) == Configuration()


def test_the_error_inflation_widens_the_posterior(recommending_prior, obs):
    # a Gaussian prior: its posterior spread at observed pixels grows with the observation
    # error (same seed: without the factor the two runs would be identical)
    template = _template(nt=1)
    spreads = []
    for factor in (1.0, 4.0):
        window = Window(error_inflation=factor)
        ens = xgenda.assimilate(template, recommending_prior, obs, members=8, seed=1,
                                sampler=Heun(steps=8), window=window).compute()
        spreads.append(float(ens.ssh.std("member").mean()))
    assert spreads[1] > spreads[0]
