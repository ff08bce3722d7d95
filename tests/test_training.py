"""Training from xarray: learning an analytic denoiser, exact resume, laziness, bad input."""

from __future__ import annotations

import dask
import dask.array as dsa
import numpy as np
import pandas as pd
import pytest
import xarray as xr

torch = pytest.importorskip("torch")

import xgenda  # noqa: E402
from xgenda import cli  # noqa: E402
from xgenda.config import Heun  # noqa: E402
from xgenda.diffusion.checkpoint import read_checkpoint, write_checkpoint  # noqa: E402
from xgenda.diffusion.edm import DenoiserFunction, edm_loss  # noqa: E402
from xgenda.normalize import Normalizer  # noqa: E402
from xgenda.prior import Prior  # noqa: E402
from xgenda.testing import ocean_dataset, raise_if_dask_computes  # noqa: E402
from xgenda.training import TrainConfig, export_checkpoint  # noqa: E402

TINY_UNET = {"base_channels": 8, "channel_mult": [1, 2], "num_blocks": 1,
             "attn_resolutions": [], "dropout": 0.0}


def tiny_config(**kwargs) -> dict:
    values = {"patch_size": 8, "batch_size": 4, "steps": 3, "warmup_steps": 2,
              "val_every": 0, "progress": False, "log_every": 0, "num_threads": 1,
              "unet": dict(TINY_UNET)}
    return values | kwargs


def unit_normalizer(variables) -> Normalizer:
    stats = xr.Dataset({**{f"{v}_mean": 0.0 for v in variables},
                        **{f"{v}_std": 1.0 for v in variables}},
                       attrs={"climatology": "none", "fit_variables": list(variables)})
    return Normalizer(stats)


def weights_equal(a: Prior, b: Prior) -> bool:
    return a._weights.keys() == b._weights.keys() and all(
        torch.equal(a._weights[k], b._weights[k]) for k in a._weights)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def small_ds() -> xr.Dataset:
    return ocean_dataset(nt=12, ny=10, nx=12, land=False, chunks={"time": 1})


# -- learning --------------------------------------------------------------------
def gaussian_field_dataset(n: int, nt: int, seed: int) -> tuple[xr.Dataset, np.ndarray]:
    """Samples of a zero-mean Gaussian random field on n x n (squared-exponential kernel)."""
    yy, xx = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    pts = np.stack([yy.ravel(), xx.ravel()], 1)
    cov = np.exp(-((pts[:, None] - pts[None]) ** 2).sum(-1) / (2 * 2.0**2)) + 0.01 * np.eye(n * n)
    cov /= np.mean(np.diag(cov))
    x = (np.linalg.cholesky(cov) @ np.random.default_rng(seed).standard_normal((n * n, nt))).T
    ds = xr.Dataset({"ssh": (("time", "lat", "lon"), x.reshape(nt, n, n))},
                    coords={"time": pd.date_range("2000-01-01", periods=nt),
                            "lat": 30 + 0.1 * np.arange(n), "lon": 0.1 * np.arange(n)})
    return ds, cov


