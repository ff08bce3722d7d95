"""Training checkpoints without pickle: tensors in safetensors, the rest in JSON.

A checkpoint directory holds::

    state.safetensors       model.*, ema.* weights, optim.<param>.<key> Adam moments,
                            rng.* torch generator states, land_seen
    normalizer.safetensors  the Normalizer fitted on the training period
    state.json              step, images seen, config, optimizer hyper-parameters,
                            numpy RNG state, loss history, elapsed time, checksums

``state.json`` is written last (after an atomic rename of each file), so a run
killed while writing leaves the previous checkpoint readable or fails the checksum.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import load_file, save_file

from xgenda.io import dataset_from_arrays, dataset_to_arrays, json_default, sha256

__all__ = ["TrainingState", "has_checkpoint", "read_checkpoint", "write_checkpoint"]

_STATE = "state.safetensors"
_NORMALIZER = "normalizer.safetensors"
_JSON = "state.json"


@dataclass
class TrainingState:
    """Everything needed to continue a run exactly where it stopped."""

    step: int
    images_seen: int
    model: dict[str, torch.Tensor]
    ema: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    numpy_rng: dict[str, Any]
    torch_rng: torch.Tensor
    loss_rng: torch.Tensor
    land_seen: np.ndarray | None
    normalizer_stats: Any  # xarray.Dataset
    info: dict[str, Any] = field(default_factory=dict)


def has_checkpoint(directory: str | os.PathLike[str] | None) -> bool:
    """Whether ``directory`` holds a checkpoint."""
    return directory is not None and (Path(directory) / _JSON).exists()


def write_checkpoint(directory: str | os.PathLike[str], state: TrainingState) -> Path:
    """Write ``state`` to ``directory`` (created if needed); returns the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    tensors.update({f"model.{k}": v.detach().cpu().contiguous() for k, v in state.model.items()})
    tensors.update({f"ema.{k}": v.detach().cpu().contiguous() for k, v in state.ema.items()})
    scalars: dict[str, dict[str, Any]] = {}
    for index, entries in state.optimizer["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[key] = value
    tensors["rng.torch"] = state.torch_rng.cpu()
    tensors["rng.loss"] = state.loss_rng.cpu()
    if state.land_seen is not None:
        tensors["land_seen"] = torch.as_tensor(np.asarray(state.land_seen, dtype=np.float32))
    _atomic(directory / _STATE, lambda p: save_file(tensors, str(p)))
    arrays, structure = dataset_to_arrays(state.normalizer_stats)
    _atomic(directory / _NORMALIZER, lambda p: save_numpy(
        arrays, str(p), metadata={"structure": json.dumps(structure)}))
    document = {
        "format": "xgenda-training-checkpoint", "step": state.step,
        "images_seen": state.images_seen,
        "optimizer": {"param_groups": state.optimizer["param_groups"], "scalars": scalars},
        "numpy_rng": state.numpy_rng, "info": state.info,
        "checksums": {name: sha256(directory / name) for name in (_STATE, _NORMALIZER)},
    }
    text = json.dumps(document, indent=1, default=json_default)
    _atomic(directory / _JSON, lambda p: p.write_text(text))
    return directory


def read_checkpoint(directory: str | os.PathLike[str]) -> TrainingState:
    """Read a checkpoint written by :func:`write_checkpoint`, verifying checksums."""
    directory = Path(directory)
    if not has_checkpoint(directory):
        raise FileNotFoundError(f"no training checkpoint in {directory} (no {_JSON})")
    document = json.loads((directory / _JSON).read_text())
    for name, expected in document["checksums"].items():
        if sha256(directory / name) != expected:
            raise ValueError(f"checkpoint file {directory / name} does not match the checksum "
                             f"in {_JSON}: it is corrupt or from another run")
    tensors = load_file(str(directory / _STATE))
    model = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    ema = {k[4:]: v for k, v in tensors.items() if k.startswith("ema.")}
    optim_state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            optim_state.setdefault(int(index), {})[name] = value
    for index, entries in document["optimizer"]["scalars"].items():
        optim_state.setdefault(int(index), {}).update(entries)
    groups = document["optimizer"]["param_groups"]
    for group in groups:
        if "betas" in group:
            group["betas"] = tuple(group["betas"])
    with safe_open(str(directory / _NORMALIZER), framework="numpy") as f:
        structure = json.loads(f.metadata()["structure"])
        arrays = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    land = tensors.get("land_seen")
    return TrainingState(
        step=int(document["step"]), images_seen=int(document["images_seen"]),
        model=model, ema=ema,
        optimizer={"state": optim_state, "param_groups": groups},
        numpy_rng=document["numpy_rng"], torch_rng=tensors["rng.torch"],
        loss_rng=tensors["rng.loss"], land_seen=None if land is None else land.numpy(),
        normalizer_stats=dataset_from_arrays(arrays, structure), info=document["info"],
    )


def _atomic(target: Path, write: Any) -> None:
    tmp = target.with_name(target.name + ".tmp")
    write(tmp)
    os.replace(tmp, target)


def strip_prefix(tensors: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Keys of ``tensors`` without ``prefix`` (e.g. ``_orig_mod.`` of torch.compile)."""
    return {k.removeprefix(prefix): v for k, v in tensors.items()}
