"""The diffusion prior: network + normalizer + metadata, saved without pickle.

A saved prior is a directory::

    config.json              architecture, variables, grid, training metadata, SHA-256 checksums
    weights.safetensors      EMA weights of the network (and the land mask, if any)
    normalizer.safetensors   the Normalizer as arrays (+ its structure in the file's metadata)

:meth:`Prior.load` reads only these formats, verifies the checksums, and refuses
pickle-based checkpoints (``torch.save`` / ``.pt`` / ``.pkl``), since unpickling can run
arbitrary code.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr
from safetensors.numpy import load_file, safe_open, save_file
from safetensors.torch import save

from xgenda._runtime import resolve_device
from xgenda._version import __version__
from xgenda.config import Configuration, Sampler, configure, from_dict
from xgenda.currents import EkmanModel, is_decomposed_state
from xgenda.diffusion.edm import DenoiserFunction, EDMPrecond
from xgenda.diffusion.samplers import PerSampleNoise, run_sampler, sample_generator
from xgenda.diffusion.unet import UNet
from xgenda.grid import EARTH_RADIUS_M, LAT_ATTRS, LON_ATTRS
from xgenda.io import dataset_from_arrays, dataset_to_arrays, json_default, sha256
from xgenda.normalize import Normalizer
from xgenda.variables import cf_attrs

__all__ = ["Prior", "demo_prior_path", "load_demo_prior"]

FORMAT = "xgenda-prior"
FORMAT_VERSION = 1
_WEIGHTS = "weights.safetensors"
_NORMALIZER = "normalizer.safetensors"
_CONFIG = "config.json"
_EKMAN = "ekman.safetensors"
_PICKLE_SUFFIXES = {".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin", ".joblib", ".tar"}


class Prior:
    """A trained (or user-supplied) diffusion prior of the ocean state.

    Build one with :func:`xgenda.train`, :meth:`Prior.load`, :func:`load_demo_prior`,
    or :meth:`Prior.from_denoiser`; the constructor is the low-level entry point.

    Parameters
    ----------
    config : dict
        Keys ``variables``, ``patch_size``, ``res_deg``, ``spacing_km``,
        ``sigma_data`` and, for a network prior, ``unet`` (a
        :class:`~xgenda.diffusion.unet.UNetConfig` dict) and ``mask_channel``;
        optional ``lat``/``lon`` (coordinates of a reference patch) and ``frames``
        (days in the window of a space-time prior, odd; absent means 1, see
        :attr:`frames`).
    normalizer : Normalizer
        Maps physical units to the normalized units the network works in.
    weights : dict of str to Tensor, optional
        State dict of the network (EMA weights).
    denoise_fn : callable, optional
        ``denoise(x, sigma) -> x0_hat`` in normalized units, instead of a network.
    land_mask : ndarray (patch_size, patch_size), optional
        1 over ocean, 0 over land for a prior trained on one fixed domain.
    metadata : dict, optional
        Training data, steps, images seen, losses, hardware, wall time.
    ekman_model : xgenda.currents.EkmanModel, optional
        For a prior of the decomposed state (channels ``u_res``, ``v_res``): the Ekman
        model of the decomposition, saved with the prior (see :attr:`ekman_model`).
    """

    def __init__(
        self,
        config: Mapping[str, Any],
        normalizer: Normalizer,
        *,
        weights: Mapping[str, torch.Tensor] | None = None,
        denoise_fn: Callable[..., torch.Tensor] | None = None,
        land_mask: np.ndarray | None = None,
        metadata: Mapping[str, Any] | None = None,
        ekman_model: EkmanModel | None = None,
    ) -> None:
        missing = {"variables", "patch_size", "res_deg", "spacing_km"} - set(config)
        if missing:
            raise ValueError(f"prior config lacks {sorted(missing)}")
        if (weights is None) == (denoise_fn is None):
            raise ValueError("give exactly one of weights (a network prior) or denoise_fn")
        if weights is not None and "unet" not in config:
            raise ValueError("a network prior needs config['unet'] (the UNet architecture)")
        self._config = json.loads(json.dumps(dict(config), default=json_default))
        frames = self._config.get("frames", 1)
        if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1 \
                or frames % 2 == 0:
            raise ValueError(f"prior config 'frames' must be a positive odd integer (days in "
                             f"a window centred on the analysis day), got {frames!r}")
        self._config.setdefault("sigma_data", 1.0)
        self._config.setdefault("mask_channel", True)
        self.normalizer = normalizer
        self._weights = dict(weights) if weights is not None else None
        self._denoise_fn = denoise_fn
        size = self.patch_size
        if land_mask is not None:
            land_mask = np.asarray(land_mask, dtype=np.float32)
            if land_mask.shape != (size, size):
                raise ValueError(f"land_mask must have shape ({size}, {size}), "
                                 f"got {land_mask.shape}")
        self.land_mask = land_mask
        self.metadata: dict[str, Any] = dict(metadata or {})
        self._ekman_model: EkmanModel | None = None
        if ekman_model is not None:
            self.ekman_model = ekman_model
        self._denoisers: dict[tuple[str, Any], Any] = {}
        self._lock = threading.Lock()
        self._id: str | None = None
        #: directory the prior was loaded from or last saved to (None for an in-memory one)
        self.path: Path | None = None

    def __getstate__(self) -> dict[str, Any]:
        # modules cached per device and the lock stay in their process
        state = dict(self.__dict__)
        state["_denoisers"] = {}
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # -- description ------------------------------------------------------------
    @property
    def config(self) -> dict[str, Any]:
        """JSON-serializable description of the prior (a copy)."""
        return json.loads(json.dumps(self._config))

    @property
    def recommended(self) -> Configuration | None:
        """The configuration recommended for this prior (``metadata["recommended"]`` of
        its config.json, the JSON form of a :class:`xgenda.config.Configuration`), or
        None. :func:`xgenda.assimilate` runs it for what a call leaves open."""
        data = self.metadata.get("recommended")
        if data is None:
            return None
        config = from_dict(data)
        if not isinstance(config, Configuration):
            raise ValueError(f"the prior's metadata['recommended'] describes a "
                             f"{type(config).__name__}, not a Configuration; fix its config.json")
        return config

    @property
    def variables(self) -> list[str]:
        """Variable names in channel order."""
        return list(self._config["variables"])

    @property
    def frames(self) -> int:
        """Number K of consecutive daily states the prior models jointly (odd; 1 for a
        snapshot prior).

        A window prior's state is ``K * C`` channels, frame-major (all variables of
        frame 0, then of frame 1, ...): frame ``f`` is the day ``f - (K - 1) // 2``
        relative to the centre day. The normalizer is per variable, shared by the
        frames. Priors saved without the key (every snapshot prior) have ``K = 1``.
        """
        return int(self._config.get("frames", 1))

    @property
    def channels(self) -> int:
        """Channels of the network's state: ``frames * len(variables)``."""
        return self.frames * len(self.variables)

    @property
    def patch_size(self) -> int:
        """Side of the square patches (pixels) the network works on."""
        return int(self._config["patch_size"])

    @property
    def res_deg(self) -> tuple[float, float]:
        """Grid spacing ``(dlon, dlat)`` of the training data in degrees."""
        dlon, dlat = self._config["res_deg"]
        return float(dlon), float(dlat)

    @property
    def spacing_km(self) -> tuple[float, float]:
        """Grid spacing ``(dx, dy)`` of the training data in km."""
        dx, dy = self._config["spacing_km"]
        return float(dx), float(dy)

    @property
    def sigma_data(self) -> float:
        """Standard deviation of the normalized data assumed by the preconditioning."""
        return float(self._config["sigma_data"])

    @property
    def ekman_model(self) -> EkmanModel | None:
        """The Ekman model of a prior of the decomposed state (or None).

        A prior whose channels hold the residual current ``u_res``, ``v_res``
        (:func:`xgenda.currents.training_state`) needs the
        :class:`~xgenda.currents.EkmanModel` of its decomposition to turn its states
        back into total currents; set it here and :meth:`save` stores it with the
        weights, and :func:`xgenda.assimilate` uses it by default.
        """
        return self._ekman_model

    @ekman_model.setter
    def ekman_model(self, model: EkmanModel | None) -> None:
        if model is not None:
            if not isinstance(model, EkmanModel):
                raise TypeError(f"ekman_model must be an xgenda.currents.EkmanModel, got "
                                f"{type(model).__name__}")
            if not is_decomposed_state(self.variables):
                raise ValueError(
                    f"this prior models {self.variables}, not the residual current "
                    "('u_res', 'v_res'): an Ekman model belongs only to priors of the "
                    "decomposed state (xgenda.currents.training_state)")
        self._ekman_model = model
        self._id = None

    @property
    def id(self) -> str:
        """Short SHA-256 hash of the weights, the config, the normalization statistics and
        the Ekman model: identifies the prior."""
        if self._id is None:
            h = hashlib.sha256(json.dumps(self._config, sort_keys=True).encode())
            if self._weights is not None:
                h.update(_weights_bytes(self._weights, self.land_mask))
            else:
                fn = self._denoise_fn
                h.update(f"{type(fn).__module__}.{getattr(fn, '__qualname__', type(fn).__name__)}"
                         .encode())
            # the statistics and the Ekman model are part of what the prior is: two
            # priors that differ only there must not share an id (ids key caches)
            parts = [self.normalizer.to_dataset()]
            if self._ekman_model is not None:
                parts.append(self._ekman_model.coefficients)
            for ds in parts:
                arrays, structure = dataset_to_arrays(ds)
                h.update(json.dumps(structure, sort_keys=True, default=str).encode())
                for name in sorted(arrays):
                    h.update(np.ascontiguousarray(arrays[name]).tobytes())
            self._id = h.hexdigest()[:16]
        return self._id

    def __repr__(self) -> str:
        kind = "network" if self._weights is not None else "user denoiser"
        window = f" frames={self.frames}" if self.frames > 1 else ""
        return (f"<xgenda.Prior {self.id} ({kind}) variables={self.variables}{window} "
                f"patch={self.patch_size}x{self.patch_size} res_deg={self.res_deg}>")

    # -- construction -------------------------------------------------------------
    @classmethod
    def from_denoiser(
        cls,
        denoise: Callable[..., torch.Tensor],
        variables: Sequence[str],
        normalizer: Normalizer,
        patch_size: int,
        res_deg: tuple[float, float],
        *,
        spacing_km: tuple[float, float] | None = None,
        sigma_data: float = 1.0,
        land_mask: np.ndarray | None = None,
        lat: np.ndarray | None = None,
        lon: np.ndarray | None = None,
        metadata: Mapping[str, Any] | None = None,
        frames: int = 1,
    ) -> Prior:
        """A prior around your own denoiser (e.g. an analytic Gaussian one).

        Parameters
        ----------
        denoise : callable
            ``denoise(x, sigma) -> x0_hat``: ``x`` (B, K * C, H, W) normalized,
            ``sigma`` a 0-d or (B,) tensor; returns an estimate of ``E[x0 | x]``.
        variables : sequence of str
            Channel order of ``x``.
        normalizer : Normalizer
            Maps physical to normalized units.
        patch_size : int
            H = W of the fields the denoiser works on.
        res_deg : (float, float)
            Grid spacing ``(dlon, dlat)`` in degrees.
        spacing_km : (float, float), optional
            ``(dx, dy)`` in km; default from ``res_deg`` at the mean of ``lat`` (or the
            equator).
        lat, lon : ndarray, optional
            Coordinates (degrees) used by :meth:`sample`.
        frames : int
            K, the number of consecutive days the denoiser's state holds (odd;
            frame-major channels, see :attr:`frames`); 1 for a snapshot prior.
        """
        if spacing_km is None:
            lat0 = float(np.mean(lat)) if lat is not None else 0.0
            km = np.deg2rad(1.0) * EARTH_RADIUS_M / 1000.0
            spacing_km = (res_deg[0] * km * float(np.cos(np.deg2rad(lat0))), res_deg[1] * km)
        config = {"variables": list(variables), "patch_size": int(patch_size),
                  "res_deg": list(res_deg), "spacing_km": list(spacing_km),
                  "sigma_data": float(sigma_data), "mask_channel": False}
        if frames != 1:  # snapshot priors keep the config (hence the id) they always had
            config["frames"] = frames
        if lat is not None and lon is not None:
            config["lat"], config["lon"] = np.asarray(lat).tolist(), np.asarray(lon).tolist()
        return cls(config, normalizer, denoise_fn=denoise, land_mask=land_mask,
                   metadata=metadata)

    # -- the denoiser ---------------------------------------------------------------
    def denoiser(self, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
                 ) -> EDMPrecond | DenoiserFunction:
        """The denoiser ``D(x, sigma, mask=None)`` as a module in eval mode on ``device``.

        Network weights are the EMA weights and do not require gradients; gradients
        flow through the module to its input (for guidance). Cached per
        ``(device, dtype)`` on this object.

        Parameters
        ----------
        device : str or torch.device
            ``"cpu"``, ``"cuda"``, ``"auto"``...
        dtype : torch.dtype, optional
            Default ``torch.float32``.
        """
        dev = resolve_device(device)
        dtype = dtype or torch.float32
        key = (str(dev), dtype)
        with self._lock:
            module = self._denoisers.get(key)
            if module is None:
                module = self._build_denoiser().to(device=dev, dtype=dtype).eval()
                module.requires_grad_(False)
                self._denoisers[key] = module
        return module  # type: ignore[return-value]

    def _build_denoiser(self) -> torch.nn.Module:
        channels = self.channels
        if self._denoise_fn is not None:
            return DenoiserFunction(self._denoise_fn, channels, self.sigma_data)
        net = UNet(self._config["unet"])
        assert self._weights is not None  # a prior has weights or a denoise_fn
        net.load_state_dict(self._weights)
        return EDMPrecond(net, channels, self.sigma_data, self._config["mask_channel"])

    # -- sampling -----------------------------------------------------------------
    def sample(
        self,
        n: int,
        seed: int = 0,
        *,
        sampler: Sampler | None = None,
        device: str = "auto",
        batch_size: int | None = None,
        progress: bool = False,
        **legacy: Any,
    ) -> xr.Dataset:
        """Unconditional samples in physical units.

        Member ``m`` draws its initial noise and the noise of stochastic steps (churn,
        corrector) from its own generator
        (:func:`~xgenda.diffusion.samplers.sample_generator` of ``(seed, m)``), so a
        member does not depend on ``n`` or ``batch_size``.

        Parameters
        ----------
        n : int
            Number of members.
        seed : int
            Random seed.
        sampler : Heun, Euler or GendaDDIM, optional
            The sampler (:mod:`xgenda.config`; default ``Heun()``).
        device : str
            ``"auto"``, ``"cpu"``, ``"cuda"``...
        batch_size : int, optional
            Members per network call (default: all at once).
        progress : bool
            Show a progress bar.
        **legacy
            ``steps``, ``solver``, ``churn`` of earlier versions
            (:func:`xgenda.config.configure`).

        Returns
        -------
        Dataset
            One variable per prior variable, dims ``(member, lat, lon)``, CF attrs,
            NaN on land. A window prior (:attr:`frames` ``K > 1``) samples whole windows:
            dims ``(member, frame, lat, lon)``, with coordinate ``frame`` the day of
            each frame relative to the centre day (``-(K-1)//2 ... (K-1)//2``).
        """
        unknown = sorted(set(legacy) - {"steps", "solver", "churn"})
        if unknown:
            raise TypeError(f"unknown argument(s) {unknown}; give the sampler as "
                            "sampler=Heun(...) (xgenda.config)")
        sampler = configure(sampler, **legacy).sampler
        if isinstance(n, bool) or int(n) != n or n < 1:
            raise ValueError(f"n must be a positive integer, got {n}")
        n = int(n)
        batch_size = batch_size or n
        dev = resolve_device(device)
        denoiser = self.denoiser(dev)
        mask = None
        if self.land_mask is not None:
            mask = torch.as_tensor(self.land_mask, device=dev, dtype=torch.float32)[None, None]
        shape = (self.channels, self.patch_size, self.patch_size)
        out = []
        for start in range(0, n, batch_size):
            members = range(start, min(start + batch_size, n))
            gens = [sample_generator(seed, m) for m in members]
            noise = torch.stack([torch.randn(shape, generator=g) for g in gens]).to(dev)
            x = run_sampler(sampler, lambda x, s: denoiser(x, s, mask), noise,
                            PerSampleNoise(gens), progress=progress)
            out.append(x.cpu().numpy())
        values = np.concatenate(out).astype(np.float64)
        if self.land_mask is not None:
            values = np.where(self.land_mask[None, None] > 0, values, np.nan)
        ds = self.normalizer.invert(self._as_dataset(values))
        for name in self.variables:
            ds[name].attrs = cf_attrs(name) or dict(ds[name].attrs)
        ds.attrs = {"title": "unconditional samples of an xgenda diffusion prior",
                    "Conventions": "CF-1.8", "source": f"xgenda {__version__}",
                    "prior_id": self.id, "seed": int(seed), "steps": sampler.steps,
                    "sampler": sampler.to_json()}
        return ds

    def _as_dataset(self, values: np.ndarray) -> xr.Dataset:
        size = self.patch_size
        if "lat" in self._config and "lon" in self._config:
            lat, lon = np.asarray(self._config["lat"]), np.asarray(self._config["lon"])
        else:
            dlon, dlat = self.res_deg
            lat, lon = dlat * (np.arange(size) + 0.5), dlon * (np.arange(size) + 0.5)
        coords = {"member": ("member", np.arange(values.shape[0])),
                  "lat": ("lat", lat, LAT_ATTRS), "lon": ("lon", lon, LON_ATTRS)}
        if self.frames == 1:
            return xr.Dataset({name: (("member", "lat", "lon"), values[:, k]) for k, name in
                               enumerate(self.variables)}, coords=coords)
        # frame-major channels: (member, K * C, H, W) -> (member, K, C, H, W)
        windows = values.reshape(values.shape[0], self.frames, len(self.variables),
                                 *values.shape[2:])
        half = (self.frames - 1) // 2
        coords["frame"] = ("frame", np.arange(-half, half + 1),
                           {"long_name": "day of the frame relative to the window's centre",
                            "units": "days"})
        return xr.Dataset({name: (("member", "frame", "lat", "lon"), windows[:, :, k])
                           for k, name in enumerate(self.variables)}, coords=coords)

    def with_normalizer(self, normalizer: Normalizer) -> Prior:
        """The same network with other normalization statistics.

        The network models states normalized by the statistics it was trained with:
        other statistics change what its samples mean physically. Use it for what does
        not depend on them (e.g. measuring the cost of tiled domains with a prior
        whose per-pixel mean exists only on its training grid), or with statistics
        re-fitted on data for which the network's normalized states still hold.
        """
        if self._weights is None:
            raise ValueError("with_normalizer needs a network prior (one with weights)")
        missing = [v for v in self.variables if v not in normalizer.std]
        if missing:
            raise ValueError(f"the normalizer has no statistics for {missing}")
        return Prior(self._config, normalizer, weights=self._weights, land_mask=self.land_mask,
                     metadata={**self.metadata, "normalizer_replaced": True},
                     ekman_model=self._ekman_model)

    # -- persistence ----------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the prior to directory ``path`` (safetensors + JSON; never pickle).

        Returns
        -------
        Path
            The directory written.
        """
        if self._weights is None:
            raise ValueError("a prior built from a Python denoiser cannot be saved: only network "
                             "priors (trained with xgenda.train) have weights to write")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / _WEIGHTS).write_bytes(_weights_bytes(self._weights, self.land_mask))
        arrays, structure = dataset_to_arrays(self.normalizer.to_dataset())
        save_file(arrays, str(path / _NORMALIZER), metadata={"structure": json.dumps(structure)})
        files = [_WEIGHTS, _NORMALIZER]
        ekman = path / _EKMAN
        if self._ekman_model is not None:
            arrays, structure = dataset_to_arrays(self._ekman_model.coefficients)
            save_file(arrays, str(ekman), metadata={"structure": json.dumps(structure)})
            files.append(_EKMAN)
        elif ekman.exists():
            ekman.unlink()  # a stale model of an earlier save would not match this prior
        document = {"format": FORMAT, "format_version": FORMAT_VERSION, "id": self.id,
                    "config": self._config, "metadata": self.metadata,
                    "checksums": {name: sha256(path / name) for name in files}}
        (path / _CONFIG).write_text(json.dumps(document, indent=2, default=json_default))
        self.path = path
        return path

    @classmethod
    def load(cls, path: str | Path) -> Prior:
        """Read a prior written by :meth:`save`, verifying its SHA-256 checksums.

        Raises
        ------
        ValueError
            For a pickle-based checkpoint (``.pt``, ``.pkl``, ``torch.save`` zip...),
            a checksum mismatch, or a directory that is not a saved prior.
        FileNotFoundError
            If ``path`` does not exist.
        """
        path = Path(path).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"no prior at {path}")
        _refuse_pickle(path)
        if path.is_file():
            path = path.parent
        config_file = path / _CONFIG
        if not config_file.exists():
            raise ValueError(f"{path} is not a saved xgenda prior: it has no {_CONFIG} "
                             "(write one with Prior.save)")
        document = json.loads(config_file.read_text())
        if document.get("format") != FORMAT:
            raise ValueError(f"{config_file} is not an xgenda prior config "
                             f"(format={document.get('format')!r})")
        if int(document.get("format_version", 0)) > FORMAT_VERSION:
            raise ValueError(f"prior format version {document['format_version']} is newer than "
                             f"this xgenda supports ({FORMAT_VERSION}); upgrade xgenda")
        checksums = document.get("checksums", {})
        for name in (_WEIGHTS, _NORMALIZER, *((_EKMAN,) if _EKMAN in checksums else ())):
            if name not in checksums:
                raise ValueError(f"{config_file} records no checksum for {name}")
            found = sha256(path / name)
            if found != checksums[name]:
                raise ValueError(f"checksum mismatch for {path / name}: config.json records "
                                 f"sha256 {checksums[name]}, the file has {found}; the file is "
                                 "corrupt or was modified after saving")
        tensors = load_file(str(path / _WEIGHTS))
        land_mask = tensors.pop("land_mask", None)
        weights = {k.removeprefix("net."): torch.from_numpy(v) for k, v in tensors.items()}
        with safe_open(str(path / _NORMALIZER), framework="numpy") as f:
            structure = json.loads(f.metadata()["structure"])
            arrays = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        normalizer = Normalizer.from_dataset(dataset_from_arrays(arrays, structure))
        ekman_model = None
        if _EKMAN in checksums:
            with safe_open(str(path / _EKMAN), framework="numpy") as f:
                structure = json.loads(f.metadata()["structure"])
                arrays = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
            ekman_model = EkmanModel(dataset_from_arrays(arrays, structure))
        prior = cls(document["config"], normalizer, weights=weights, land_mask=land_mask,
                    metadata=document.get("metadata", {}), ekman_model=ekman_model)
        prior.path = path
        return prior


_CACHE: dict[tuple[str, ...], Prior] = {}
_CACHE_LOCK = threading.Lock()


def remember_prior(key: tuple[str, ...], build: Callable[[], Prior]) -> Prior:
    """The prior cached under ``key`` in this process, built by ``build()`` the first time.

    The one cache of priors of a process: saved priors by path (:func:`cached_prior`)
    and in-memory priors rebuilt by dask workers, by id.
    """
    with _CACHE_LOCK:
        prior = _CACHE.get(key)
        if prior is None:
            prior = build()
            _CACHE[key] = prior
    return prior


def cached_prior(path_or_prior: str | os.PathLike[str] | Prior) -> Prior:
    """A :class:`Prior`, loaded at most once per process for a given path.

    Dask tasks refer to a saved prior by its path; each worker process loads it once,
    so weights never travel in the task graph.

    Parameters
    ----------
    path_or_prior : path or Prior
        A saved prior directory (loaded and cached; reloaded if its files change),
        the string ``"demo"`` for the bundled demo prior, or a ``Prior`` (returned as is).
    """
    if isinstance(path_or_prior, Prior):
        return path_or_prior
    if str(path_or_prior) == "demo":
        path_or_prior = demo_prior_path()
    path = Path(path_or_prior).expanduser().resolve()
    config = path / _CONFIG
    stamp = config.stat().st_mtime if config.exists() else 0.0
    return remember_prior(("path", str(path), repr(stamp)), lambda: Prior.load(path))


def clear_prior_cache() -> None:
    """Forget every prior cached in this process."""
    with _CACHE_LOCK:
        _CACHE.clear()


def demo_prior_path(snapshot: bool = False) -> Path:
    """Directory of the demo prior shipped with xgenda (``snapshot=True``: the snapshot
    demo prior of one day)."""
    return Path(str(files("xgenda") / "assets" /
                    ("demo_prior_snapshot" if snapshot else "demo_prior")))


def load_demo_prior(snapshot: bool = False) -> Prior:
    """The small prior shipped with xgenda (toy ocean, 64x64, ssh/sst/sss/u/v).

    It is a window (space-time) prior of 3 consecutive days (``frames == 3``), with the
    configuration recommended for it in its metadata. ``snapshot=True`` loads the
    earlier snapshot prior of one day instead (``frames == 1``): GenDA's kind of prior,
    the one that takes known channels (winds) and total-current observations of a
    decomposed state, and a third of the network input. See
    ``xgenda/assets/demo_prior/MODEL_CARD.md`` (and ``demo_prior_snapshot/``) for how
    each was trained and how good it is.
    """
    path = demo_prior_path(snapshot)
    if not (path / _CONFIG).exists():
        raise FileNotFoundError(f"the demo prior is missing from this installation ({path}); "
                                "reinstall xgenda or train one with `xgenda train`")
    return Prior.load(path)


# -- helpers -------------------------------------------------------------------------
def _refuse_pickle(path: Path) -> None:
    candidates = [path] if path.is_file() else [p for p in path.iterdir() if p.is_file()]
    if path.is_dir() and (path / _CONFIG).exists():
        return
    for file in candidates:
        with file.open("rb") as f:
            head = f.read(4)
        is_zip = head[:4] == b"PK\x03\x04"  # torch.save writes a zip of pickles
        is_pickle = head[:1] == b"\x80"  # pickle protocol >= 2
        if file.suffix.lower() in _PICKLE_SUFFIXES or is_zip or is_pickle:
            raise ValueError(
                f"{file} is a pickle-based checkpoint (torch.save / pickle); xgenda never loads "
                "pickles because unpickling can run arbitrary code. Load it yourself only if you "
                "trust its source, then save it as safetensors + JSON with Prior.save(dir)."
            )


def _weights_bytes(weights: Mapping[str, torch.Tensor], land_mask: np.ndarray | None) -> bytes:
    tensors = {f"net.{k}": v.detach().to("cpu").contiguous() for k, v in weights.items()}
    if land_mask is not None:
        tensors["land_mask"] = torch.as_tensor(np.asarray(land_mask, dtype=np.float32))
    return save(tensors, metadata={"format": FORMAT})