@pytest.mark.slow
def test_small_network_approaches_the_analytic_gaussian_denoiser():
    n = 8
    ds, cov = gaussian_field_dataset(n, 4096, seed=0)
    # expected EDM loss per pixel, by Gauss-Hermite quadrature over ln(sigma) ~ N(-1.2, 1.2^2),
    # in the eigenbasis of the covariance (sigma_data = 1): optimal D* = S (S + s^2 I)^-1 x and
    # the untrained network's D = x / (1 + s^2)
    lam = np.linalg.eigvalsh(cov)
    z, w = np.polynomial.hermite_e.hermegauss(60)
    s2 = np.exp(2 * (-1.2 + 1.2 * z))[:, None]
    optimum = float(np.sum(w / w.sum() * np.mean(lam * (s2 + 1) / (lam + s2), axis=1)))
    untrained = float(np.sum(w / w.sum() * np.mean((s2 * lam + 1) / (1 + s2), axis=1)))
    config = tiny_config(patch_size=n, batch_size=32, steps=150, lr=4e-3, warmup_steps=20,
                         ema_decay=0.95, val_fraction=0.0, mask_channel=False,
                         unet=TINY_UNET | {"base_channels": 16})
    prior = xgenda.train(ds, config, normalizer=unit_normalizer(["ssh"]))

    held_out, _ = gaussian_field_dataset(n, 4096, seed=1)
    x0 = torch.as_tensor(held_out.ssh.values[:, None], dtype=torch.float32)
    inverse = torch.linalg.inv(torch.as_tensor(cov))

    def optimal(x, sigma):  # mu + S (S + s^2 I)^-1 x = (I + s^2 S^-1)^-1 x, one sigma per row
        eye = torch.eye(n * n, dtype=torch.float64)
        flat = x.reshape(x.shape[0], -1, 1).double()
        gains = torch.linalg.inv(eye + sigma.reshape(-1, 1, 1).double() ** 2 * inverse)
        return (gains @ flat).reshape(x.shape).float()

    with torch.no_grad():
        trained = float(edm_loss(prior.denoiser(), x0,
                                 generator=torch.Generator().manual_seed(0)).mean())
        reference = float(edm_loss(DenoiserFunction(optimal, 1), x0,
                                   generator=torch.Generator().manual_seed(0)).mean())
    assert reference == pytest.approx(optimum, rel=0.03)  # the quadrature is right
    assert untrained - optimum > 0.4  # the test can tell a trained net from an untrained one
    assert trained < optimum + 0.1 * (untrained - optimum)
    assert trained > reference - 0.02


# -- determinism and resume ----------------------------------------------------------
def test_training_is_deterministic_for_a_seed(small_ds):
    a = xgenda.train(small_ds, tiny_config(seed=1))
    b = xgenda.train(small_ds, tiny_config(seed=1))
    c = xgenda.train(small_ds, tiny_config(seed=2))
    assert weights_equal(a, b)
    assert not weights_equal(a, c)


def test_resume_gives_the_same_result_as_an_uninterrupted_run(small_ds, tmp_path):
    config = tiny_config(unet=TINY_UNET | {"dropout": 0.2}, val_every=2, val_batches=1,
                         val_fraction=0.2, checkpoint_every=2)
    straight = xgenda.train(small_ds, config | {"steps": 5,
                                                "checkpoint_dir": str(tmp_path / "a")})
    xgenda.train(small_ds, config | {"steps": 3, "checkpoint_dir": str(tmp_path / "b")})
    saved = read_checkpoint(tmp_path / "b")
    assert saved.step == 3
    resumed = xgenda.train(small_ds, config | {"steps": 5, "checkpoint_dir": str(tmp_path / "b")})
    assert weights_equal(straight, resumed)
    assert resumed.metadata["steps"] == 5
    assert resumed.metadata["images_seen"] == 5 * 4
    # same validation losses at the shared validation steps (the shorter run also
    # validated at its last step, 3)
    even = [v for v in resumed.metadata["val_history"] if v[0] % 2 == 0]
    assert even == straight.metadata["val_history"][:2]
    final_a, final_b = read_checkpoint(tmp_path / "a"), read_checkpoint(tmp_path / "b")
    for index, entries in final_a.optimizer["state"].items():
        for key, value in entries.items():
            assert torch.equal(value, final_b.optimizer["state"][index][key])


def test_checkpoint_round_trip_keeps_optimizer_state_step_and_rng(small_ds, tmp_path):
    xgenda.train(small_ds, tiny_config(checkpoint_dir=str(tmp_path / "c")))
    state = read_checkpoint(tmp_path / "c")
    write_checkpoint(tmp_path / "copy", state)
    again = read_checkpoint(tmp_path / "copy")
    assert again.step == state.step == 3
    assert again.numpy_rng == state.numpy_rng
    assert torch.equal(again.torch_rng, state.torch_rng)
    assert again.optimizer["param_groups"] == state.optimizer["param_groups"]
    # one Adam entry per parameter
    assert len(state.optimizer["state"]) == len(state.optimizer["param_groups"][0]["params"])
    for index, entries in state.optimizer["state"].items():
        for key, value in entries.items():
            assert torch.equal(value, again.optimizer["state"][index][key])
    assert all(torch.equal(state.ema[k], again.ema[k]) for k in state.ema)


