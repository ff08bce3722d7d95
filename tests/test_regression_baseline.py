"""The learned regression baseline: observation gridding and the UNet regressor."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from xgenda.baselines import (
    RegressionSettings,
    RegressionUNet,
    regression_analysis,
    regression_inputs,
)
from xgenda.baselines.regression import INPUT_CHANNELS
from xgenda.normalize import Normalizer

TINY = RegressionSettings(base_channels=8, channel_mult=(1, 2), max_epochs=60, patience=60,
                          batch_size=8, learning_rate=3e-3, seed=0)


def _linear_problem(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Smooth random 2-channel fields and the pointwise linear map y = 2 a - b + 0.5."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2, 16, 16))
    # smooth so that the problem looks like ocean fields, not white noise
    k = np.fft.fftfreq(16)
    damp = np.exp(-(k[:, None] ** 2 + k[None, :] ** 2) / 0.02)
    x = np.fft.ifft2(np.fft.fft2(x) * damp).real
    x /= x.std()
    y = (2 * x[:, 0] - x[:, 1] + 0.5)[:, None]
    return x.astype(np.float32), y.astype(np.float32)


@pytest.fixture(scope="module")
def linear_model() -> tuple[RegressionUNet, np.ndarray, np.ndarray]:
    torch.set_num_threads(1)
    x, y = _linear_problem(48, seed=1)
    xv, yv = _linear_problem(16, seed=2)
    model = RegressionUNet(2, 1, 16, ["y"], TINY).fit(x, y, xv, yv)
    return model, xv, yv


def test_learns_a_pointwise_linear_map_on_unseen_fields(linear_model):
    model, xv, yv = linear_model
    err = model.predict(xv) - yv
    # y has std ~2.2; the untrained network (zero output) errs by its RMS, ~2.3
    assert np.sqrt(np.mean(err**2)) < 0.1 * np.sqrt(np.mean(yv**2))
    # early stopping keeps the epoch of the lowest validation loss
    best = int(model.history["best_epoch"][0])
    assert model.history["valid"][best] == min(model.history["valid"])


def test_training_is_deterministic_and_save_load_round_trips(linear_model, tmp_path):
    model, xv, yv = linear_model
    x, y = _linear_problem(48, seed=1)
    again = RegressionUNet(2, 1, 16, ["y"], TINY).fit(x, y, xv, yv)
    np.testing.assert_array_equal(again.predict(xv), model.predict(xv))
    model.save(tmp_path / "unet.pt")
    loaded = RegressionUNet.load(tmp_path / "unet.pt")
    assert loaded.settings == model.settings
    assert loaded.variables == ["y"]
    np.testing.assert_array_equal(loaded.predict(xv), model.predict(xv))


def test_nan_targets_are_left_out_of_the_loss():
    torch.set_num_threads(1)
    x, y = _linear_problem(48, seed=1)
    xv, yv = _linear_problem(16, seed=2)
    # a "land" half whose targets are NaN and whose would-be values are absurd
    y[:, :, :, 8:] = np.nan
    settings = RegressionSettings(**{**TINY.to_dict(), "max_epochs": 30, "patience": 30})
    model = RegressionUNet(2, 1, 16, ["y"], settings).fit(x, y, xv, yv)
    assert np.isfinite(model.history["train"]).all()
    err = (model.predict(xv) - yv)[:, :, :, :8]
    assert np.sqrt(np.mean(err**2)) < 0.2 * np.sqrt(np.mean(yv**2))


def _grid() -> tuple[xr.Dataset, Normalizer]:
    """A 2-day, 3 x 4 grid and a normalizer with means ssh 0.1, sst 20, sss 35."""
    lat = np.array([10.0, 11.0, 12.0])
    lon = np.array([20.0, 21.0, 22.0, 23.0])
    time = pd.to_datetime(["2020-01-05", "2020-01-06"]).values
    ones = np.ones((2, 3, 4))
    ones[1] = -1
    truth = xr.Dataset({v: (("time", "lat", "lon"), m + s * ones) for v, m, s in
                        (("ssh", 0.1, 0.5), ("sst", 20.0, 2.0), ("sss", 35.0, 0.25))},
                       coords={"time": time, "lat": lat, "lon": lon})
    return truth, Normalizer.fit(truth)


def _observations(truth: xr.Dataset) -> dict[str, xr.Dataset]:
    t = pd.to_datetime(["2020-01-05T00", "2020-01-05T06", "2020-01-08T00", "2020-01-01T00"])
    nadir = xr.Dataset({"ssh": ("obs", [0.6, 1.1, 0.35, 9.0])},
                       coords={"time": ("obs", t.values),
                               "lat": ("obs", [10.9, 11.2, 12.4, 10.0]),
                               "lon": ("obs", [21.1, 20.6, 23.2, 20.0])})
    sst = truth["sst"].copy(data=np.full(truth["sst"].shape, np.nan))
    sst[0, 0, 0] = 22.0
    sss = xr.full_like(truth["sss"], 35.5)
    return {"nadir": nadir, "l3_sst": sst.to_dataset(), "l4_sss": sss.to_dataset()}


def test_inputs_bin_nadir_points_in_their_nearest_pixel_within_the_window():
    truth, norm = _grid()
    obs = _observations(truth)
    x = regression_inputs(truth, norm, **obs, nadir_window_days=2.5)
    assert list(x["channel"].values) == list(INPUT_CHANNELS)
    ssh, count = x.sel(channel="ssh_nadir"), x.sel(channel="ssh_nadir_log_count")
    sd = norm.std["ssh"]
    # day 1 (01-05): points 1 and 2 share pixel (lat 11, lon 21): mean 0.85, anomaly
    # (0.85 - 0.1) / sd; point 3 (01-08) is 3 days away, point 4 (01-01) 4 days away
    expect = np.zeros((3, 4))
    expect[1, 1] = (0.85 - 0.1) / sd
    np.testing.assert_allclose(ssh[0].values, expect, rtol=1e-6)
    np.testing.assert_allclose(count[0].values, np.log1p(2.0) * (expect != 0), rtol=1e-6)
    # day 2 (01-06): the same two points and point 3 (2 days away; pixel lat 12, lon 23)
    expect[2, 3] = (0.35 - 0.1) / sd
    np.testing.assert_allclose(ssh[1].values, expect, rtol=1e-6)
    assert count[1].values[2, 3] == pytest.approx(np.log1p(1.0))


def test_inputs_standardize_gridded_products_and_mark_gaps():
    truth, norm = _grid()
    x = regression_inputs(truth, norm, **_observations(truth))
    sst, mask = x.sel(channel="sst_l3").values, x.sel(channel="sst_l3_mask").values
    sd = norm.std
    assert sst[0, 0, 0] == pytest.approx((22.0 - 20.0) / sd["sst"])
    assert mask[0, 0, 0] == 1
    assert mask.sum() == 1
    assert np.count_nonzero(sst) == 1
    np.testing.assert_allclose(x.sel(channel="sss_l4").values, (35.5 - 35.0) / sd["sss"],
                               rtol=1e-6)
    np.testing.assert_array_equal(x.sel(channel="land_mask").values, 1.0)


def test_analysis_inverts_the_standardization_and_masks_land():
    truth, norm = _grid()
    land = np.ones((3, 4))
    land[0, 0] = 0
    x = regression_inputs(truth, norm, **_observations(truth), land_mask=land)

    class Constant(RegressionUNet):
        def predict(self, inputs: np.ndarray) -> np.ndarray:
            return np.ones((inputs.shape[0], 3, 3, 4), np.float32)

    model = Constant(len(INPUT_CHANNELS), 3, 4, ["ssh", "sst", "sss"],
                     RegressionSettings(base_channels=4, channel_mult=(1,)))
    ds = regression_analysis(model, x, norm)
    assert float(ds["sst"][0, 1, 1]) == pytest.approx(20.0 + norm.std["sst"])
    assert float(ds["ssh"][1, 2, 3]) == pytest.approx(0.1 + norm.std["ssh"])
    assert np.isnan(ds["sss"][:, 0, 0]).all()


def test_bad_inputs_get_clear_errors():
    truth, norm = _grid()
    obs = _observations(truth)
    with pytest.raises(ValueError, match="no data at 1 template time"):
        regression_inputs(truth, norm, **{**obs, "l4_sss": obs["l4_sss"].isel(time=[0])})
    shifted = obs["l3_sst"].assign_coords(lon=obs["l3_sst"].lon + 0.5)
    with pytest.raises(ValueError, match="not on the template's lon grid"):
        regression_inputs(truth, norm, **{**obs, "l3_sst": shifted})
    model = RegressionUNet(2, 1, 16, ["y"], TINY)
    x = np.zeros((1, 2, 16, 16), np.float32)
    x[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        model.predict(x)
    with pytest.raises(ValueError, match=r"expected \(n, 2, 16, 16\)"):
        model.predict(np.zeros((1, 3, 16, 16)))
