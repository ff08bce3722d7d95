"""A learned regression baseline: a UNet mapping gridded observations to the state.

The deterministic counterpart of the generative method (GenDA's comparison): a
convolutional network is trained on pairs (observations of one day, true state of that
day) from a training run, then maps each analysis day's observations to one estimate
of the state. Nothing is sampled, so it has no spread: CRPS and spread/skill do not
apply.

- :func:`regression_inputs` grids one day's observations on the analysis grid, as
  standardized anomalies (the prior's normalizer: ``(x - mean) / std``, zero where
  unobserved): nadir SSH within ``nadir_window_days`` of the day averaged per pixel
  and its log count, L3 SST and its mask, the L4 SSS product, and the land mask;
- :class:`RegressionUNet` is the network (:class:`xgenda.diffusion.unet.UNet` with a
  constant noise level, so without noise conditioning) with a seeded, deterministic
  training loop (Adam, masked mean-square error in standardized units, early stopping
  on a validation set);
- :func:`regression_analysis` turns its output back into a physical Dataset.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import xarray as xr

from xgenda.diffusion.unet import UNet, UNetConfig
from xgenda.grid import check_grid
from xgenda.normalize import Normalizer

__all__ = ["INPUT_CHANNELS", "RegressionSettings", "RegressionUNet", "regression_analysis",
           "regression_inputs"]

#: The input channels of :func:`regression_inputs`, in order.
INPUT_CHANNELS = ("ssh_nadir", "ssh_nadir_log_count", "sst_l3", "sst_l3_mask", "sss_l4",
                  "land_mask")


# -- inputs ----------------------------------------------------------------------------------
def regression_inputs(
    template: xr.Dataset | xr.DataArray,
    normalizer: Normalizer,
    *,
    nadir: xr.Dataset,
    l3_sst: xr.Dataset,
    l4_sss: xr.Dataset,
    land_mask: xr.DataArray | np.ndarray | None = None,
    nadir_window_days: float = 5.0,
) -> xr.DataArray:
    """The observations of each template time gridded as the network's input channels.

    Parameters
    ----------
    template : Dataset or DataArray
        Carries the analysis ``time`` (1-D) and the regular ``lat``/``lon`` grid.
    normalizer : Normalizer
        Standardizes SSH, SST and SSS (``(x - mean) / std``; the prior's normalizer).
    nadir : Dataset
        Point observations of ``ssh`` (m) along dim ``obs`` with coords ``time``, ``lat``,
        ``lon`` (degrees); each is put in the pixel whose centre is nearest.
    l3_sst : Dataset
        Gridded ``sst`` (degC; dims ``time``, ``lat``, ``lon``; NaN where unobserved) on
        the template grid, holding every template time.
    l4_sss : Dataset
        Gridded ``sss`` (1e-3) on the template grid, holding every template time.
    land_mask : DataArray or ndarray (lat, lon), optional
        1 over ocean, 0 over land; default: all ocean.
    nadir_window_days : float
        Nadir observations within this many days of the analysis time are used (days).

    Returns
    -------
    DataArray (time, channel, lat, lon), float32
        Channels :data:`INPUT_CHANNELS`: the mean standardized SSH anomaly of the nadir
        observations in each pixel (0 where none), ``log(1 + count)`` of them, the
        standardized L3 SST anomaly (0 under clouds), the L3 mask (1 observed), the
        standardized L4 SSS anomaly (0 where missing), the land mask.
    """
    check_grid(template, need_time=True, what="template")
    if nadir_window_days < 0:
        raise ValueError(f"nadir_window_days must be >= 0 days, got {nadir_window_days}")
    for name, ds, var in (("nadir", nadir, "ssh"), ("l3_sst", l3_sst, "sst"),
                          ("l4_sss", l4_sss, "sss")):
        if var not in ds:
            raise ValueError(f"{name} observations have no {var!r} variable; found "
                             f"{sorted(map(str, ds.data_vars))}")
        if var not in normalizer.variables:
            raise ValueError(f"the normalizer has no statistics of {var!r} (it has "
                             f"{normalizer.variables}); use the prior's normalizer")
    times = template["time"].values
    lat = np.asarray(template["lat"].values, float)
    lon = np.asarray(template["lon"].values, float)
    shape = (lat.size, lon.size)
    grid = xr.Dataset(coords={"time": template["time"], "lat": template["lat"],
                              "lon": template["lon"]})
    mean = normalizer.mean_on(grid)
    std = normalizer.std

    ssh, count = _bin_nadir(nadir, times, lat, lon, nadir_window_days)
    ssh_mean = mean["ssh"].transpose("time", "lat", "lon").values
    ssh_anom = np.where(count > 0, (ssh - ssh_mean) / std["ssh"], 0.0)
    sst = _on_grid(l3_sst["sst"], "l3_sst", grid)
    sst_mask = np.isfinite(sst)
    sst_anom = np.where(sst_mask, (sst - mean["sst"].transpose("time", "lat", "lon").values)
                        / std["sst"], 0.0)
    sss = _on_grid(l4_sss["sss"], "l4_sss", grid)
    sss_anom = np.nan_to_num((sss - mean["sss"].transpose("time", "lat", "lon").values)
                             / std["sss"])
    if land_mask is None:
        land = np.ones(shape)
    else:
        land = np.asarray(land_mask, float)
        if land.shape != shape:
            raise ValueError(f"land_mask has shape {land.shape}; expected (lat, lon) = {shape} "
                             "of the template grid")
    land = np.broadcast_to(land, (times.size, *shape))
    channels = [ssh_anom, np.log1p(count), sst_anom, sst_mask.astype(float), sss_anom, land]
    data = np.stack(channels, axis=1).astype(np.float32)
    return xr.DataArray(
        data, dims=("time", "channel", "lat", "lon"),
        coords={"time": times, "channel": list(INPUT_CHANNELS), "lat": lat, "lon": lon},
        name="inputs",
        attrs={"long_name": "gridded standardized observations", "units": "1",
               "nadir_window_days": float(nadir_window_days)})


def _bin_nadir(nadir: xr.Dataset, times: np.ndarray, lat: np.ndarray, lon: np.ndarray,
               window_days: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel mean SSH (m) and count of the nadir points within the window of each time."""
    for c in ("time", "lat", "lon"):
        if c not in nadir.coords and c not in nadir:
            raise ValueError(f"nadir observations have no {c!r} coordinate; point "
                             "observations need time, lat, lon along dim 'obs'")
    t_obs = nadir["time"].values
    y = np.asarray(nadir["ssh"].values, float)
    iy = _nearest_index(np.asarray(nadir["lat"].values, float), lat)
    ix = _nearest_index(np.asarray(nadir["lon"].values, float), lon)
    inside = (iy >= 0) & (ix >= 0) & np.isfinite(y)
    ny, nx = lat.size, lon.size
    total = np.zeros((times.size, ny * nx))
    count = np.zeros((times.size, ny * nx))
    window = np.timedelta64(round(window_days * 86400e3), "ms")
    for k, t in enumerate(times):
        sel = inside & (np.abs(t_obs - t) <= window)
        flat = iy[sel] * nx + ix[sel]
        total[k] = np.bincount(flat, weights=y[sel], minlength=ny * nx)
        count[k] = np.bincount(flat, minlength=ny * nx)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return mean.reshape(times.size, ny, nx), count.reshape(times.size, ny, nx)


def _nearest_index(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest of regularly spaced ``centres``; -1 outside the outer edges."""
    step = (centres[-1] - centres[0]) / (centres.size - 1) if centres.size > 1 else 1.0
    i = np.floor((x - centres[0]) / step + 0.5).astype(np.int64)
    return np.where((i >= 0) & (i < centres.size), i, -1)


def _on_grid(da: xr.DataArray, name: str, grid: xr.Dataset) -> np.ndarray:
    """``da`` at the grid's times (exactly) as an array (time, lat, lon)."""
    check_grid(da, need_time=True, what=f"{name} observations")
    for c in ("lat", "lon"):
        if da[c].size != grid[c].size or not np.allclose(da[c].values, grid[c].values):
            raise ValueError(f"{name} observations are not on the template's {c} grid; "
                             "regrid them first (.genda.regrid(template))")
    missing = np.setdiff1d(grid["time"].values, da["time"].values)
    if missing.size:
        raise ValueError(f"{name} observations have no data at {missing.size} template "
                         f"time(s), e.g. {missing[0]}; give a product covering every "
                         "analysis time")
    return np.asarray(da.sel(time=grid["time"].values).transpose("time", "lat", "lon")
                      .values, float)


# -- network ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class RegressionSettings:
    """Architecture and training of :class:`RegressionUNet`.

    Parameters
    ----------
    base_channels, channel_mult, num_blocks
        UNet size (see :class:`xgenda.diffusion.unet.UNetConfig`); no attention but at the
        bottleneck, no dropout.
    max_epochs : int
        Upper bound on the passes over the training pairs.
    patience : int
        Stop after this many epochs without a lower validation loss; the weights of the
        best epoch are kept.
    batch_size : int
        Training pairs per step.
    learning_rate : float
        Adam step size.
    seed : int
        Seeds the initial weights and the order of the pairs.
    """

    base_channels: int = 32
    channel_mult: tuple[int, ...] = (1, 2, 2)
    num_blocks: int = 1
    max_epochs: int = 60
    patience: int = 8
    batch_size: int = 8
    learning_rate: float = 2e-3
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("max_epochs", "patience", "batch_size", "base_channels", "num_blocks"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        object.__setattr__(self, "channel_mult", tuple(int(m) for m in self.channel_mult))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (keys the cache of trained weights)."""
        out = asdict(self)
        out["channel_mult"] = list(self.channel_mult)
        return out


class _Regressor(torch.nn.Module):
    """The diffusion UNet with its noise input held at zero: a plain image-to-image map."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.net = UNet(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x, torch.zeros(x.shape[0], dtype=x.dtype, device=x.device))


@dataclass
class RegressionUNet:
    """A UNet regressing the standardized state on the gridded observations.

    Parameters
    ----------
    in_channels, out_channels : int
        Input channels (e.g. ``len(INPUT_CHANNELS)``) and output variables.
    resolution : int
        Side of the square inputs (pixels), a multiple of ``2 ** (len(channel_mult) - 1)``.
    variables : list of str
        Names of the output channels (e.g. ``["ssh", "sst", "sss", "u", "v"]``).
    settings : RegressionSettings
        Architecture and training.

    Examples
    --------
    >>> model = RegressionUNet(6, 5, 64, ["ssh", "sst", "sss", "u", "v"])  # doctest: +SKIP
    >>> model.fit(x_train, y_train, x_valid, y_valid)  # doctest: +SKIP
    >>> y = model.predict(x_test)  # doctest: +SKIP
    """

    in_channels: int
    out_channels: int
    resolution: int
    variables: list[str]
    settings: RegressionSettings = field(default_factory=RegressionSettings)
    history: dict[str, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.variables) != self.out_channels:
            raise ValueError(f"variables {self.variables} name {len(self.variables)} outputs, "
                             f"but out_channels is {self.out_channels}")
        s = self.settings
        torch.manual_seed(s.seed)
        config = UNetConfig(in_channels=self.in_channels, out_channels=self.out_channels,
                            resolution=self.resolution, base_channels=s.base_channels,
                            channel_mult=s.channel_mult, num_blocks=s.num_blocks,
                            attn_resolutions=(), dropout=0.0)
        self.module = _Regressor(config)

    def fit(self, inputs: np.ndarray, targets: np.ndarray, valid_inputs: np.ndarray,
            valid_targets: np.ndarray) -> RegressionUNet:
        """Train on pairs; keep the weights of the epoch with the lowest validation loss.

        Parameters
        ----------
        inputs, valid_inputs : ndarray (n, in_channels, resolution, resolution)
            Training and validation inputs (finite).
        targets, valid_targets : ndarray (n, out_channels, resolution, resolution)
            Standardized targets; NaN pixels (land) are left out of the loss.

        Returns
        -------
        RegressionUNet
            ``self``; ``history`` holds the training and validation loss of each epoch
            (mean square, standardized units) and the best epoch.
        """
        x, y = self._pairs(inputs, targets, "training")
        xv, yv = self._pairs(valid_inputs, valid_targets, "validation")
        s = self.settings
        generator = torch.Generator().manual_seed(s.seed)
        optimizer = torch.optim.Adam(self.module.parameters(), lr=s.learning_rate)
        best, best_state, stale = float("inf"), None, 0
        self.history = {"train": [], "valid": [], "best_epoch": []}
        for _ in range(s.max_epochs):
            self.module.train()
            order = torch.randperm(x.shape[0], generator=generator)
            total = 0.0
            for start in range(0, x.shape[0], s.batch_size):
                idx = order[start:start + s.batch_size]
                loss = _masked_mse(self.module(x[idx]), y[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * idx.numel()
            self.history["train"].append(total / x.shape[0])
            valid = self._loss(xv, yv)
            self.history["valid"].append(valid)
            if valid < best:
                best, stale = valid, 0
                best_state = {k: v.detach().clone() for k, v in self.module.state_dict().items()}
            else:
                stale += 1
                if stale >= s.patience:
                    break
        assert best_state is not None  # at least one epoch ran
        self.module.load_state_dict(best_state)
        self.history["best_epoch"] = [float(int(np.argmin(self.history["valid"])))]
        return self

    @torch.no_grad()
    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """Standardized state (n, out_channels, H, W) of inputs (n, in_channels, H, W)."""
        x = self._inputs(inputs, "prediction")
        self.module.eval()
        return np.concatenate([self.module(x[i:i + 16]).numpy()
                               for i in range(0, x.shape[0], 16)]).astype(np.float32)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the weights, the shape and the settings to ``path`` (a torch file)."""
        torch.save({"in_channels": self.in_channels, "out_channels": self.out_channels,
                    "resolution": self.resolution, "variables": list(self.variables),
                    "settings": self.settings.to_dict(), "history": self.history,
                    "state": self.module.state_dict()}, os.fspath(path))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RegressionUNet:
        """A model written by :meth:`save`."""
        data = torch.load(os.fspath(path), weights_only=True)
        model = cls(data["in_channels"], data["out_channels"], data["resolution"],
                    list(data["variables"]), RegressionSettings(**data["settings"]))
        model.module.load_state_dict(data["state"])
        model.history = data["history"]
        return model

    def _loss(self, x: torch.Tensor, y: torch.Tensor) -> float:
        self.module.eval()
        with torch.no_grad():
            return float(_masked_mse(self.module(x), y))

    def _inputs(self, inputs: np.ndarray, what: str) -> torch.Tensor:
        a = np.asarray(inputs, dtype=np.float32)
        expected = (self.in_channels, self.resolution, self.resolution)
        if a.ndim != 4 or a.shape[1:] != expected:
            raise ValueError(f"{what} inputs have shape {a.shape}; expected (n, {expected[0]}, "
                             f"{expected[1]}, {expected[2]}) (samples, channels, lat, lon)")
        if not np.isfinite(a).all():
            raise ValueError(f"{what} inputs hold NaN or inf; fill unobserved pixels (0) and "
                             "give a mask channel instead")
        return torch.from_numpy(a)

    def _pairs(self, inputs: np.ndarray, targets: np.ndarray,
               what: str) -> tuple[torch.Tensor, torch.Tensor]:
        x = self._inputs(inputs, what)
        y = np.asarray(targets, dtype=np.float32)
        expected = (x.shape[0], self.out_channels, self.resolution, self.resolution)
        if y.shape != expected:
            raise ValueError(f"{what} targets have shape {y.shape}; expected {expected} "
                             "(one target per input, out_channels variables)")
        if x.shape[0] == 0:
            raise ValueError(f"no {what} pairs: give at least one")
        return x, torch.from_numpy(y)


def _masked_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean square error over the finite target pixels."""
    ok = torch.isfinite(target)
    diff = torch.where(ok, pred - torch.nan_to_num(target), torch.zeros_like(pred))
    return (diff**2).sum() / ok.sum().clamp(min=1)


# -- analysis --------------------------------------------------------------------------------
def regression_analysis(model: RegressionUNet, inputs: xr.DataArray,
                        normalizer: Normalizer) -> xr.Dataset:
    """The model's estimate of the state at the inputs' times, in physical units.

    Parameters
    ----------
    model : RegressionUNet
        A trained model whose ``variables`` the normalizer knows.
    inputs : DataArray (time, channel, lat, lon)
        From :func:`regression_inputs`.
    normalizer : Normalizer
        The normalizer that standardized the training targets.

    Returns
    -------
    Dataset
        One variable (time, lat, lon) per model variable, NaN where the land mask
        channel is 0.
    """
    if inputs.dims != ("time", "channel", "lat", "lon"):
        raise ValueError(f"inputs have dims {inputs.dims}; expected ('time', 'channel', "
                         "'lat', 'lon') as regression_inputs returns")
    out = model.predict(inputs.values)
    ocean = inputs.sel(channel="land_mask").values > 0 if "land_mask" in inputs["channel"] \
        else np.ones(out[:, 0].shape, bool)
    coords = {c: inputs[c] for c in ("time", "lat", "lon")}
    ds = xr.Dataset({v: (("time", "lat", "lon"), np.where(ocean, out[:, i], np.nan))
                     for i, v in enumerate(model.variables)}, coords=coords)
    return normalizer.invert(ds)
