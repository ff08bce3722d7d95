"""Split surface currents into geostrophic, Ekman and residual parts, and back.

``u = u_geo + u_ek + u_res`` (and the same for ``v``), where ``u_geo`` is the
geostrophic current of the sea surface height, ``u_ek`` the Ekman current of the
wind predicted by a fitted :class:`~xgenda.currents.EkmanModel`, and ``u_res`` the
remainder: the "ageostrophic eddy" current that GenDA's prior learns. The
residual is defined as the remainder, so the sum is exact, and a state made of
``ssh``, winds and ``u_res``, ``v_res`` (e.g. an assimilation ensemble) gives the
total current back with :func:`recompose_currents`.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import xarray as xr

from xgenda.currents._inputs import (
    at_times,
    geostrophic_part,
    has_wind,
    on_grid,
    require_variables,
)
from xgenda.currents.ekman import EkmanModel
from xgenda.grid import check_grid
from xgenda.variables import CURRENT_PARTS, VARIABLES

__all__ = ["COMPONENTS", "decompose_currents", "recompose_currents"]

COMPONENTS: dict[str, dict[str, str]] = CURRENT_PARTS
"""Names and CF attributes of the parts of the current."""

_IDENTITY = "u = u_geo + u_ek + u_res, v = v_geo + v_ek + v_res"


def decompose_currents(
    ds: xr.Dataset,
    ekman_model: EkmanModel,
    ssh: str = "ssh",
    *,
    wind: xr.Dataset | None = None,
) -> xr.Dataset:
    """Add the geostrophic, Ekman and residual parts of the surface current.

    Adds ``u_geo``, ``v_geo`` (geostrophic current of ``ssh``, from
    :func:`xgenda.diagnostics.dynamics.geostrophic_currents`), ``u_ek``, ``v_ek``
    (``ekman_model.predict(wind)``) and ``u_res = u - u_geo - u_ek``,
    ``v_res = v - v_geo - v_ek``, so that ``u = u_geo + u_ek + u_res`` holds to
    floating-point rounding wherever ``u`` is defined. Where a part is undefined
    (the geostrophic current near the equator, at land and domain edges; the Ekman
    current outside the fitted pixels) it is 0 and the residual carries that
    current. Lazy on dask-backed input.

    Parameters
    ----------
    ds : Dataset
        ``u``, ``v`` (m s-1), ``ssh`` (m), dims ``(..., lat, lon)`` (e.g. ``time``,
        ``member``), and the winds ``uwind``, ``vwind`` (m s-1) or ``tau_x``,
        ``tau_y`` (N m-2) unless ``wind`` is given.
    ekman_model : EkmanModel
        From :func:`xgenda.currents.fit_ekman`, on the grid of ``ds`` (or a domain fit).
    ssh : str
        Name of the sea surface height variable.
    wind : Dataset, optional
        Winds (or stress) covering the times of ``ds``; regridded bilinearly onto
        the grid of ``ds`` when on another grid. Defaults to the winds in ``ds``.

    Returns
    -------
    Dataset
        ``ds`` with ``u_geo``, ``v_geo``, ``u_ek``, ``v_ek``, ``u_res``, ``v_res``.
    """
    require_variables(ds, ("u", "v", ssh), "ds",
                      "decompose_currents needs the current u, v (m s-1) and the sea "
                      f"surface height {ssh!r} (m)")
    parts = _geostrophic_and_ekman(ds, ekman_model, ssh, wind, defined=ds["u"])
    u_res = ds["u"] - parts["u_geo"] - parts["u_ek"]
    v_res = ds["v"] - parts["v_geo"] - parts["v_ek"]
    out = ds.assign({**parts, "u_res": u_res.transpose(*_order(ds["u"], u_res)),
                     "v_res": v_res.transpose(*_order(ds["v"], v_res))})
    for name, attrs in COMPONENTS.items():
        if name in ("u_res", "v_res"):
            out[name].attrs = dict(attrs)
    out.attrs = {**ds.attrs, "current_decomposition": _IDENTITY,
                 **_model_summary(ekman_model)}
    return out


def recompose_currents(
    ds: xr.Dataset,
    ekman_model: EkmanModel,
    ssh: str = "ssh",
    *,
    wind: xr.Dataset | None = None,
) -> xr.Dataset:
    """Total current ``u = u_geo(ssh) + u_ek(wind) + u_res``: the inverse of
    :func:`decompose_currents`.

    Usable on assimilation ensembles: with a ``member`` dim each member is
    recomposed with the geostrophic current of its own ``ssh``; winds without the
    ``member`` dim broadcast over members. Parts are 0 where undefined, exactly as
    in :func:`decompose_currents`, so decomposing then recomposing gives ``u`` back
    to floating-point rounding. Lazy on dask-backed input.

    Parameters
    ----------
    ds : Dataset
        ``ssh`` (m), ``u_res``, ``v_res`` (m s-1), dims ``(..., lat, lon)`` (e.g.
        ``member``, ``time``), and the winds ``uwind``, ``vwind`` (m s-1) or
        ``tau_x``, ``tau_y`` (N m-2) unless ``wind`` is given.
    ekman_model : EkmanModel
        The model used for the decomposition.
    ssh : str
        Name of the sea surface height variable.
    wind : Dataset, optional
        Winds covering the times of ``ds`` (e.g. the analysis winds when the
        ensemble does not carry them).

    Returns
    -------
    Dataset
        ``ds`` with the total ``u``, ``v`` (replacing any present) and the parts
        ``u_geo``, ``v_geo``, ``u_ek``, ``v_ek``.
    """
    require_variables(ds, ("u_res", "v_res", ssh), "ds",
                      "recompose_currents needs the residual current u_res, v_res (m s-1) "
                      f"and the sea surface height {ssh!r} (m)")
    parts = _geostrophic_and_ekman(ds, ekman_model, ssh, wind, defined=ds["u_res"])
    u = parts["u_geo"] + parts["u_ek"] + ds["u_res"]
    v = parts["v_geo"] + parts["v_ek"] + ds["v_res"]
    u = u.transpose(*_order(ds["u_res"], u)).rename("u")
    v = v.transpose(*_order(ds["v_res"], v)).rename("v")
    u.attrs = {**VARIABLES["u"].attrs, "comment": "recomposed as u_geo + u_ek + u_res"}
    v.attrs = {**VARIABLES["v"].attrs, "comment": "recomposed as v_geo + v_ek + v_res"}
    out = ds.assign({**parts, "u": u, "v": v})
    out.attrs = {**ds.attrs, "current_decomposition": _IDENTITY,
                 **_model_summary(ekman_model)}
    return out


def _geostrophic_and_ekman(
    ds: xr.Dataset, model: Any, ssh: str, wind: xr.Dataset | None, *, defined: xr.DataArray
) -> dict[str, xr.DataArray]:
    """``u_geo``, ``v_geo``, ``u_ek``, ``v_ek``, each 0 where undefined but ``defined`` is
    not NaN."""
    if not isinstance(model, EkmanModel):
        raise TypeError(f"ekman_model must be an xgenda.currents.EkmanModel (from fit_ekman "
                        f"or EkmanModel.open), got {type(model).__name__}")
    check_grid(ds, what="ds")
    if not model.matches_grid(ds):
        c = model.coefficients
        raise ValueError(
            f"the Ekman model was fitted on another grid ({c.sizes['lat']} lat x "
            f"{c.sizes['lon']} lon) than ds ({ds.sizes['lat']} lat x {ds.sizes['lon']} lon); "
            "regrid ds onto the model's grid (ds.genda.regrid(model.coefficients)) or fit "
            "the model on this grid"
        )
    if wind is None:
        if not has_wind(ds):
            raise ValueError(
                f"ds has no winds (uwind, vwind or tau_x, tau_y; it has "
                f"{sorted(map(str, ds.data_vars))}); add them to ds or pass wind=..."
            )
        wind = ds
    else:
        if not isinstance(wind, xr.Dataset) or not has_wind(wind):
            found = sorted(map(str, wind.data_vars)) if isinstance(wind, xr.Dataset) else \
                type(wind).__name__
            raise ValueError(f"wind must be a Dataset with uwind, vwind (m s-1) or tau_x, "
                             f"tau_y (N m-2); got {found}")
        wind = on_grid(wind, ds, what="wind", target_what="ds")
        wind = at_times(wind, ds, what="wind", reference_what="ds")
    u_geo, v_geo = geostrophic_part(ds, ssh, defined)
    ek = model.predict(wind)
    parts = {"u_geo": u_geo, "v_geo": v_geo}
    for name in ("u_ek", "v_ek"):
        part = ek[name].fillna(0.0).where(defined.notnull())
        if "time" in ds.coords and "time" in part.dims:
            part = part.assign_coords(time=ds["time"])
        part.attrs = {**COMPONENTS[name],
                      "comment": "Ekman model prediction; 0 where the model is undefined"}
        parts[name] = part
    for name in ("u_geo", "v_geo"):
        parts[name].attrs = {**COMPONENTS[name],
                             **{k: v for k, v in parts[name].attrs.items()
                                if k not in COMPONENTS[name]}}
    return {k: p.transpose(*_order(defined, p)) for k, p in parts.items()}


def _order(reference: xr.DataArray, result: xr.DataArray) -> list[Hashable]:
    """Dims of ``result`` in the order of ``reference`` first, then any new ones."""
    return [*reference.dims, *(d for d in result.dims if d not in reference.dims)]


def _model_summary(model: EkmanModel) -> dict[str, Any]:
    a = model.coefficients.attrs
    return {"ekman_model": f"{a.get('model', '')}; region {a.get('region', '')}; predictor "
                           f"{a.get('predictor', '')}; trained {a.get('training_start', '')}"
                           f" .. {a.get('training_end', '')}"}
