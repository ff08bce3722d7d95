"""Train an EDM diffusion prior from an xarray Dataset: :func:`train` and :class:`TrainConfig`.

The loop: random patches from the training period (:class:`~xgenda.diffusion.data.PatchSampler`,
computing only the patches), standardized by a :class:`~xgenda.Normalizer` fitted on the
training period only; EDM loss; Adam with linear learning-rate warm-up; gradient clipping;
EMA of the weights; periodic validation loss (EMA weights, fixed patches and noise, on a
separate time period); checkpoints that resume exactly (weights, EMA, Adam moments, step,
every RNG state). On CUDA: bf16 autocast and channels_last; optionally ``torch.compile``.
On CPU the run is deterministic for a seed, and a resumed run equals an uninterrupted one.

With ``frames`` K > 1 the prior is a window prior: each training example is a patch of
K consecutive days (:class:`WindowSampler`), the network sees their ``K * C`` channels
frame-major, and the Normalizer (per variable) is shared by the frames.
"""

from __future__ import annotations

import difflib
import math
import os
import platform
import time
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import xarray as xr
import yaml

from xgenda._runtime import resolve_device, set_torch_threads
from xgenda._version import __version__
from xgenda.diffusion.checkpoint import has_checkpoint, read_checkpoint
from xgenda.diffusion.data import PatchSampler, _compute_stack, check_training_data
from xgenda.diffusion.loop import run_training
from xgenda.diffusion.unet import UNetConfig
from xgenda.grid import mean_spacing_km, spacing_deg
from xgenda.normalize import Normalizer
from xgenda.prior import Prior
from xgenda.progress import dask_progress, wanted
from xgenda.variables import VARIABLES

__all__ = ["TrainConfig", "WindowSampler", "export_checkpoint", "train"]


