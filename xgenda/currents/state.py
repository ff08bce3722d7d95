"""The decomposed ocean state as prior channels, and winds as observations.

GenDA's prior models seven channels: ``ssh``, ``sst``, ``sss``, the residual current
``u_res``, ``v_res`` and the 10 m winds ``uwind``, ``vwind``; at inference the winds
are "observed" everywhere with a small error and the total current of every member
is then recomposed from its own SSH, the winds and its residual current
(:func:`xgenda.currents.recompose_currents`). This module builds the training state
and the wind observations in xgenda's conventions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from xgenda.currents._inputs import require_variables
from xgenda.currents.decompose import decompose_currents
from xgenda.currents.ekman import EkmanModel
from xgenda.variables import VARIABLES

__all__ = ["GENDA_STATE", "is_decomposed_state", "training_state", "wind_observations",
           "without_ekman"]

GENDA_STATE: tuple[str, ...] = ("ssh", "sst", "sss", "u_res", "v_res", "uwind", "vwind")
"""Channels of GenDA's prior, in its order."""


def is_decomposed_state(variables: Sequence[str]) -> bool:
    """Whether a prior's channels hold the residual current (so that its total current
    has to be recomposed with :func:`xgenda.currents.recompose_currents`)."""
    return "u_res" in variables and "v_res" in variables


def training_state(
    ds: xr.Dataset,
    ekman_model: EkmanModel,
    variables: Sequence[str] = GENDA_STATE,
    *,
    ssh: str = "ssh",
) -> xr.Dataset:
    """The channels a prior of the decomposed state is trained on (lazy).

    Parameters
    ----------
    ds : Dataset
        Model/reanalysis fields ``ssh``, ``u``, ``v``, the winds ``uwind``, ``vwind``
        and the other variables of ``variables``, dims ``(time, lat, lon)``.
    ekman_model : EkmanModel
        Fitted on (a training period of) ``ds``, see :func:`xgenda.currents.fit_ekman`.
    variables : sequence of str
        Channels in order; default GenDA's seven (:data:`GENDA_STATE`).
    ssh : str
        Name of the sea surface height.

    Returns
    -------
    Dataset
        Exactly ``variables``, with ``u_res``, ``v_res`` from
        :func:`xgenda.currents.decompose_currents`; give it to ``xgenda.train`` with
        ``TrainConfig(variables=list(variables))``.
    """
    variables = list(variables)
    derived = {"u_geo", "v_geo", "u_ek", "v_ek", "u_res", "v_res"}
    direct = [v for v in variables if v not in derived]
    require_variables(ds, direct, "ds",
                      "the prior's channels other than the current parts come from ds")
    if derived & set(variables):
        ds = decompose_currents(ds, ekman_model, ssh=ssh)
    out = ds[variables]
    out.attrs = {**ds.attrs, "channels": " ".join(variables)}
    return out


def wind_observations(
    wind: xr.Dataset,
    error: float = 0.2,
    *,
    name: str = "wind",
) -> xr.Dataset:
    """10 m winds as a fully observed ``grid`` observation set for the assimilation.

    Parameters
    ----------
    wind : Dataset
        ``uwind``, ``vwind`` (m s-1), dims ``(time, lat, lon)``, e.g. ERA5 on the
        analysis grid; NaN where unobserved.
    error : float
        Observation error standard deviation in m s-1, the same for both components.
        A small value makes the winds near-exact conditioning, as in GenDA.

    Returns
    -------
    Dataset
        ``uwind``, ``vwind``, ``uwind_error``, ``vwind_error`` with
        ``attrs["genda_obs"] = "grid"``: a leaf for the observation DataTree (or a
        member of the list) given to ``assimilate``. Lazy on dask input.
    """
    require_variables(wind, ("uwind", "vwind"), "wind",
                      "give the 10 m wind in m s-1 (run .genda.standardize() to rename u10/v10)")
    if not (np.isfinite(error) and error > 0):
        raise ValueError(f"the wind observation error must be a positive std in m s-1, "
                         f"got {error!r}")
    out = xr.Dataset(attrs={"genda_obs": "grid", "name": name,
                            "comment": "10 m winds observed everywhere (conditioning)"})
    for v in ("uwind", "vwind"):
        da = wind[v]
        attrs = {**VARIABLES[v].attrs, **{k: a for k, a in da.attrs.items()
                                          if k == "units"}}
        out[v] = da.assign_attrs(attrs)
        out[f"{v}_error"] = xr.DataArray(
            float(error), attrs={"long_name": f"{v} observation error standard deviation",
                                 "units": "m s-1"})
    return out


