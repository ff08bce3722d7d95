"""Datasets as safetensors arrays plus a JSON structure, and file checksums.

A saved prior and a training checkpoint store xarray Datasets (normalizer statistics,
Ekman coefficients) without pickle: the numeric variables as arrays, everything else
(dims, attributes, short non-numeric data) as JSON. Both use these functions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

__all__ = ["dataset_from_arrays", "dataset_to_arrays", "json_default", "sha256"]


def sha256(file: Path) -> str:
    """Hex SHA-256 digest of ``file``; a clear error when the file is missing."""
    if not file.exists():
        raise ValueError(f"saved files are incomplete: {file} is missing")
    h = hashlib.sha256()
    with file.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def json_default(obj: Any) -> Any:
    """JSON form of numpy scalars and arrays, tuples and sets (else their str)."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (tuple, set)):
        return list(obj)
    return str(obj)


def dataset_to_arrays(ds: xr.Dataset) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Split a Dataset into numeric arrays and a JSON structure (dims, attrs, other data)."""
    arrays: dict[str, np.ndarray] = {}
    entries: dict[str, Any] = {}
    for name, var in ds.variables.items():
        values = np.asarray(var.values)
        entry: dict[str, Any] = {"dims": list(var.dims), "attrs": var.attrs,
                                 "coord": name in ds.coords, "shape": list(values.shape)}
        if values.dtype.kind in "fiub":
            arrays[str(name)] = np.ascontiguousarray(values)
            entry["kind"] = "array"
        elif values.dtype.kind in "mM":
            unit = "datetime64[ns]" if values.dtype.kind == "M" else "timedelta64[ns]"
            arrays[str(name)] = np.ascontiguousarray(values.astype(unit).view("int64"))
            entry["kind"] = unit
        else:
            entry["kind"] = "list"
            entry["data"] = values.tolist()
        entries[str(name)] = entry
    return arrays, json.loads(json.dumps({"variables": entries, "attrs": ds.attrs},
                                         default=json_default))


def dataset_from_arrays(arrays: Mapping[str, np.ndarray], structure: Mapping[str, Any]
                        ) -> xr.Dataset:
    """The Dataset split by :func:`dataset_to_arrays`."""
    data_vars: dict[str, xr.Variable] = {}
    coords: dict[str, xr.Variable] = {}
    for name, entry in structure["variables"].items():
        if entry["kind"] == "array":
            values = arrays[name]
        elif entry["kind"] == "list":
            values = np.asarray(entry["data"])
        else:
            values = arrays[name].view(entry["kind"])
        values = np.asarray(values).reshape(entry["shape"])
        target = coords if entry["coord"] else data_vars
        target[name] = xr.Variable(entry["dims"], values, entry["attrs"])
    return xr.Dataset(data_vars, coords=coords, attrs=structure.get("attrs", {}))
