"""Scores of several reconstructions against a gridded truth and withheld observations.

:func:`evaluate` is what ``xgenda evaluate`` computes, for any caller: each
reconstruction (an ensemble with a ``member`` dim, or a single map) is scored

- against a gridded truth with :func:`~xgenda.diagnostics.summary.score_summary`, at
  the times the two share; nothing is interpolated: the grids must be the same;
- against withheld observations: the ODC along-track SSH scores of a withheld
  altimeter (``withheld["nadir"]``) and the current errors at withheld drifters
  (``withheld["drifters"]``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import xarray as xr

from xgenda.diagnostics._common import check_same_grid
from xgenda.diagnostics.alongtrack import alongtrack_rmse_scores
from xgenda.diagnostics.dynamics import drifter_errors
from xgenda.diagnostics.summary import COLUMNS, score_summary
from xgenda.variables import unit_conversion

__all__ = ["ALONGTRACK_VARIABLE", "TIME_TOLERANCE", "Evaluation", "evaluate"]

ALONGTRACK_VARIABLE = "ssh"
TIME_TOLERANCE = "12h"
"""Along-track points up to this long outside a map's first/last time step take that
step's value (daily maps stamped at midnight cover the half day around them)."""


class Evaluation(NamedTuple):
    """Result of :func:`evaluate`.

    Attributes
    ----------
    scores : DataFrame or None
        Rows ``(method, variable)``, the columns of
        :data:`~xgenda.diagnostics.summary.COLUMNS` (against the truth, or only the
        drifter errors without one); None when nothing was scored.
    alongtrack : DataFrame or None
        Rows ``method``: ``variable``, ``mu``, ``sigma``, ``rmse``, ``units``,
        ``n_obs`` along the withheld altimeter; None without one.
    scored_times : dict
        Per reconstruction, the times (DatetimeIndex) it shares with the truth.
    notes : list of str
        What the caller may want to tell (partial time overlap, no point scored).
    """

    scores: pd.DataFrame | None
    alongtrack: pd.DataFrame | None
    scored_times: dict[str, pd.Index]
    notes: list[str]


def evaluate(reconstructions: Mapping[str, xr.Dataset], truth: xr.Dataset | None = None,
             withheld: Mapping[str, xr.Dataset] | None = None,
             variables: Sequence[str] | None = None) -> Evaluation:
    """Score reconstructions against a gridded truth and/or withheld observations.

    Parameters
    ----------
    reconstructions : mapping of name to Dataset
        Maps (dims ``time``, ``lat``, ``lon``) or ensembles (plus ``member``), physical
        units.
    truth : Dataset, optional
        Gridded truth on the same grid; scored at the times shared (exact stamps).
    withheld : mapping, optional
        Withheld observations: ``"nadir"`` (points with ``ssh``) and/or ``"drifters"``
        (points with ``u``, ``v``), as in the ``withheld`` group of an OSSE tree.
    variables : sequence of str, optional
        Variables to score (default: every variable that applies).

    Returns
    -------
    Evaluation

    Raises
    ------
    ValueError
        When nothing can be scored, or grids, units or times do not match.
    """
    withheld = dict(withheld or {})
    wanted = _requested_variables(reconstructions, truth, variables)
    scored_times: dict[str, pd.Index] = {}
    notes: list[str] = []
    if truth is not None:
        table = _truth_scores(reconstructions, truth, withheld.get("drifters"), wanted,
                              scored_times, notes)
    else:
        table = _drifter_scores(reconstructions, withheld.get("drifters"), wanted)
    along = _alongtrack_scores(reconstructions, withheld.get("nadir"), wanted, notes)
    if table is None and along is None:
        raise ValueError(_nothing_scored(reconstructions, withheld, wanted))
    return Evaluation(table, along, scored_times, notes)


def _requested_variables(recs: Mapping[str, xr.Dataset], truth: xr.Dataset | None,
                         variables: Sequence[str] | None) -> list[str] | None:
    """``variables`` checked against the inputs (None: every variable that applies)."""
    if variables is None:
        return None
    have = {str(v) for data in recs.values() for v in data.data_vars}
    for var in variables:
        if var not in have:
            raise ValueError(f"no reconstruction has variable {var!r}; they have "
                             f"{sorted(have)}")
        if truth is not None and var not in truth.data_vars:
            raise ValueError(f"the truth has no variable {var!r}; it has "
                             f"{sorted(map(str, truth.data_vars))}")
    return list(dict.fromkeys(variables))


def _truth_scores(recs: Mapping[str, xr.Dataset], truth: xr.Dataset, drifters: Any,
                  wanted: list[str] | None, scored_times: dict[str, pd.Index],
                  notes: list[str]) -> pd.DataFrame:
    frames = []
    for name, data in recs.items():
        variables = [v for v in (wanted or map(str, truth.data_vars))
                     if v in data.data_vars and v in truth.data_vars]
        if not variables:
            raise ValueError(
                f"reconstruction {name!r} (variables {sorted(map(str, data.data_vars))}"
                f") and the truth (variables {sorted(map(str, truth.data_vars))}) share no "
                "variable to score")
        data, reference = _on_truth_times(name, data, truth[variables], scored_times, notes)
        _check_same_grid(name, data, reference)
        _check_units(name, data, reference, variables)
        frames.append(score_summary({name: data}, reference, variables, drifters=drifters))
    return pd.concat(frames)


