"""Input checks shared by the diagnostics: variable selection, grid matching, dims."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

import numpy as np
import xarray as xr

MEMBER = "member"


def get_var(obj: xr.Dataset | xr.DataArray, var: Hashable | None, *, what: str = "dataset"
            ) -> xr.DataArray:
    """The DataArray ``var`` of a Dataset (or ``obj`` itself when it is a DataArray).

    With ``var=None`` a Dataset must hold exactly one data variable.
    """
    if isinstance(obj, xr.DataArray):
        if var is not None and obj.name is not None and obj.name != var:
            raise ValueError(f"{what} is the DataArray {obj.name!r}, but variable {var!r} "
                             "was asked for; pass the Dataset, or var=None")
        return obj
    if var is None:
        names = list(obj.data_vars)
        if len(names) != 1:
            raise ValueError(f"{what} has data variables {names}; say which one to use "
                             "(e.g. var='ssh')")
        var = names[0]
    if var not in obj.data_vars:
        raise ValueError(f"{what} has no variable {var!r}; found {sorted(map(str, obj.data_vars))}")
    return obj[var]


def require_dims(da: xr.DataArray, dims: Iterable[Hashable], *, what: str = "data") -> None:
    """Raise a clear error unless every dim of ``dims`` is a dimension of ``da``."""
    missing = [d for d in dims if d not in da.dims]
    if missing:
        raise ValueError(f"{what} {da.name!r} lacks dimension(s) {missing}; it has dims "
                         f"{da.dims}. Rename them (e.g. .genda.standardize()) or choose other dims")


def check_same_grid(a: xr.DataArray | xr.Dataset, b: xr.DataArray | xr.Dataset, *,
                    names: tuple[str, str] = ("reconstruction", "truth"),
                    dims: Sequence[str] = ("lat", "lon")) -> None:
    """Raise unless ``a`` and ``b`` share the same ``dims`` coordinates (to 1e-6 degree)."""
    for d in dims:
        if d not in a.coords or d not in b.coords:
            who = names[0] if d not in a.coords else names[1]
            raise ValueError(f"{who} has no {d!r} coordinate; both {names[0]} and {names[1]} "
                             f"need {list(dims)}")
        va, vb = np.asarray(a[d].values, dtype=float), np.asarray(b[d].values, dtype=float)
        if va.shape != vb.shape or not np.allclose(va, vb, rtol=0, atol=1e-6):
            raise ValueError(
                f"{names[0]} and {names[1]} are on different grids along {d!r} "
                f"({va.size} points in [{va.min():g}, {va.max():g}] vs {vb.size} in "
                f"[{vb.min():g}, {vb.max():g}]); regrid one onto the other first: "
                f"{names[0]}.genda.regrid({names[1]})"
            )


def align_time(a: xr.DataArray, b: xr.DataArray, *, names: tuple[str, str] = (
        "reconstruction", "truth")) -> tuple[xr.DataArray, xr.DataArray]:
    """Keep the times common to both (inner join); error when none are shared."""
    if "time" not in a.dims or "time" not in b.dims:
        return a, b
    a2, b2 = xr.align(a, b, join="inner", exclude=[d for d in set(a.dims) | set(b.dims)
                                                   if d != "time"])
    if a2.sizes["time"] == 0:
        raise ValueError(f"{names[0]} and {names[1]} share no time: {names[0]} spans "
                         f"{a.time.values.min()}..{a.time.values.max()}, {names[1]} "
                         f"{b.time.values.min()}..{b.time.values.max()}")
    return a2, b2


def ensemble_mean(da: xr.DataArray) -> xr.DataArray:
    """Mean over ``member`` when present (the map an ensemble is scored as)."""
    return da.mean(MEMBER, keep_attrs=True) if MEMBER in da.dims else da


def as_tuple(dims: str | Iterable[str] | None) -> tuple[str, ...]:
    if dims is None:
        return ()
    if isinstance(dims, str):
        return (dims,)
    return tuple(dims)


def units_of(da: xr.DataArray) -> str:
    return str(da.attrs.get("units", "1"))