@dataclass
class TrainConfig:
    """Settings of :func:`train` (also the keys of a ``xgenda train --config`` YAML file).

    Parameters
    ----------
    data : str, optional
        Path of a zarr store or netCDF file to train on (used when no Dataset is given).
    output : str, optional
        Directory the trained :class:`~xgenda.Prior` is saved to at the end.
    checkpoint_dir : str, optional
        Directory of the training checkpoint (written every ``checkpoint_every`` steps,
        at the end and on interruption; resumed from when ``resume``).
    variables : list of str, optional
        Channels, in order; default: the canonical variables present in the data.
    patch_size : int
        Side of the square training patches (pixels); a multiple of the UNet's
        downsampling factor.
    frames : int
        Number K of consecutive days the prior models jointly (odd; 1: a snapshot
        prior of single days). K > 1 trains a window prior on windows of K
        consecutive days of the training (and validation) period, whose time steps
        must be whole days apart (gaps allowed: no window straddles one); the network
        sees ``K * C`` channels.
    batch_size, steps : int
        Patches per optimizer step, and total optimizer steps.
    lr, warmup_steps, adam_betas, weight_decay : Adam settings; the learning rate
        ramps linearly from ``lr / warmup_steps`` to ``lr`` over ``warmup_steps``.
    grad_clip : float, optional
        Maximum global gradient norm (None: no clipping).
    ema_decay : float
        EMA decay per step (ramped up from 0.1 over the first steps).
    sigma_data, p_mean, p_std : float
        EDM preconditioning and log-normal training noise.
    sigma_cover : float
        Share (0-1) of the training samples whose noise level is drawn log-uniform over
        the default samplers' range, 0.002-80, instead of from the log-normal, whose
        defaults draw sigma > 10 in 0.2 % of samples while sampling starts at 80
        (:func:`xgenda.diffusion.edm.training_sigmas`). 0: EDM's log-normal alone.
        Validation losses use the log-normal alone, so that they compare across
        training stages with different covers.
    unet : dict
        :class:`~xgenda.diffusion.unet.UNetConfig` fields other than channels and
        resolution (``base_channels``, ``channel_mult``, ``num_blocks``,
        ``attn_resolutions``, ``dropout``, ``embedding``).
    mask_channel : bool
        Give the ocean mask to the network as an extra input channel.
    climatology : {None, "month", "pixel"}
        Mean removed by the Normalizer.
    train_time, val_time : [start, end], optional
        Training and validation periods (labels, both ends included). Default: the
        last ``val_fraction`` of the time steps validate, the rest train.
    val_every, val_batches : int
        Validation period (steps; 0 disables) and number of fixed validation batches.
    checkpoint_every : int
        Checkpoint period in steps (0: only at the end).
    resume : bool
        Continue from ``checkpoint_dir`` when it holds a checkpoint.
    init_from : str, optional
        Directory of a saved :class:`~xgenda.Prior` whose network weights start the
        training (fine-tuning, e.g. on another ocean or with another noise
        distribution). Its variables, frames and UNet must be those of this config. The
        optimizer starts afresh (with its warm-up) and the Normalizer is fitted on the
        new training period as usual. A run resumed from a checkpoint takes the
        checkpoint's weights instead; the trained prior records the initial prior's id
        in ``metadata["init_from"]``.
    max_minutes : float, optional
        Stop (with a checkpoint and the prior saved) after this much wall time.
    min_ocean_fraction : float
        Patches with less ocean than this are redrawn.
    seed : int
        Seeds weights, patch positions, noise and dropout.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``...
    bf16, channels_last, compile : bool
        bf16 autocast and channels_last memory format (CUDA only), ``torch.compile``.
    num_threads : int, optional
        Torch CPU threads (default: all CPUs available to the process).
    progress : bool
        Show a progress bar with the loss and images/s.
    log_every : int
        Print a log line every this many steps (0: never).
    """

    data: str | None = None
    output: str | None = None
    checkpoint_dir: str | None = None
    variables: list[str] | None = None
    patch_size: int = 64
    frames: int = 1
    batch_size: int = 16
    steps: int = 10_000
    lr: float = 2e-4
    warmup_steps: int = 500
    adam_betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    grad_clip: float | None = 1.0
    ema_decay: float = 0.999
    sigma_data: float = 1.0
    p_mean: float = -1.2
    p_std: float = 1.2
    sigma_cover: float = 0.0
    unet: dict[str, Any] = field(default_factory=dict)
    mask_channel: bool = True
    climatology: Literal["month", "pixel"] | None = None
    train_time: list[str] | None = None
    val_time: list[str] | None = None
    val_fraction: float = 0.1
    val_every: int = 500
    val_batches: int = 4
    checkpoint_every: int = 500
    resume: bool = True
    init_from: str | None = None
    max_minutes: float | None = None
    min_ocean_fraction: float = 0.5
    seed: int = 0
    device: str = "auto"
    bf16: bool = True
    channels_last: bool = True
    compile: bool = False
    num_threads: int | None = None
    progress: bool = True
    log_every: int = 100

    def __post_init__(self) -> None:
        positive = ("patch_size", "batch_size", "steps", "val_batches")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ValueError(f"config {name} must be >= 1, got {getattr(self, name)}")
        for name in ("warmup_steps", "val_every", "checkpoint_every", "log_every"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"config {name} must be >= 0, got {getattr(self, name)}")
        if isinstance(self.frames, bool) or not isinstance(self.frames, (int, np.integer)) \
                or self.frames < 1 or self.frames % 2 == 0:
            raise ValueError(f"config frames must be a positive odd integer (days in a window "
                             f"centred on its middle day: 1, 3, 5, ...), got {self.frames!r}")
        self.frames = int(self.frames)
        if self.lr <= 0 or self.sigma_data <= 0 or self.p_std <= 0:
            raise ValueError("config lr, sigma_data and p_std must be > 0")
        if not 0.0 <= self.sigma_cover <= 1.0:
            raise ValueError(f"config sigma_cover must be in [0, 1] (a share of the samples), "
                             f"got {self.sigma_cover}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"config ema_decay must be in [0, 1), got {self.ema_decay}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"config val_fraction must be in [0, 1), got {self.val_fraction}")
        if not 0.0 <= self.min_ocean_fraction <= 1.0:
            raise ValueError("config min_ocean_fraction must be in [0, 1]")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ValueError("config grad_clip must be > 0 or null")
        self.adam_betas = (float(self.adam_betas[0]), float(self.adam_betas[1]))
        if isinstance(self.variables, str):
            self.variables = [self.variables]

        reserved = {"in_channels", "out_channels", "resolution"}
        allowed = {f.name for f in fields(UNetConfig)} - reserved
        _reject_unknown(self.unet, allowed, "unet config")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        """A config from a mapping; unknown keys raise a ``ValueError`` naming them."""
        if not isinstance(values, Mapping):
            raise TypeError(f"a training config must be a mapping, got {type(values).__name__}")
        _reject_unknown(values, {f.name for f in fields(cls)}, "training config")
        return cls(**dict(values))

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> TrainConfig:
        """Read a YAML file of config keys (relative paths resolve against its folder)."""
        path = Path(path)
        values = yaml.safe_load(path.read_text()) or {}
        if not isinstance(values, Mapping):
            raise ValueError(f"{path} must hold a mapping of config keys, got "
                             f"{type(values).__name__}")
        values = dict(values)
        for key in ("data", "output", "checkpoint_dir", "init_from"):
            if values.get(key) is not None:
                values[key] = str((path.parent / os.path.expanduser(values[key])).resolve())
        return cls.from_dict(values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict."""
        out = asdict(self)
        out["adam_betas"] = list(self.adam_betas)
        return out


def _reject_unknown(values: Mapping[str, Any], allowed: set[str], what: str) -> None:
    unknown = sorted(set(values) - allowed)
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ValueError(f"unknown {what} key(s): {', '.join(hints)}; allowed keys are "
                         f"{sorted(allowed)}")


def _as_config(config: TrainConfig | Mapping[str, Any] | str | os.PathLike[str] | None
               ) -> TrainConfig:
    if config is None:
        return TrainConfig()
    if isinstance(config, TrainConfig):
        return config
    if isinstance(config, (str, os.PathLike)):
        return TrainConfig.from_yaml(config)
    return TrainConfig.from_dict(config)


def open_training_data(path: str | os.PathLike[str]) -> xr.Dataset:
    """Open a zarr store or netCDF file lazily (dask-backed)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"training data {path} does not exist")
    if path.suffix == ".zarr" or (path / "zarr.json").exists() or (path / ".zgroup").exists():
        with warnings.catch_warnings():
            # stores without consolidated metadata open fine; xarray only warns about it
            warnings.filterwarnings("ignore", "Failed to open Zarr store with consolidated")
            return xr.open_zarr(path)
    return xr.open_dataset(path, chunks={"time": 1})