def _on_truth_times(name: str, data: xr.Dataset, truth: xr.Dataset,
                    scored_times: dict[str, pd.Index], notes: list[str]
                    ) -> tuple[xr.Dataset, xr.Dataset]:
    """The reconstruction and the truth at the times they share (exact time stamps)."""
    if "time" not in truth.dims:
        return data, truth
    if "time" not in data.dims:
        raise ValueError(f"the truth has a 'time' dim but reconstruction {name!r} has "
                         f"none (dims {dict(data.sizes)}); select the truth's time first")
    ours, theirs = data.indexes["time"], truth.indexes["time"]
    common = ours.intersection(theirs)
    if len(common) == 0:
        raise ValueError(
            f"reconstruction {name!r} ({time_span(ours)}) and the truth ({time_span(theirs)}) "
            "share no time; time stamps must match exactly (give the truth of the "
            "reconstruction's period)")
    if len(common) < len(ours):
        notes.append(f"{name}: the truth covers {len(common)} of its {len(ours)} times; "
                     "scoring those")
    scored_times[name] = common
    return data.sel(time=common), truth.sel(time=common)


def _check_same_grid(name: str, data: xr.Dataset, truth: xr.Dataset) -> None:
    try:
        check_same_grid(data, truth)
    except ValueError as err:
        raise ValueError(f"{name}: {err} (and save it); nothing is interpolated "
                         "silently") from err


def _check_units(name: str, data: xr.Dataset, truth: xr.Dataset, variables: list[str]
                 ) -> None:
    for var in variables:
        ours, theirs = data[var].attrs.get("units"), truth[var].attrs.get("units")
        if ours is None or theirs is None or ours == theirs:
            continue
        try:
            same = unit_conversion(str(ours), str(theirs), variable=var) == (1.0, 0.0)
        except ValueError:
            same = False
        if not same:
            raise ValueError(f"{var!r} is in {ours!r} in reconstruction {name!r} but in "
                             f"{theirs!r} in the truth; convert one of them first (e.g. "
                             ".genda.standardize() gives canonical units)")


def _drifter_scores(recs: Mapping[str, xr.Dataset], drifters: Any,
                    wanted: list[str] | None) -> pd.DataFrame | None:
    """Drifter RMSE rows in the layout of :func:`score_summary` (no gridded truth)."""
    if drifters is None:
        return None
    rows = []
    for name, data in recs.items():
        if not {"u", "v"} <= set(data.data_vars):
            continue
        err = drifter_errors(data[["u", "v"]], drifters)
        for var in ("u", "v"):
            if wanted is not None and var not in wanted:
                continue
            row: dict[str, Any] = {"method": name, "variable": var, "units": "m s-1"}
            row.update(dict.fromkeys(COLUMNS, np.nan))
            row[f"drifter_rmse_{var}"] = float(err[f"rmse_{var}"])
            rows.append(row)
    return pd.DataFrame(rows).set_index(["method", "variable"]) if rows else None


def _alongtrack_scores(recs: Mapping[str, xr.Dataset], nadir: Any, wanted: list[str] | None,
                       notes: list[str]) -> pd.DataFrame | None:
    """ODC along-track scores of SSH (ensemble mean) at the withheld altimeter."""
    var = ALONGTRACK_VARIABLE
    if nadir is None or (wanted is not None and var not in wanted):
        return None
    if var not in nadir.data_vars:
        raise ValueError(f"withheld/nadir has no {var!r} (variables "
                         f"{sorted(map(str, nadir.data_vars))})")
    rows = []
    for name, data in recs.items():
        if var not in data.data_vars:
            continue
        s = alongtrack_rmse_scores(data[[var]], nadir, var, time_tolerance=TIME_TOLERANCE)
        rows.append({"method": name, "variable": var, "mu": float(s["mu"]),
                     "sigma": float(s["sigma"]), "rmse": float(s["rmse"]),
                     "units": str(s["rmse"].attrs.get("units", "")),
                     "n_obs": int(s["n_obs"])})
        if rows[-1]["n_obs"] == 0:
            notes.append(f"{name}: no withheld altimeter point falls inside its grid and "
                         "time span; along-track scores are NaN")
    return pd.DataFrame(rows).set_index("method") if rows else None


def _nothing_scored(recs: Mapping[str, xr.Dataset], withheld: Mapping[str, Any],
                    wanted: list[str] | None) -> str:
    have = sorted({str(v) for data in recs.values() for v in data.data_vars})
    asked = f" among variables {wanted}" if wanted is not None else ""
    return (f"nothing to score{asked}: the reconstructions have {have}; the withheld "
            f"observations ({sorted(withheld)}) score {ALONGTRACK_VARIABLE!r} along nadir "
            "tracks and 'u', 'v' at drifters; give a gridded truth (truth=..., --truth on the "
            "command line) for gridded scores")


def time_span(index: pd.Index) -> str:
    """``"first .. last, n times"`` of a time index (``"no time"`` when empty)."""
    if len(index) == 0:
        return "no time"
    first, last = (str(t)[:19] for t in (index.min(), index.max()))
    return f"{first} .. {last}, {len(index)} times"
