"""Observation sets: what a user hands to the assimilation, checked once.

Observations come as an :class:`xarray.DataTree` whose leaves carry
``attrs["genda_obs"]`` (``"points"``, ``"grid"`` or ``"smoothed"``), as a list of
Datasets, or as :class:`ObservationSet` objects built with :func:`points`,
:func:`grid` and :func:`smoothed`. :func:`collect` turns any of these into a list
of validated :class:`ObservationSet` (dims, coordinates, variables, units, errors).
No data values are read here except error values of in-memory Datasets.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, cast

import numpy as np
import xarray as xr

from xgenda.config import Window
from xgenda.variables import VARIABLES, unit_conversion

__all__ = ["KINDS", "ObservationSet", "apply_window", "collect", "grid", "points", "smoothed",
           "to_days"]

Kind = Literal["points", "grid", "smoothed"]
KINDS: tuple[str, ...] = ("points", "grid", "smoothed")
#: Error-model fields of :class:`ObservationSet`, read from ``attrs["genda_<name>"]``.
ERROR_MODEL_ATTRS: tuple[str, ...] = ("time_error_growth", "error_correlation_km",
                                      "error_inflation")
# Leaves under a node with one of these names are kept for evaluation, not assimilated.
_EVALUATION_NODES = ("withheld", "evaluation", "validation", "independent")


@dataclass(frozen=True)
class ObservationSet:
    """One observation Dataset and how to compare the state with it.

    Attributes
    ----------
    data : Dataset
        Point observations (dim ``obs``; coords ``time``, ``lat``, ``lon``) or
        gridded ones (dims ``time``, ``lat``, ``lon``), with ``<var>_error``.
    kind : {"points", "grid", "smoothed"}
        Bilinear interpolation at the points, masked identity on the grid, or a
        Gaussian blur of the state (L4 products).
    name : str
        Label used in summaries.
    sigma_km : float, optional
        Blur standard deviation (km) of a ``"smoothed"`` set.
    time_window : float, optional
        Half-width (days) of the window of observation times used for an analysis
        time; overrides the window given to the assimilation.
    time_error_growth : float, optional
        Persistence error (units of the observed variable per day): an observation
        ``dt`` days from the analysis time enters with the error
        ``sqrt(error^2 + (time_error_growth dt)^2)``; added to the assimilation's own
        ``time_error_growth`` (normalized units). For a smoothed product with a time
        blur (``attrs["window_days"]``, the std of its time window) the distance is
        ``sqrt(dt^2 + window_days^2)``: a time-averaged product differs from the state
        of one day. Default 0.
    error_correlation_km : float, optional
        Correlation length (km) of the error of a gridded product, correlation
        ``exp(-r^2 / L^2)`` (L4 mapping errors): its error std is inflated by the
        square root of the number of analysis pixels one independent error covers,
        so that the product carries the information of its independent errors only.
        Gridded and smoothed sets only; 0 means white errors. Default: white errors,
        except for a smoothed product whose data record ``attrs["error_correlation_km"]``
        (as the L4 products of :mod:`xgenda.osse` do), which gets that length; set
        ``attrs["genda_error_correlation_km"] = 0`` (or ``error_correlation_km=0``) to
        treat its errors as white.
    error_inflation : float, optional
        Factor (> 0) on the error std. Default 1.
    kind_error_growth : dict
        Persistence error per variable (canonical units per day) of the assimilation's
        window for this kind (:class:`xgenda.config.KindWindow`), filled by
        :func:`apply_window`; ``time_error_growth`` wins over it.
    variables : tuple of str
        Observed canonical variables (filled by :func:`collect`).
    scale, offset : dict
        Unit conversion to canonical units per variable: ``canonical = v * scale + offset``.
    """

    data: xr.Dataset
    kind: Kind
    name: str = "obs"
    sigma_km: float | None = None
    time_window: float | None = None
    time_error_growth: float | None = None
    error_correlation_km: float | None = None
    error_inflation: float | None = None
    variables: tuple[str, ...] = ()
    scale: Mapping[str, float] = field(default_factory=dict)
    offset: Mapping[str, float] = field(default_factory=dict)
    error_scale: Mapping[str, float] = field(default_factory=dict)
    kind_error_growth: Mapping[str, float] = field(default_factory=dict)

    def __repr__(self) -> str:
        extra = f", sigma_km={self.sigma_km}" if self.sigma_km is not None else ""
        return (f"<ObservationSet {self.name!r} kind={self.kind}{extra} "
                f"variables={list(self.variables) or '?'} sizes={dict(self.data.sizes)}>")


def points(data: xr.Dataset, *, name: str | None = None,
           time_window: float | None = None) -> ObservationSet:
    """Point observations (along-track altimetry, SWOT pixels, drifters).

    Parameters
    ----------
    data : Dataset
        Dim ``obs``; coords ``time``, ``lat``, ``lon`` along ``obs``; a variable
        named after the canonical variable and ``<var>_error`` (std, same units).
    name : str, optional
        Label (default ``data.attrs["name"]`` or ``"points"``).
    time_window : float, optional
        Half-width in days of the time window (default: the assimilation's).
    """
    return ObservationSet(data, "points", name or data.attrs.get("name", "points"),
                          time_window=time_window)


def grid(data: xr.Dataset, *, name: str | None = None,
         time_window: float | None = None) -> ObservationSet:
    """Gridded observations with gaps (L3 SST...): compared pixel by pixel.

    Parameters
    ----------
    data : Dataset
        Dims ``time``, ``lat``, ``lon`` (NaN where unobserved) and ``<var>_error``
        (scalar, per time, or a field). Regridded bilinearly to the analysis grid
        when on another grid.
    """
    return ObservationSet(data, "grid", name or data.attrs.get("name", "grid"),
                          time_window=time_window)


def smoothed(data: xr.Dataset, sigma_km: float | None = None, *, name: str | None = None,
             time_window: float | None = None) -> ObservationSet:
    """A smoothed (L4-like) product, compared with a Gaussian blur of the state.

    Parameters
    ----------
    data : Dataset
        Like :func:`grid`.
    sigma_km : float, optional
        Standard deviation of the blur in km (default ``data.attrs["sigma_km"]``).
    """
    sigma = data.attrs.get("sigma_km") if sigma_km is None else sigma_km
    if sigma is None:
        raise ValueError(f"smoothed observations {name or ''!r} need a blur scale: pass "
                         "sigma_km=... or set data.attrs['sigma_km']")
    return ObservationSet(data, "smoothed", name or data.attrs.get("name", "smoothed"),
                          sigma_km=float(sigma), time_window=time_window)


def collect(obs: Any, variables: Sequence[str]) -> list[ObservationSet]:
    """Validated observation sets from a DataTree, Dataset(s) or ObservationSet(s).

    Parameters
    ----------
    obs : DataTree, Dataset, ObservationSet, mapping or sequence of these, or None
        Leaves of a DataTree need ``attrs["genda_obs"]``; leaves under a node named
        ``withheld``/``evaluation``/``validation``/``independent`` (or with
        ``attrs["genda_role"] == "evaluation"``) are skipped: they are kept for scoring.
        A Dataset without ``genda_obs`` is taken as points when it has an ``obs`` dim
        and as grid when it has ``lat``/``lon`` dims.
    variables : sequence of str
        Variables the prior models (channel order).

    Returns
    -------
    list of ObservationSet
        With ``variables`` and unit conversions filled in.

    Raises
    ------
    ValueError
        For an unknown kind, wrong dims, missing coordinates, a variable the prior does
        not model, missing or unconvertible units, missing or non-positive errors.
    """
    sets = [_validated(s, variables) for s in _flatten(obs, name="obs")]
    names = [s.name for s in sets]
    for n in set(names):
        if names.count(n) > 1:  # unique labels for the summary
            k = 0
            for i, s in enumerate(sets):
                if s.name == n:
                    sets[i] = _replace(s, name=f"{n}[{k}]")
                    k += 1
    return sets


def _replace(s: ObservationSet, **changes: Any) -> ObservationSet:
    from dataclasses import replace

    return replace(s, **changes)


def _flatten(obs: Any, name: str) -> Iterable[ObservationSet]:
    if obs is None:
        return
    if isinstance(obs, ObservationSet):
        yield obs
    elif isinstance(obs, xr.DataTree):
        for node in obs.subtree:
            parts = [p for p in node.path.split("/") if p]
            if any(p in _EVALUATION_NODES for p in parts) or \
                    node.attrs.get("genda_role") == "evaluation":
                continue
            if "genda_obs" not in node.attrs:
                if node.has_data and any(v for v in node.data_vars if v in VARIABLES):
                    warnings.warn(
                        f"DataTree node {node.path!r} holds data but no attrs['genda_obs']; "
                        "it is not assimilated (set it to 'points', 'grid' or 'smoothed')",
                        UserWarning, stacklevel=4)
                continue
            yield _from_dataset(node.to_dataset(inherit=False), "/".join(parts) or "root")
    elif isinstance(obs, xr.Dataset):
        yield _from_dataset(obs, name)
    elif isinstance(obs, xr.DataArray):
        raise TypeError("observations must be Datasets (value variable plus <var>_error), "
                        f"got the DataArray {obs.name!r}; use da.to_dataset() and add an error")
    elif isinstance(obs, Mapping):
        for key, value in obs.items():
            yield from _flatten(value, str(key))
    elif isinstance(obs, Sequence) and not isinstance(obs, str):
        for k, value in enumerate(obs):
            yield from _flatten(value, f"{name}{k}")
    else:
        raise TypeError(
            f"cannot use {type(obs).__name__} as observations; give an xarray.DataTree, "
            "Datasets, or xgenda.obs.points/grid/smoothed objects (or a list of them)")


def _from_dataset(ds: xr.Dataset, name: str) -> ObservationSet:
    kind = ds.attrs.get("genda_obs")
    label = str(ds.attrs.get("name", name))
    window = ds.attrs.get("genda_time_window")
    window = None if window is None else float(window)
    model = {key: float(ds.attrs[f"genda_{key}"]) for key in ERROR_MODEL_ATTRS
             if ds.attrs.get(f"genda_{key}") is not None}
    if kind is None:
        if "obs" in ds.dims:
            kind = "points"
        elif "lat" in ds.dims and "lon" in ds.dims:
            kind = "grid"
        else:
            raise ValueError(
                f"observations {label!r} have dims {dict(ds.sizes)}: neither point "
                "observations (dim 'obs') nor gridded ones (dims 'lat', 'lon'); set "
                "attrs['genda_obs'] to 'points', 'grid' or 'smoothed'")
    if kind not in KINDS:
        raise ValueError(f"observations {label!r} have attrs['genda_obs'] = {kind!r}; "
                         f"expected one of {KINDS}")
    if kind == "smoothed":
        return replace(smoothed(ds, name=label, time_window=window), **model)
    return ObservationSet(ds, cast(Kind, kind), label, time_window=window, **model)


def _validated(s: ObservationSet, variables: Sequence[str]) -> ObservationSet:
    ds = s.data
    if s.kind not in KINDS:
        raise ValueError(f"observation set {s.name!r} has unknown kind {s.kind!r}; "
                         f"expected one of {KINDS}")
    observed = [str(v) for v in ds.data_vars
                if str(v) in VARIABLES and not str(v).endswith("_error")]
    if not observed:
        raise ValueError(
            f"observations {s.name!r} hold no canonical variable (found "
            f"{sorted(map(str, ds.data_vars))}); name the value variable one of "
            f"{sorted(VARIABLES)} (ds.genda.standardize() renames product names)")
    unknown = [v for v in observed if v not in variables]
    if unknown:
        hint = "drop them or use a prior trained on them"
        if any(f"{v}_res" in variables for v in unknown):
            hint = ("total currents are compared with a prior of the decomposed state "
                    "through its Ekman model: set prior.ekman_model or pass ekman_model=...")
        raise ValueError(
            f"observations {s.name!r} observe {unknown}, which the prior does not model "
            f"(it models {list(variables)}); {hint}")
    if s.kind == "points":
        _check_points(ds, s.name, observed)
    else:
        _check_gridded(ds, s.name, observed)
        if s.kind == "smoothed" and not (s.sigma_km is not None and s.sigma_km >= 0):
            raise ValueError(f"smoothed observations {s.name!r} need sigma_km >= 0, "
                             f"got {s.sigma_km!r}")
    if s.kind == "smoothed" and s.error_correlation_km is None and \
            ds.attrs.get("error_correlation_km") is not None:
        # the product's own metadata: its mapping errors are correlated over this length
        s = _replace(s, error_correlation_km=_float_attr(ds, "error_correlation_km", s.name))
    _check_error_model(s)
    scale, offset, error_scale = {}, {}, {}
    for v in observed:
        scale[v], offset[v], error_scale[v] = _units(ds, v, s.name)
    return _replace(s, variables=tuple(observed), scale=scale, offset=offset,
                    error_scale=error_scale)


def _float_attr(ds: xr.Dataset, key: str, name: str) -> float:
    try:
        return float(ds.attrs[key])
    except (TypeError, ValueError):
        raise ValueError(f"observations {name!r}: attrs[{key!r}] must be a number (km), got "
                         f"{ds.attrs[key]!r}; fix it or set attrs['genda_{key}']") from None


def apply_window(sets: Sequence[ObservationSet], window: Window,
                 std: Mapping[str, float]) -> list[ObservationSet]:
    """The sets with the window's per-kind settings and error inflation filled in.

    A set's own ``time_window`` and ``time_error_growth`` win; otherwise its kind's
    :class:`xgenda.config.KindWindow` gives the half-width and the error growth
    (normalized units per day, times ``std`` of each variable: canonical units per
    day, in ``kind_error_growth``). ``window.error_inflation`` multiplies the set's own
    ``error_inflation``.

    Parameters
    ----------
    sets : sequence of ObservationSet
        From :func:`collect`.
    window : xgenda.config.Window
        The assimilation's window.
    std : mapping
        The prior's std of each variable (canonical units), ``prior.normalizer.std``.
    """
    if not isinstance(window, Window):
        raise TypeError(f"window must be an xgenda.config.Window, got {type(window).__name__}")
    out = []
    for s in sets:
        half_width, growth = window.for_kind(s.kind)
        changes: dict[str, Any] = {}
        if s.time_window is None and half_width != window.half_width:
            changes["time_window"] = half_width
        if growth > 0:
            missing = [v for v in s.variables if v not in std]
            if missing:
                raise ValueError(f"no prior std for {missing} of observations {s.name!r}: "
                                 "the window's error growth is in units of the prior's std")
            changes["kind_error_growth"] = {v: growth * float(std[v]) for v in s.variables}
        if window.error_inflation != 1.0:
            own = 1.0 if s.error_inflation is None else float(s.error_inflation)
            changes["error_inflation"] = own * window.error_inflation
        out.append(_replace(s, **changes) if changes else s)
    return out


def _check_error_model(s: ObservationSet) -> None:
    for key, low, strict in (("time_window", 0.0, True), ("time_error_growth", 0.0, False),
                             ("error_correlation_km", 0.0, False),
                             ("error_inflation", 0.0, True)):
        value = getattr(s, key)
        if value is None:
            continue
        ok = np.isfinite(value) and (value > low if strict else value >= low)
        if not ok:
            raise ValueError(f"observations {s.name!r}: {key} must be a finite number "
                             f"{'>' if strict else '>='} {low}, got {value!r} (set it with "
                             f"attrs['genda_{key}'] or leave it out for the default)")
    if s.error_correlation_km is not None and s.kind == "points":
        raise ValueError(f"observations {s.name!r}: error_correlation_km applies to gridded "
                         "and smoothed products (one error per pixel); for point "
                         "observations use error_inflation or time_error_growth")


def _check_points(ds: xr.Dataset, name: str, observed: list[str]) -> None:
    for coord in ("time", "lat", "lon"):
        if coord not in ds.coords:
            raise ValueError(f"point observations {name!r} have no {coord!r} coordinate; "
                             "point observations need coords time, lat, lon along dim 'obs'")
        if ds[coord].dims != ("obs",):
            raise ValueError(f"point observations {name!r}: coordinate {coord!r} has dims "
                             f"{ds[coord].dims}; expected ('obs',)")
    for v in observed:
        if ds[v].dims != ("obs",):
            raise ValueError(f"point observations {name!r}: {v!r} has dims {ds[v].dims}; "
                             "point observations are 1-D along dim 'obs'")
        err = f"{v}_error"
        if err in ds and ds[err].dims not in ((), ("obs",)):
            raise ValueError(f"point observations {name!r}: {err!r} has dims "
                             f"{ds[err].dims}; expected () or ('obs',)")
    _check_time_dtype(ds["time"], name)


def _check_gridded(ds: xr.Dataset, name: str, observed: list[str]) -> None:
    from xgenda.grid import check_grid

    check_grid(ds, need_time=True, what=f"gridded observations {name!r}")
    if ds["time"].dims != ("time",):
        raise ValueError(f"gridded observations {name!r}: 'time' must be 1-D along dim "
                         f"'time', got dims {ds['time'].dims}")
    for v in observed:
        dims = set(ds[v].dims)
        if not {"lat", "lon"} <= dims or not dims <= {"time", "lat", "lon"}:
            raise ValueError(f"gridded observations {name!r}: {v!r} has dims {ds[v].dims}; "
                             "expected ('time', 'lat', 'lon') (select or average other dims)")
        err = f"{v}_error"
        if err in ds and not set(ds[err].dims) <= dims:
            raise ValueError(f"gridded observations {name!r}: {err!r} has dims "
                             f"{ds[err].dims}, not a subset of {ds[v].dims}")
    _check_time_dtype(ds["time"], name)


def _check_time_dtype(time: xr.DataArray, name: str) -> None:
    if not (np.issubdtype(time.dtype, np.datetime64) or np.issubdtype(time.dtype, np.number)):
        raise ValueError(f"observations {name!r}: time has dtype {time.dtype}; use datetime64 "
                         "times (decode them with xr.decode_cf or convert the calendar)")


def _units(ds: xr.Dataset, v: str, name: str) -> tuple[float, float, float]:
    canonical = VARIABLES[v].units
    units = ds[v].attrs.get("units")
    if units is None:
        raise ValueError(f"observations {name!r}: {v!r} has no units attribute; set "
                         f".attrs['units'] (expected units convertible to {canonical!r})")
    scale, offset = _conversion(str(units), canonical, f"{name}/{v}")
    err = f"{v}_error"
    if err in ds:
        err_units = ds[err].attrs.get("units", units)
        error_scale, _ = _conversion(str(err_units), canonical, f"{name}/{err}")
        # an error is a difference: only the scale applies (K and degC errors agree)
        _check_errors(ds[err], f"{name}/{err}")
    elif "error" in ds[v].attrs or "error" in ds.attrs:
        error_scale = scale
        value = float(ds[v].attrs.get("error", ds.attrs.get("error", np.nan)))
        if not value > 0:
            raise ValueError(f"observations {name!r}: error of {v!r} must be > 0, got {value}")
    else:
        raise ValueError(f"observations {name!r} have no error for {v!r}: add a variable "
                         f"{err!r} (std, same units: scalar, per observation or a field) "
                         "or attrs['error']")
    return float(scale), float(offset), float(abs(error_scale))


def _conversion(units: str, canonical: str, what: str) -> tuple[float, float]:
    try:
        return unit_conversion(units, canonical, variable=what)
    except ValueError:
        raise
    except Exception as err:  # pint raises assorted errors on unparsable strings
        raise ValueError(f"unknown units {units!r} of {what!r}: cannot parse them as CF/UDUNITS "
                         f"units; set .attrs['units'] to units convertible to {canonical!r}"
                         ) from err


def _check_errors(err: xr.DataArray, what: str) -> None:
    if err.chunks is not None:
        return  # dask-backed: checked where the values are read
    values = np.asarray(err.values, dtype=float)
    bad = np.isfinite(values) & (values <= 0)
    if bad.any():
        raise ValueError(f"{what} holds {int(bad.sum())} non-positive error std(s) (e.g. "
                         f"{values[bad].ravel()[0]}); errors must be > 0")


def to_days(values: Any) -> np.ndarray:
    """Times as float days since 1970-01-01 (datetime64) or as given (numbers)."""
    arr = np.asarray(values)
    if np.issubdtype(arr.dtype, np.datetime64):
        return (arr - np.datetime64("1970-01-01", "ns")) / np.timedelta64(1, "D")
    if np.issubdtype(arr.dtype, np.number):
        return arr.astype(np.float64)
    raise ValueError(f"times of dtype {arr.dtype} are not supported; use datetime64 times "
                     "(xr.decode_cf, or ds.convert_calendar('standard'))")