def test_exported_checkpoint_is_the_final_prior(small_ds, tmp_path):
    prior = xgenda.train(small_ds, tiny_config(checkpoint_dir=str(tmp_path / "c")))
    exported = export_checkpoint(tmp_path / "c", tmp_path / "p", small_ds)
    assert weights_equal(prior, exported)
    assert Prior.load(tmp_path / "p").id == exported.id


def test_init_from_starts_at_the_saved_priors_weights(small_ds, tmp_path):
    start = xgenda.train(small_ds, tiny_config(seed=1, output=str(tmp_path / "start")))
    fresh = xgenda.train(small_ds, tiny_config(seed=2, steps=1, lr=1e-12))
    tuned = xgenda.train(small_ds, tiny_config(seed=2, steps=1, lr=1e-12,
                                               init_from=str(tmp_path / "start")))
    # one Adam step of size ~1e-12 from the start: the EMA and the network are still it
    for name, value in start._weights.items():
        torch.testing.assert_close(tuned._weights[name], value, rtol=0, atol=1e-9)
    assert max((fresh._weights[k] - start._weights[k]).abs().max().item()
               for k in start._weights) > 1e-2
    assert tuned.metadata["init_from"] == {"path": str(tmp_path / "start"),
                                           "prior_id": start.id}
    assert "init_from" not in fresh.metadata


def test_a_resumed_fine_tuning_keeps_the_checkpoints_weights_and_its_origin(small_ds, tmp_path):
    xgenda.train(small_ds, tiny_config(seed=1, output=str(tmp_path / "start")))
    config = tiny_config(seed=2, init_from=str(tmp_path / "start"))
    straight = xgenda.train(small_ds, config | {"steps": 4,
                                                "checkpoint_dir": str(tmp_path / "a")})
    xgenda.train(small_ds, config | {"steps": 2, "checkpoint_dir": str(tmp_path / "b")})
    resumed = xgenda.train(small_ds, config | {"steps": 4, "checkpoint_dir": str(tmp_path / "b")})
    assert weights_equal(straight, resumed)
    assert resumed.metadata["init_from"] == straight.metadata["init_from"]
    exported = export_checkpoint(tmp_path / "b", tmp_path / "exported", small_ds)
    assert weights_equal(exported, resumed)
    assert exported.metadata["init_from"] == straight.metadata["init_from"]


def test_init_from_a_different_network_is_refused(small_ds, tmp_path):
    xgenda.train(small_ds, tiny_config(output=str(tmp_path / "start")))
    with pytest.raises(ValueError, match=r"init_from: the prior .* UNet"):
        xgenda.train(small_ds, tiny_config(init_from=str(tmp_path / "start"),
                                           unet=TINY_UNET | {"base_channels": 4}))
    with pytest.raises(ValueError, match="not a saved prior's directory"):
        xgenda.train(small_ds, tiny_config(init_from=str(tmp_path / "missing")))


# -- data handling ------------------------------------------------------------------
def test_training_computes_only_the_sampled_patches():
    # 20 000 days of 64 x 64 float32 for two variables (655 MB) that may never be loaded
    nt, n, made = 20_000, 64, []

    def day(block_info=None):
        t = block_info[None]["array-location"][0][0]
        made.append(t)
        return np.random.default_rng(t).standard_normal((1, n, n)).astype("float32")

    field = dsa.map_blocks(day, chunks=((1,) * nt, (n,), (n,)), dtype="float32")
    coords = {"time": pd.date_range("1500-01-01", periods=nt, unit="s"),
              "lat": 20 + 0.25 * np.arange(n), "lon": 0.25 * np.arange(n)}
    ds = xr.Dataset({"ssh": (("time", "lat", "lon"), field),
                     "sst": (("time", "lat", "lon"), field + 1)}, coords=coords)
    steps, batch = 3, 4
    with raise_if_dask_computes(max_computes=steps):  # one compute per batch
        xgenda.train(ds, tiny_config(steps=steps, batch_size=batch),
                     normalizer=unit_normalizer(["ssh", "sst"]))
    assert 0 < len(made) <= steps * batch * 2  # a day per patch and variable, at most


