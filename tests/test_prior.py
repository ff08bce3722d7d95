"""Prior: save/load without pickle, checksums, sampling in physical units, runtime helpers."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import xarray as xr

torch = pytest.importorskip("torch")

import xgenda  # noqa: E402
from xgenda import _runtime  # noqa: E402
from xgenda.config import Euler, Heun  # noqa: E402
from xgenda.diffusion.unet import UNet, UNetConfig  # noqa: E402
from xgenda.normalize import Normalizer  # noqa: E402
from xgenda.prior import Prior, cached_prior, clear_prior_cache  # noqa: E402
from xgenda.testing import ocean_dataset  # noqa: E402

VARIABLES = ["ssh", "sst"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def scalar_normalizer(means: dict[str, float], stds: dict[str, float]) -> Normalizer:
    stats = xr.Dataset(
        {**{f"{v}_mean": ((), m, {"units": "1"}) for v, m in means.items()},
         **{f"{v}_std": ((), stds[v], {"units": "1"}) for v in means}},
        attrs={"climatology": "none", "fit_variables": list(means)},
    )
    return Normalizer(stats)


@pytest.fixture(scope="module")
def tiny_prior() -> Prior:
    """A randomly initialized network prior on 8 x 8 patches (fast; not trained)."""
    ds = ocean_dataset(nt=4, ny=8, nx=8, variables=tuple(VARIABLES), land=False)
    norm = Normalizer.fit(ds)
    unet = UNetConfig(in_channels=3, out_channels=2, resolution=8, base_channels=8,
                      channel_mult=(1, 2), num_blocks=1, attn_resolutions=(), dropout=0.0)
    net = UNet(unet)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.05 * torch.randn(p.shape, generator=gen))
    config = {"variables": VARIABLES, "patch_size": 8, "res_deg": [1.25, 1.25],
              "spacing_km": [110.0, 139.0], "unet": unet.to_dict(),
              "lat": ds.lat.values.tolist(), "lon": ds.lon.values.tolist()}
    return Prior(config, norm, weights=net.state_dict(), metadata={"steps": 0})


def test_save_load_round_trip_gives_identical_outputs(tiny_prior, tmp_path):
    tiny_prior.save(tmp_path / "p")
    loaded = Prior.load(tmp_path / "p")
    x = torch.randn(3, 2, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a = tiny_prior.denoiser("cpu")(x, torch.tensor([0.1, 1.0, 10.0]))
        b = loaded.denoiser("cpu")(x, torch.tensor([0.1, 1.0, 10.0]))
    assert torch.equal(a, b)
    assert loaded.id == tiny_prior.id
    assert loaded.variables == VARIABLES
    assert loaded.normalizer.std == tiny_prior.normalizer.std
    xr.testing.assert_identical(loaded.sample(2, seed=3, sampler=Heun(steps=4), device="cpu"),
                                tiny_prior.sample(2, seed=3, sampler=Heun(steps=4), device="cpu"))


def test_a_loaded_prior_knows_its_directory_and_pickles_without_its_modules(tiny_prior,
                                                                           tmp_path):
    path = tiny_prior.save(tmp_path / "p")
    loaded = Prior.load(path)
    assert loaded.path == path
    loaded.denoiser("cpu")
    copy = pickle.loads(pickle.dumps(loaded))
    assert copy.id == loaded.id
    assert copy._denoisers == {}
    x = torch.randn(1, 2, 8, 8)
    with torch.no_grad():
        assert torch.equal(copy.denoiser("cpu")(x, 0.5), loaded.denoiser("cpu")(x, 0.5))


def test_saved_prior_is_safetensors_and_json_only(tiny_prior, tmp_path):
    path = tiny_prior.save(tmp_path / "p")
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "normalizer.safetensors",
                                                      "weights.safetensors"]
    document = json.loads((path / "config.json").read_text())
    assert set(document["checksums"]) == {"weights.safetensors", "normalizer.safetensors"}
    assert all(len(v) == 64 for v in document["checksums"].values())


@pytest.mark.parametrize("name", ["model.pt", "model.pkl", "weights.bin"])
def test_pickle_checkpoint_is_refused(tiny_prior, tmp_path, name):
    file = tmp_path / name
    if name.endswith(".pt"):
        torch.save(tiny_prior._weights, file)
    else:
        file.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    with pytest.raises(ValueError, match="pickle"):
        Prior.load(file)
    with pytest.raises(ValueError, match="pickle"):
        Prior.load(tmp_path)  # a folder holding only the pickle


def test_checksum_mismatch_is_refused(tiny_prior, tmp_path):
    path = tiny_prior.save(tmp_path / "p")
    data = bytearray((path / "weights.safetensors").read_bytes())
    data[-1] ^= 0xFF  # flip bits of the last weight
    (path / "weights.safetensors").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum mismatch"):
        Prior.load(path)


def test_folder_without_config_is_not_a_prior(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match=r"no config\.json"):
        Prior.load(tmp_path)


def test_samples_are_in_physical_units_with_cf_attributes(tiny_prior):
    ds = tiny_prior.sample(2, seed=0, sampler=Heun(steps=3), device="cpu")
    assert set(ds.data_vars) == set(VARIABLES)
    assert ds.ssh.dims == ("member", "lat", "lon")
    assert ds.ssh.attrs["units"] == "m"
    assert ds.sst.attrs["standard_name"] == "sea_surface_temperature"
    assert ds.attrs["prior_id"] == tiny_prior.id
    assert 5 < float(ds.sst.mean()) < 30  # degC, not normalized units


@pytest.mark.parametrize("sampler", [Heun(steps=3), Euler(steps=3, churn=2.0),
                                     Heun(steps=2, corrector_steps=1)], ids=repr)
def test_a_member_does_not_depend_on_the_number_of_members_or_batching(tiny_prior, sampler):
    two = tiny_prior.sample(2, seed=5, sampler=sampler, device="cpu")
    four = tiny_prior.sample(4, seed=5, sampler=sampler, device="cpu", batch_size=3)
    np.testing.assert_allclose(two.ssh.values, four.ssh.values[:2], rtol=1e-5, atol=1e-6)
    assert not np.allclose(four.ssh.values[0], four.ssh.values[1])


def test_analytic_gaussian_prior_samples_have_the_normalizer_mean_and_std():
    norm = scalar_normalizer({"ssh": 0.2, "sst": 18.0}, {"ssh": 0.1, "sst": 2.0})
    # N(0, I) in normalized units: D(x, s) = x / (1 + s^2)
    prior = Prior.from_denoiser(lambda x, s: x / (1 + s**2), ["ssh", "sst"], norm, patch_size=8,
                                res_deg=(0.25, 0.25), lat=np.arange(8) * 0.25 + 30,
                                lon=np.arange(8) * 0.25 - 60)
    ds = prior.sample(200, seed=0, sampler=Heun(steps=24), device="cpu")
    assert float(ds.ssh.mean()) == pytest.approx(0.2, abs=0.005)
    assert float(ds.ssh.std()) == pytest.approx(0.1, rel=0.03)
    assert float(ds.sst.mean()) == pytest.approx(18.0, abs=0.1)
    assert float(ds.sst.std()) == pytest.approx(2.0, rel=0.03)
    assert prior.spacing_km[1] == pytest.approx(27.8, rel=0.01)


def test_a_prior_around_a_python_function_cannot_be_saved(tmp_path):
    norm = scalar_normalizer({"ssh": 0.0}, {"ssh": 1.0})
    prior = Prior.from_denoiser(lambda x, s: x, ["ssh"], norm, 8, (0.1, 0.1))
    with pytest.raises(ValueError, match="cannot be saved"):
        prior.save(tmp_path / "p")


def test_denoiser_is_cached_and_lets_gradients_reach_its_input(tiny_prior):
    d = tiny_prior.denoiser("cpu")
    assert d is tiny_prior.denoiser("cpu")
    assert not d.training
    assert not any(p.requires_grad for p in d.parameters())
    x = torch.randn(1, 2, 8, 8, requires_grad=True)
    d(x, 1.0).sum().backward()
    assert x.grad is not None
    assert x.grad.abs().sum() > 0


def test_resolve_device_auto_and_errors():
    assert _runtime.resolve_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert _runtime.resolve_device("auto").type == expected
    with pytest.raises(ValueError, match=r"not supported|unknown device"):
        _runtime.resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            _runtime.resolve_device("cuda")


def test_cached_prior_loads_a_path_once_per_process(tiny_prior, tmp_path):
    path = tiny_prior.save(tmp_path / "p")
    clear_prior_cache()
    first = cached_prior(path)
    assert cached_prior(str(path)) is first
    assert cached_prior(tiny_prior) is tiny_prior
    clear_prior_cache()


@pytest.mark.parametrize("snapshot", [False, True])
def test_demo_priors_load_and_sample_the_toy_ocean_variables(snapshot):
    # the demo prior is a window prior of 3 days; the snapshot one models one day
    prior = xgenda.load_demo_prior(snapshot=snapshot)
    frames = 1 if snapshot else 3
    assert prior.frames == frames
    assert prior.variables == ["ssh", "sst", "sss", "u", "v"]
    assert prior.channels == 5 * frames
    assert prior.patch_size == 64
    assert prior.metadata["steps"] > 0
    assert prior.recommended is not None
    ds = prior.sample(1, seed=0, sampler=Heun(steps=2), device="cpu")
    assert ds.ssh.shape == ((1, 64, 64) if snapshot else (1, 3, 64, 64))
    assert np.isfinite(ds.sst.values).any()


def test_other_statistics_make_another_prior_with_the_same_network(tiny_prior):
    other = tiny_prior.with_normalizer(scalar_normalizer({"ssh": 1.0, "sst": 20.0},
                                                         {"ssh": 2.0, "sst": 3.0}))
    assert other.id != tiny_prior.id  # ids key caches: statistics are part of the prior
    a = tiny_prior.sample(1, seed=0, sampler=Heun(steps=4), device="cpu")
    b = other.sample(1, seed=0, sampler=Heun(steps=4), device="cpu")
    # the same normalized sample, mapped to physical units by each normalizer
    za = tiny_prior.normalizer.apply(a)["sst"].values
    zb = other.normalizer.apply(b)["sst"].values
    np.testing.assert_allclose(za, zb, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b["sst"].values, 20.0 + 3.0 * zb, rtol=1e-6)
    with pytest.raises(ValueError, match="no statistics"):
        tiny_prior.with_normalizer(scalar_normalizer({"ssh": 0.0}, {"ssh": 1.0}))
