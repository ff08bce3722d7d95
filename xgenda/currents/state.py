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

import numpy as np
import xarray as xr

from xgenda.currents._inputs import require_variables
from xgenda.currents.decompose import decompose_currents
from xgenda.currents.ekman import EkmanModel
from xgenda.variables import VARIABLES

__all__ = ["GENDA_STATE", "is_decomposed_state", "training_state", "wind_observations"]

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