def test_normalizer_is_fitted_on_the_training_period_only():
    ds = ocean_dataset(nt=10, ny=8, nx=8, land=False)
    ds["ssh"] = ds.ssh.where(ds.time < ds.time[8], ds.ssh + 100.0)  # the last 2 days: offset
    prior = xgenda.train(ds, tiny_config(steps=1, val_fraction=0.2))
    assert float(prior.normalizer.stats.ssh_mean) == pytest.approx(
        float(ds.ssh.isel(time=slice(0, 8)).mean()))
    train_time, val_time = prior.metadata["data"]["train_time"], prior.metadata["data"]["val_time"]
    assert train_time[1] < val_time[0]


def test_land_is_recorded_as_a_mask_and_is_nan_in_samples():
    ds = ocean_dataset(nt=6, ny=8, nx=8, land=True)  # NaN in the 2 x 1 south-west corner
    prior = xgenda.train(ds, tiny_config(steps=2, min_ocean_fraction=0.5))
    expected = np.ones((8, 8))
    expected[:2, :1] = 0
    np.testing.assert_array_equal(prior.land_mask, expected)
    samples = prior.sample(1, sampler=Heun(steps=2), device="cpu")
    assert np.isnan(samples.ssh.values[0, :2, :1]).all()
    assert np.isfinite(samples.ssh.values[0, 2:, :]).all()


# -- bad input ------------------------------------------------------------------------
def test_missing_variables_are_named(small_ds):
    with pytest.raises(ValueError, match=r"\['chl'\] are missing"):
        xgenda.train(small_ds, tiny_config(variables=["ssh", "chl"]))


def test_patch_size_must_be_a_multiple_of_the_downsampling_factor(small_ds):
    config = tiny_config(patch_size=10, unet=TINY_UNET | {"channel_mult": [1, 2, 2]})
    with pytest.raises(ValueError, match="multiple of the UNet's downsampling factor 4"):
        xgenda.train(small_ds, config)


def test_patch_larger_than_the_grid_is_refused(small_ds):
    with pytest.raises(ValueError, match="larger than the grid"):
        xgenda.train(small_ds, tiny_config(patch_size=16))


def test_nan_only_patches_give_a_clear_error():
    ds = ocean_dataset(nt=4, ny=8, nx=8, variables=("ssh",), land=False)
    ds["ssh"] = ds.ssh * np.nan
    with pytest.raises(ValueError, match="NaN"):
        xgenda.train(ds, tiny_config(), normalizer=unit_normalizer(["ssh"]))


@pytest.mark.parametrize(("values", "hint"), [
    ({"stepz": 3}, "did you mean 'steps'"),
    ({"unet": {"base_channel": 8}}, "did you mean 'base_channels'"),
])
def test_unknown_config_keys_are_refused(values, hint):
    with pytest.raises(ValueError, match=hint):
        TrainConfig.from_dict(values)


@pytest.mark.parametrize("cover", [-0.1, 1.5])
def test_sigma_cover_is_a_share_of_the_samples(cover):
    with pytest.raises(ValueError, match=r"sigma_cover must be in \[0, 1\]"):
        TrainConfig.from_dict({"sigma_cover": cover})


