"""One table of scores for several reconstructions of the same truth.

Used by ``xgenda demo``, ``xgenda evaluate`` and the OSSE benchmark, so that every
report computes its numbers the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from xgenda.diagnostics import dynamics, scores, spectra

__all__ = ["COLUMNS", "score_summary"]

COLUMNS = ("rmse", "mu", "sigma", "lambda_km", "crps", "spread_skill", "drifter_rmse_u",
           "drifter_rmse_v")
"""Columns of :func:`score_summary` (NaN where a score does not apply)."""


def score_summary(
    reconstructions: Mapping[str, xr.Dataset],
    truth: xr.Dataset,
    variables: Sequence[str] | None = None,
    *,
    drifters: xr.Dataset | None = None,
) -> Any:
    """Scores of each reconstruction (map or ensemble) against a gridded truth.

    Parameters
    ----------
    reconstructions : mapping of name to Dataset
        Maps (dims ``time``, ``lat``, ``lon``) or ensembles (plus ``member``), e.g.
        ``{"oi": oi, "xgenda": ens}``; a reconstruction gets a row for each of
        ``variables`` it has.
    truth : Dataset
        Truth on the same grid and times.
    variables : sequence of str, optional
        Default: every variable of ``truth`` present in some reconstruction.
    drifters : Dataset, optional
        Withheld drifters (dim ``obs``, velocities ``u``, ``v``) for the current errors.

    Returns
    -------
    pandas.DataFrame
        Index ``(method, variable)``; columns :data:`COLUMNS` plus ``units``:
        ``rmse`` (units of the variable), ODC ``mu`` and ``sigma``, effective
        resolution ``lambda_km`` (PSD score crossing 0.5), ensemble ``crps`` and
        ``spread_skill`` ratio, and drifter RMSE of ``u``, ``v`` (m s-1).
    """
    if variables is None:
        variables = [str(v) for v in truth.data_vars
                     if any(v in rec.data_vars for rec in reconstructions.values())]
    rows = []
    for method, rec in reconstructions.items():
        ensemble = "member" in rec.dims
        mean = rec.mean("member") if ensemble else rec
        drift = _drifter_scores(dynamics, mean, drifters)
        for var in (v for v in variables if v in rec.data_vars):
            row: dict[str, Any] = {"method": method, "variable": var,
                                   "units": str(truth[var].attrs.get("units", ""))}
            row.update(dict.fromkeys(COLUMNS, np.nan))
            odc = scores.odc_scores(mean[var], truth[var])
            row["rmse"] = float(scores.rmse(mean[var], truth[var]))
            row["mu"] = _pick(odc, "_mu")
            row["sigma"] = _pick(odc, "_sigma")
            row["lambda_km"] = _effective_resolution(spectra, mean, truth, var)
            if ensemble and rec.sizes["member"] > 1:
                row["crps"] = float(scores.crps(rec[var], truth[var]))
                row["spread_skill"] = float(scores.spread_skill_ratio(rec[var], truth[var]))
            if var in ("u", "v"):
                row[f"drifter_rmse_{var}"] = drift.get(var, np.nan)
            rows.append(row)
    return pd.DataFrame(rows).set_index(["method", "variable"])


def _pick(odc: xr.Dataset, suffix: str) -> float:
    names = [k for k in odc.data_vars if str(k).endswith(suffix)]
    return float(odc[names[0]]) if names else float("nan")


def _effective_resolution(spectra: Any, rec: xr.Dataset, truth: xr.Dataset, var: str) -> float:
    try:
        return float(spectra.effective_resolution(rec, truth, var))
    except ValueError:  # the score does not cross 0.5 inside the resolved band
        return float("nan")


def _drifter_scores(dynamics: Any, mean: xr.Dataset, drifters: xr.Dataset | None
                    ) -> dict[str, float]:
    if drifters is None or not {"u", "v"} <= set(mean.data_vars):
        return {}
    err = dynamics.drifter_errors(mean, drifters)
    return {"u": float(err["rmse_u"]), "v": float(err["rmse_v"])}