def without_ekman(sets: Sequence[Any], ekman_model: EkmanModel, wind: xr.Dataset,
                  ) -> list[Any]:
    """Observation sets of the total current with the Ekman current of ``wind`` removed.

    A prior of the decomposed state sees a total-current observation (drifters, HF
    radar) through ``u_geo(ssh) + u_res``: the Ekman part ``u_ek`` of the wind is
    subtracted from the observed value first. ``u_ek`` is ``ekman_model.predict(wind)``
    at the wind time nearest to each observation (within the wind's time step),
    interpolated bilinearly to the observation's position; 0 where the model is
    undefined, as in :func:`xgenda.currents.decompose_currents`. Lazy on dask input.

    Parameters
    ----------
    sets : sequence of ObservationSet
        Validated (routed) sets; those without ``u``/``v`` pass unchanged.
    ekman_model : EkmanModel
    wind : Dataset
        ``uwind``, ``vwind`` (or ``tau_x``, ``tau_y``) with a ``time`` dim.

    Raises
    ------
    ValueError
        For smoothed (L4) total-current products, winds without times, or
        observations farther from every wind time than the wind's time step.
    """
    out, pred = [], None
    for s in sets:
        observed = [v for v in s.variables if v in ("u", "v")]
        if not observed:
            out.append(s)
            continue
        if s.kind == "smoothed":
            raise ValueError(
                f"smoothed observations {s.name!r} of the total current cannot be compared "
                "with a prior of the decomposed state; give them as 'grid' observations or "
                "leave them out")
        if pred is None:
            if "time" not in wind.dims or wind.sizes["time"] < 1:
                raise ValueError("the winds for the Ekman part of total-current observations "
                                 "need a 'time' dim (at least one time)")
            pred = ekman_model.predict(wind)
        ds = s.data
        index = _nearest_times(pred.indexes["time"], ds["time"].values, s.name)
        dim = "obs" if s.kind == "points" else "time"
        times = xr.DataArray(pred.indexes["time"].values[index], dims=dim)
        if s.kind == "points":
            ek = pred.interp(time=times, lat=ds["lat"].reset_coords(drop=True),
                             lon=ds["lon"].reset_coords(drop=True))
        else:
            ek = pred.sel(time=times).interp(lat=ds["lat"], lon=ds["lon"])
            ek = ek.assign_coords(time=ds["time"])
        new = ds.copy()
        for v in observed:
            scale = float(s.scale.get(v, 1.0))
            part = ek[f"{v}_ek"].fillna(0.0).reset_coords(drop=True) / scale
            if s.kind == "points":
                part = part.assign_coords(obs=ds["obs"]) if "obs" in ds.coords else part
            new[v] = (ds[v] - part).transpose(*ds[v].dims).assign_attrs(
                {**ds[v].attrs, "comment": "Ekman current of the wind removed for the "
                                           "decomposed prior"})
        out.append(replace(s, data=new))
    return out


def _nearest_times(have: Any, wanted: np.ndarray, name: str) -> np.ndarray:
    """Positions in ``have`` of the time nearest to each of ``wanted`` (clear error when
    one is farther than the spacing of ``have``)."""
    wanted = pd.DatetimeIndex(np.asarray(wanted).ravel()) if np.asarray(wanted).size else \
        pd.DatetimeIndex([])
    if len(wanted) == 0:
        return np.zeros(0, np.int64)
    step = np.diff(have.values).max() if len(have) > 1 else np.timedelta64(1, "D")
    index = have.get_indexer(wanted, method="nearest", tolerance=pd.Timedelta(step))
    if (index < 0).any():
        first = wanted[index < 0][0]
        raise ValueError(
            f"the winds ({have.min()} .. {have.max()}) do not cover the total-current "
            f"observations {name!r} (e.g. {first}); give winds for every analysis time "
            "(wind=... of assimilate, or the wind observations)")
    return index