def test_training_draws_with_the_cover_and_validation_without(small_ds, monkeypatch):
    """``sigma_cover`` reaches every training loss; validation keeps EDM's log-normal, so
    its losses compare across stages with different covers."""
    from xgenda.diffusion import loop

    calls = []
    original = loop.edm_loss

    def recording(*args, **kwargs):
        calls.append((torch.is_grad_enabled(), kwargs.get("sigma_cover", 0.0)))
        return original(*args, **kwargs)

    monkeypatch.setattr(loop, "edm_loss", recording)
    xgenda.train(small_ds[["ssh"]], tiny_config(sigma_cover=0.25, val_every=2, val_fraction=0.25),
                 normalizer=unit_normalizer(["ssh"]))
    training = [cover for grad, cover in calls if grad]
    validation = [cover for grad, cover in calls if not grad]
    assert training == [0.25] * 3
    assert validation
    assert set(validation) == {0.0}


def test_normalized_data_need_their_normalizer(small_ds):
    norm = Normalizer.fit(small_ds)
    with pytest.raises(ValueError, match="already normalized"):
        xgenda.train(norm.apply(small_ds), tiny_config())


# -- command line ----------------------------------------------------------------------
def test_train_command_trains_from_a_yaml_config_and_exports(tmp_path, capsys):
    import yaml

    ocean_dataset(nt=8, ny=8, nx=8, land=False).to_zarr(tmp_path / "data.zarr", consolidated=False)
    config = tiny_config(data="data.zarr", output="prior", checkpoint_dir="ckpt", steps=2)
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(config))
    assert cli.main(["train", "--config", str(tmp_path / "train.yaml")]) == 0
    prior = Prior.load(tmp_path / "prior")
    assert prior.metadata["steps"] == 2
    assert prior.metadata["data"]["source"] == str((tmp_path / "data.zarr").resolve())
    assert cli.main(["train", "--config", str(tmp_path / "train.yaml"), "--export-only",
                     "--output", str(tmp_path / "exported")]) == 0
    assert Prior.load(tmp_path / "exported").id == prior.id
    assert cli.main(["train", "--config", str(tmp_path / "train.yaml"), "--init-from",
                     str(tmp_path / "prior"), "--output", str(tmp_path / "tuned"),
                     "--checkpoint-dir", str(tmp_path / "ckpt_tuned")]) == 0
    assert Prior.load(tmp_path / "tuned").metadata["init_from"]["prior_id"] == prior.id
    (tmp_path / "tuned.yaml").write_text(yaml.safe_dump(
        config | {"init_from": "prior", "output": "tuned2", "checkpoint_dir": "ckpt2"}))
    assert cli.main(["train", "--config", str(tmp_path / "tuned.yaml")]) == 0
    tuned = Prior.load(tmp_path / "tuned2").metadata["init_from"]
    assert tuned == {"path": str((tmp_path / "prior").resolve()), "prior_id": prior.id}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config | {"learning_rate": 1.0}))
    assert cli.main(["train", "--config", str(tmp_path / "bad.yaml")]) == 1
    assert "unknown training config key" in capsys.readouterr().err


def test_fitting_the_normalizer_is_logged_or_shown_as_a_bar(small_ds, capsys):
    xgenda.train(small_ds, tiny_config(steps=1, log_every=1, val_fraction=0.25))
    out = capsys.readouterr()
    assert "fitting the normalizer on 9 training times" in out.out
    assert "normalizer fitted in" in out.out
    xgenda.train(small_ds, tiny_config(steps=1, progress=True, val_fraction=0.25))
    out = capsys.readouterr()
    assert "fitting the normalizer" in out.err
    assert "task" in out.err
    assert "fitting the normalizer" not in out.out
    xgenda.train(small_ds, tiny_config(steps=1, val_fraction=0.25))
    assert "fitting the normalizer" not in str(capsys.readouterr())


def test_dask_is_not_required_for_in_memory_data():
    ds = ocean_dataset(nt=6, ny=8, nx=8, land=False)
    with dask.config.set(scheduler="sync"):
        prior = xgenda.train(ds, tiny_config(steps=1))
    assert prior.metadata["steps"] == 1