def _time_split(ds: xr.Dataset, cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    if "time" not in ds.dims:
        raise ValueError(f"training data need a 'time' dim; found dims {sorted(map(str, ds.dims))}")
    times = ds["time"].to_index()
    index = np.arange(times.size)
    if cfg.train_time is not None:
        train = index[times.slice_indexer(*cfg.train_time)]
    else:
        n_val = math.ceil(cfg.val_fraction * times.size) if cfg.val_time is None else 0
        train = index[: times.size - n_val]
    if cfg.val_time is not None:
        val = index[times.slice_indexer(*cfg.val_time)]
    elif cfg.train_time is not None:
        val = np.setdiff1d(index, train)[: math.ceil(cfg.val_fraction * times.size)]
    else:
        val = index[train.size:]
    if train.size == 0:
        raise ValueError("the training period selects no time step; check train_time / "
                         "val_fraction")
    if np.intersect1d(train, val).size:
        raise ValueError("training and validation periods overlap; choose disjoint "
                         "train_time and val_time")
    return train, val


def train(
    ds: xr.Dataset | str | os.PathLike[str] | None = None,
    config: TrainConfig | Mapping[str, Any] | str | os.PathLike[str] | None = None,
    *,
    normalizer: Normalizer | None = None,
) -> Prior:
    """Train a diffusion prior on random patches of ``ds``.

    Parameters
    ----------
    ds : Dataset or path, optional
        Training data in physical units, dims ``(time, lat, lon)``, numpy- or
        dask/zarr-backed (never loaded whole); default ``config.data``. Data already
        normalized (variables with ``attrs["normalized"] == 1``) need ``normalizer``.
    config : TrainConfig, dict or YAML path
        Settings; see :class:`TrainConfig`. Unknown keys raise ``ValueError``.
    normalizer : Normalizer, optional
        Use these statistics instead of fitting them on the training period
        (fitting streams through the training period chunk by chunk).

    Returns
    -------
    Prior
        EMA weights, the normalizer and training metadata; also saved to
        ``config.output`` when set.
    """


    cfg = _as_config(config)
    source = str(ds) if isinstance(ds, (str, os.PathLike)) else cfg.data
    if ds is None or isinstance(ds, (str, os.PathLike)):
        if source is None:
            raise ValueError("no training data: pass a Dataset or set `data` in the config")
        ds = open_training_data(source)
    variables = list(cfg.variables or [v for v in VARIABLES if v in ds.data_vars])
    if not variables:
        raise ValueError(f"no canonical variable in the training data ({sorted(map(str, ds))}); "
                         "run ds.genda.standardize() or set `variables` in the config")
    check_training_data(ds, variables, cfg.patch_size)
    channels = cfg.frames * len(variables)
    unet_config = UNetConfig(in_channels=channels + int(cfg.mask_channel),
                             out_channels=channels, resolution=cfg.patch_size, **cfg.unet)
    train_idx, val_idx = _time_split(ds, cfg)
    if cfg.frames > 1:
        check_daily(ds, cfg.frames)
    resuming = cfg.resume and has_checkpoint(cfg.checkpoint_dir)
    state = read_checkpoint(cfg.checkpoint_dir) if resuming else None  # type: ignore[arg-type]
    init_weights = None
    if state is not None:
        _check_compatible(state.info, variables, unet_config, cfg)
        normalizer = Normalizer.from_dataset(state.normalizer_stats)
        init_record = state.info.get("init_from")
    elif cfg.init_from is not None:
        init_weights, init_record = _initial_weights(cfg, variables, unet_config)
    else:
        init_record = None
    prenormalized = all(ds[v].attrs.get("normalized") == 1 for v in variables)
    if normalizer is None:
        if prenormalized:
            raise ValueError("the training data are already normalized; pass the Normalizer "
                             "used for them: xgenda.train(dsn, config, normalizer=norm)")
        normalizer = _fit_normalizer(ds, variables, cfg, train_idx)

    device = resolve_device(cfg.device)
    set_torch_threads(cfg.num_threads)
    patch_norm = None if prenormalized else normalizer
    train_data = _sampler(ds, variables, cfg, patch_norm, train_idx, "training")
    val_data = _sampler(ds, variables, cfg, patch_norm, val_idx, "validation") \
        if val_idx.size and cfg.val_every else None
    fork_devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        # Weight init and dropout use torch's global generator: seed it inside a fork
        # so that the caller's global state is left untouched.
        torch.manual_seed(cfg.seed)

        info = {"source": source, "variables": variables, "unet": unet_config.to_dict(),
                "config": cfg.to_dict(), "train_idx": train_idx.tolist(),
                "val_idx": val_idx.tolist(), "device": str(device), "hardware": _hardware(device),
                "init_from": init_record}
        result = run_training(cfg, unet_config, normalizer, train_data, val_data, device,
                              state, info, init_weights=init_weights)
    metadata = _metadata(ds, source, cfg, train_idx, val_idx, result, device)
    if init_record is not None:
        metadata["init_from"] = init_record
    prior = _make_prior(result["ema"], unet_config, variables, normalizer, train_data, cfg,
                        result["land_seen"], metadata)
    if cfg.output is not None:
        prior.save(cfg.output)
    return prior


class WindowSampler(PatchSampler):
    """Draws random windows of K consecutive days of normalized patches.

    A batch is (B, K * C, P, P) float32, frame-major (all variables of the first day,
    then of the next...): the state of a window prior. Each window is centred on a
    random time step whose ``K`` days all lie in ``time_index`` (windows never reach
    into another period) and are consecutive days (windows never straddle a gap in the
    data, e.g. between two runs), at a random position (check the times with
    :func:`check_daily`).

    Parameters
    ----------
    ds, variables, patch_size, normalizer, time_index, min_ocean_fraction
        As :class:`~xgenda.diffusion.data.PatchSampler`.
    frames : int
        K, the days in a window (odd).
    """

    def __init__(self, ds: xr.Dataset, variables: list[str], patch_size: int,
                 normalizer: Normalizer | None, time_index: np.ndarray,
                 min_ocean_fraction: float = 0.5, *, frames: int) -> None:
        super().__init__(ds, variables, patch_size, normalizer, time_index, min_ocean_fraction)
        half = (frames - 1) // 2
        self.frames = int(frames)
        self.offsets = np.arange(-half, half + 1)
        steps = self.time_index[:, None] + self.offsets[None, :]
        inside = np.isin(steps, self.time_index).all(axis=1)
        times = np.asarray(self.ds["time"].values)
        if np.issubdtype(times.dtype, np.datetime64):  # only consecutive days
            clipped = np.clip(steps, 0, times.size - 1)
            lag = (times[clipped] - times[self.time_index][:, None]) / np.timedelta64(1, "D")
            inside &= (lag == self.offsets[None, :]).all(axis=1)
        self.centres = self.time_index[inside]
        if self.centres.size == 0:
            raise ValueError(f"no window of {frames} consecutive days fits in a period of "
                             f"{self.time_index.size} time step(s)")
        #: the physical variables; ``variables`` names the K * C channels of the state
        self.base_variables = list(self.variables)
        self.variables = [f"{v}@{o:+d}d" for o in self.offsets for v in self.base_variables]

    def _draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        size = self.patch_size
        ny, nx = self.ds.sizes["lat"], self.ds.sizes["lon"]
        centres = rng.choice(self.centres, size=n)
        j0 = rng.integers(0, ny - size + 1, size=n)
        i0 = rng.integers(0, nx - size + 1, size=n)
        days = centres[:, None] + self.offsets[None, :]  # (n, K)
        pieces = [a[int(t), int(j):int(j) + size, int(i):int(i) + size]
                  for row, j, i in zip(days, j0, i0, strict=True) for t in row
                  for a in self._arrays]
        channels = len(self._arrays)
        raw = _compute_stack(pieces).reshape(n, self.frames, channels, size, size)
        out = np.empty(raw.shape, dtype=np.float32)
        for k, (row, j, i) in enumerate(zip(days, j0, i0, strict=True)):
            for f, t in enumerate(row):
                mean = self._mean[:, self._month_slot[t], j:j + size, i:i + size]
                out[k, f] = (raw[k, f] - mean) / self._std
        return out.reshape(n, self.frames * channels, size, size)


def check_daily(ds: xr.Dataset, frames: int) -> None:
    """Raise a clear error unless the times of ``ds`` are whole days apart, increasing.

    A window prior learns ``frames`` consecutive days. Its training data may have gaps
    (missing days, or several runs one after another with a gap between them): a window
    is drawn only where its days are all present, so it never straddles a gap. Time
    steps that are not whole days (hourly data, a day repeated) are refused.
    """
    times = np.asarray(ds["time"].values)
    if not np.issubdtype(times.dtype, np.datetime64):
        raise ValueError(f"training a window prior (frames={frames}) needs datetime64 times "
                         f"one day apart; the data's time has dtype {times.dtype} "
                         "(decode it with xr.decode_cf)")
    steps = np.diff(times) / np.timedelta64(1, "D")
    bad = np.flatnonzero((steps < 1.0) | (steps != np.round(steps)))
    if bad.size:
        k = int(bad[0])
        raise ValueError(
            f"training a window prior (frames={frames}) needs increasing daily time steps "
            f"(gaps of whole days are allowed), but {str(times[k])[:19]} -> "
            f"{str(times[k + 1])[:19]} is {steps[k]:g} day(s) ({bad.size} such step(s)); "
            "resample to daily means (ds.resample(time='1D').mean()), sort the times, or "
            "train with frames: 1")


def _sampler(ds: xr.Dataset, variables: list[str], cfg: TrainConfig,
             normalizer: Normalizer | None, index: np.ndarray, period: str) -> PatchSampler:
    if cfg.frames == 1:
        return PatchSampler(ds, variables, cfg.patch_size, normalizer, index,
                            cfg.min_ocean_fraction)
    try:
        return WindowSampler(ds, variables, cfg.patch_size, normalizer, index,
                             cfg.min_ocean_fraction, frames=cfg.frames)
    except ValueError as err:
        if "no window of" not in str(err):
            raise
        key = "train_time" if period == "training" else "val_time / val_fraction (or val_every: 0)"
        raise ValueError(f"the {period} period: {err}; lengthen it ({key}) or use fewer "
                         "frames") from None


def _check_compatible(info: Mapping[str, Any], variables: list[str], unet_config: Any,
                      cfg: TrainConfig) -> None:
    saved = (info.get("variables"), info.get("unet"))
    now = (variables, unet_config.to_dict())
    if saved != now:
        raise ValueError(
            f"the checkpoint in {cfg.checkpoint_dir} was written for variables {saved[0]} and "
            f"UNet {saved[1]}, but the config asks for {now[0]} and {now[1]}; use another "
            "checkpoint_dir or set resume: false"
        )


def _fit_normalizer(ds: xr.Dataset, variables: list[str], cfg: TrainConfig,
                    train_idx: np.ndarray) -> Normalizer:
    """Fit the normalizer on the training period, with a bar over its dask tasks (or a log
    line before and after): on a long record it reads every training day once."""
    times = ds["time"].values[train_idx]
    shown = wanted(None, default=cfg.progress)
    # inside a progress_bars() context its own bar covers every dask computation
    bar = shown and not wanted(None, default=False)
    if cfg.log_every and not shown:
        print(f"fitting the normalizer on {train_idx.size} training times", flush=True)
    tic = time.perf_counter()
    with dask_progress("fitting the normalizer", enabled=bar):
        normalizer = Normalizer.fit(ds, climatology=cfg.climatology,
                                    time_range=(times[0], times[-1]), variables=variables)
    if cfg.log_every and not shown:
        print(f"normalizer fitted in {time.perf_counter() - tic:.0f} s", flush=True)
    return normalizer


def _initial_weights(cfg: TrainConfig, variables: list[str], unet_config: Any
                     ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The network weights of the prior in ``cfg.init_from``, checked against the config."""
    path = Path(cfg.init_from)  # type: ignore[arg-type]
    if not path.is_dir():
        raise ValueError(f"init_from: {path} is not a saved prior's directory; give the "
                         "directory Prior.save wrote (config.json, weights.safetensors)")
    start = Prior.load(path)
    if start.config.get("unet") is None:
        raise ValueError(f"init_from: the prior in {path} has no network weights")
    saved = (start.variables, start.frames, start.config["unet"])
    now = (variables, cfg.frames, unet_config.to_dict())
    if saved != now:
        raise ValueError(
            f"init_from: the prior in {path} has variables {saved[0]}, {saved[1]} frame(s) and "
            f"UNet {saved[2]}, but the config asks for {now[0]}, {now[1]} frame(s) and UNet "
            f"{now[2]}; set variables, frames, unet and mask_channel as the prior's "
            "config.json has them"
        )
    weights = {k: v.detach().clone() for k, v in start.denoiser("cpu").net.state_dict().items()}
    return weights, {"path": str(path), "prior_id": start.id}


def _hardware(device: torch.device) -> dict[str, Any]:
    info = {"device": str(device), "cpu": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(),
            "platform": platform.platform()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _metadata(ds: xr.Dataset, source: str | None, cfg: TrainConfig, train_idx: np.ndarray,
              val_idx: np.ndarray, result: Mapping[str, Any], device: Any) -> dict[str, Any]:
    times = ds["time"].values

    def span(idx: np.ndarray) -> list[str] | None:
        return [str(times[idx[0]])[:19], str(times[idx[-1]])[:19]] if idx.size else None

    return {
        "data": {"source": source, "title": ds.attrs.get("title"),
                 "history": ds.attrs.get("history"), "sizes": dict(ds.sizes),
                 "seed": ds.attrs.get("seed"),
                 "train_time": span(train_idx), "val_time": span(val_idx)},
        "steps": result["step"], "images_seen": result["images_seen"],
        "batch_size": cfg.batch_size, "final_train_loss": result["train_loss"],
        "final_val_loss": result["val_loss"], "val_history": result["val_history"],
        "parameters": result["parameters"], "wall_time_s": round(result["elapsed_s"], 1),
        "hardware": _hardware(device), "xgenda_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "train_config": cfg.to_dict(),
    }


def _make_prior(ema: Mapping[str, torch.Tensor], unet_config: Any, variables: list[str],
                normalizer: Normalizer, sampler: Any, cfg: TrainConfig,
                land_seen: np.ndarray | None, metadata: dict[str, Any]) -> Prior:
    ds = sampler.ds
    coords = sampler.first_patch_coords()
    config = {"variables": variables, "patch_size": cfg.patch_size,
              "res_deg": list(spacing_deg(ds)), "spacing_km": list(mean_spacing_km(ds)),
              "sigma_data": cfg.sigma_data, "mask_channel": cfg.mask_channel,
              "unet": unet_config.to_dict(),
              "lat": coords["lat"].tolist(), "lon": coords["lon"].tolist()}
    if cfg.frames > 1:  # snapshot priors keep the config they always had
        config["frames"] = cfg.frames
    land_mask = None
    if land_seen is not None and not np.all(land_seen > 0):
        land_mask = (land_seen > 0).astype(np.float32)
    return Prior(config, normalizer, weights=dict(ema), land_mask=land_mask, metadata=metadata)


def export_checkpoint(checkpoint_dir: str | os.PathLike[str], output: str | os.PathLike[str],
                      ds: xr.Dataset | str | os.PathLike[str] | None = None) -> Prior:
    """Save the EMA weights of a (possibly running) training checkpoint as a Prior.

    Parameters
    ----------
    checkpoint_dir : path
        Checkpoint directory of a run.
    output : path
        Directory to save the prior to.
    ds : Dataset or path, optional
        The training data (for the grid); default the ``data`` path recorded in
        the checkpoint.
    """


    state = read_checkpoint(str(checkpoint_dir))
    info = state.info
    cfg = TrainConfig.from_dict(info["config"])
    if ds is None or isinstance(ds, (str, os.PathLike)):
        ds = open_training_data(ds or info["source"])
    normalizer = Normalizer.from_dataset(state.normalizer_stats)
    train_idx = np.asarray(info["train_idx"], dtype=np.int64)
    val_idx = np.asarray(info["val_idx"], dtype=np.int64)
    sampler = PatchSampler(ds, info["variables"], cfg.patch_size, normalizer, train_idx)
    result = {"step": state.step, "images_seen": state.images_seen,
              "train_loss": info.get("train_loss"), "val_loss": info.get("val_loss"),
              "val_history": info.get("val_history", []), "parameters": info.get("parameters"),
              "elapsed_s": info.get("elapsed_s", 0.0)}
    metadata = _metadata(ds, info.get("source"), cfg, train_idx, val_idx, result,
                         torch.device(info.get("device", "cpu")))
    metadata["hardware"] = info.get("hardware", metadata["hardware"])
    if info.get("init_from") is not None:
        metadata["init_from"] = info["init_from"]
    prior = _make_prior(state.ema, UNetConfig(**info["unet"]), info["variables"], normalizer,
                        sampler, cfg, state.land_seen, metadata)
    prior.save(Path(output))
    return prior
