"""Figures of reconstructions and ensembles: ``ds.genda.plot`` (matplotlib).

Every method builds a :class:`matplotlib.figure.Figure` without touching pyplot's
global state, returns it, and writes a PNG when ``save=`` is a path. Figures are read
at a glance: a title on every panel, wavelength axes in km increasing left to right,
dated time axes, legends off the data, salinity in g kg-1 (:func:`display_units`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from xgenda._optional import require
from xgenda.diagnostics._common import MEMBER, get_var, units_of
from xgenda.diagnostics.scores import _pairs, rank_histogram
from xgenda.diagnostics.spectra import (
    _error_and_truth,
    effective_resolution,
    isotropic_spectrum,
    psd_score,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Plots", "display_units"]

_DISPLAY_UNITS = {"1e-3": "g kg-1"}


def display_units(units: str) -> str:
    """Units as oceanographers read them on a figure or in a table.

    CF writes practical salinity with units ``1e-3``, which reads like a scale factor;
    figures and reports write ``g kg-1`` instead (the data keep their CF attrs).
    Other units are returned unchanged.
    """
    return _DISPLAY_UNITS.get(units.strip(), units)


def _figure(ncols: int, nrows: int = 1, width: float = 4.0, height: float = 3.4) -> Figure:
    Figure = require("matplotlib.figure", "ds.genda.plot").Figure
    return Figure(figsize=(width * ncols, height * nrows), layout="constrained")


def _finish(fig: Figure, save: str | os.PathLike[str] | None) -> Figure:
    if save is not None:
        fig.savefig(os.fspath(save), dpi=100, format="png")
    return fig


def _at_time(da: xr.DataArray, time: Any) -> xr.DataArray:
    if "time" not in da.dims:
        return da
    if isinstance(time, int | np.integer):
        return da.isel(time=int(time))
    return da.sel(time=time, method="nearest")


class Plots:
    """Figures of a reconstruction or ensemble (``ds.genda.plot``)."""

    def __init__(self, obj: xr.Dataset | xr.DataArray) -> None:
        self._obj = obj

    def maps(self, truth: xr.Dataset | xr.DataArray | None = None, obs: Any = None,
             var: str | None = "ssh", *, time: Any = 0, cmap: str = "RdBu_r",
             save: str | os.PathLike[str] | None = None) -> Figure:
        """Truth, observations, ensemble mean (or map) and spread side by side at one time.

        Parameters
        ----------
        truth : Dataset or DataArray, optional
            Reference field on the same grid.
        obs : Dataset, optional
            Point (dim ``obs``, drawn as dots within half a day of ``time``) or gridded
            observations of ``var``.
        time : int or time label
            Index (int) or label (nearest) of the time to show.
        """
        rec = get_var(self._obj, var if isinstance(self._obj, xr.Dataset) else None)
        name = var or str(rec.name)
        mean = rec.mean(MEMBER) if MEMBER in rec.dims else rec
        panels: list[tuple[str, xr.DataArray | None, dict[str, Any]]] = []
        if truth is not None:
            panels.append(("truth", get_var(truth, name if isinstance(truth, xr.Dataset)
                                            else None), {}))
        if obs is not None:
            panels.append(("observations", None, {}))
        panels.append(("ensemble mean" if MEMBER in rec.dims else "reconstruction", mean, {}))
        if MEMBER in rec.dims:
            panels.append(("ensemble spread", rec.std(MEMBER, ddof=1), {"cmap": "viridis",
                                                                         "vmin": 0.0}))
        fields = [_at_time(p[1], time).load() for p in panels if p[1] is not None]
        shared = [f for (title, _, _), f in zip([p for p in panels if p[1] is not None],
                                                fields, strict=True) if title != "ensemble spread"]
        vmin = float(min(np.nanmin(f.values) for f in shared))
        vmax = float(max(np.nanmax(f.values) for f in shared))
        fig = _figure(len(panels))
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        it = iter(fields)
        when = _at_time(mean, time)["time"].values if "time" in mean.dims else None
        for ax, (title, field, style) in zip(axes, panels, strict=True):
            if field is None:
                im = _draw_obs(ax, obs, name, when, mean, vmin, vmax, cmap)
            else:
                f = next(it)
                kw = {"cmap": cmap, "vmin": vmin, "vmax": vmax} | style
                if "vmin" in style:
                    kw["vmax"] = float(np.nanmax(f.values))
                im = ax.pcolormesh(f.lon.values, f.lat.values, f.transpose("lat", "lon").values,
                                   shading="nearest", **kw)
            ax.set_title(title)
            ax.set_xlabel("lon (degrees east)")
            ax.set_aspect(1.0 / np.cos(np.deg2rad(float(mean.lat.mean()))))
            fig.colorbar(im, ax=ax, shrink=0.8, label=f"{name} ({display_units(units_of(rec))})")
        axes[0].set_ylabel("lat (degrees north)")
        if when is not None:
            fig.suptitle(f"{name} at {np.datetime_as_string(when, unit='D')}"
                         if np.issubdtype(np.asarray(when).dtype, np.datetime64) else f"{when}")
        return _finish(fig, save)

    def spectrum(self, truth: xr.Dataset | xr.DataArray, var: str | None = "ssh", *,
                 save: str | os.PathLike[str] | None = None, **kwargs: Any) -> Figure:
        """Isotropic PSDs of truth, reconstruction and error; PSD score with its 0.5 crossing."""
        err, tru = _error_and_truth(self._obj, truth, var, "mean")
        rec = (err + tru).rename(err.name).assign_attrs(err.attrs)
        curves = {"truth": isotropic_spectrum(tru, **kwargs),
                  "reconstruction": isotropic_spectrum(rec, **kwargs),
                  "error": isotropic_spectrum(err, **kwargs)}
        score = psd_score(self._obj, truth, var, **kwargs).compute()
        lam = float(effective_resolution(self._obj, truth, var, **kwargs))
        fig = _figure(2)
        ax0, ax1 = fig.subplots(1, 2)
        name = str(tru.name)
        for label, c in curves.items():
            ax0.loglog(c.wavelength.values, c.compute().values, label=label)
        ax0.set_ylabel(f"PSD ({display_units(curves['truth'].attrs['units'].replace('(m)2', 'm2'))})")
        ax0.set_title(f"isotropic power spectrum of {name}")
        # Below the axes: the curves fill the panel's corners.
        ax0.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=3, frameon=False)
        ax1.semilogx(score.wavelength.values, score.values, "k-", label="PSD score")
        ax1.axhline(0.5, color="grey", ls="--", lw=1)
        if np.isfinite(lam):
            ax1.axvline(lam, color="C3", lw=1)
            ax1.plot([lam], [0.5], "o", color="C3", label=f"effective resolution {lam:.0f} km")
        ax1.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2, frameon=False)
        low = float(np.nanmin(score.values)) if np.isfinite(score.values).any() else 0.0
        ax1.set_ylim(max(-1.0, min(-0.1, low)), 1.05)
        ax1.set_ylabel("PSD score 1 - PSD(err)/PSD(truth)")
        ax1.set_title(f"effective resolution of {name}" + (f": {lam:.0f} km"
                                                           if np.isfinite(lam) else ""))
        for ax in (ax0, ax1):
            _wavelength_axis(ax)
        return _finish(fig, save)

    def spread_skill(self, truth: xr.Dataset | xr.DataArray, var: str | None = "ssh", *,
                     dim: str = "time", save: str | os.PathLike[str] | None = None) -> Figure:
        """Ensemble spread against the RMSE of the ensemble mean, along ``dim``."""
        ((_, rec, tru),) = _pairs(self._obj, truth, var)
        if MEMBER not in rec.dims:
            raise ValueError("a spread-skill plot needs an ensemble with a 'member' dim")
        m = rec.sizes[MEMBER]
        err = rec.mean(MEMBER) - tru
        others = [d for d in err.dims if d != dim]
        skill = np.sqrt((err**2).mean(others)).compute()
        spread = np.sqrt(rec.var(MEMBER, ddof=1).where(err.notnull()).mean(others)
                         * (m + 1) / m).compute()
        fig = _figure(2)
        ax0, ax1 = fig.subplots(1, 2)
        x = skill[dim].values if dim in skill.dims else np.arange(skill.size)
        ax0.plot(x, skill.values, "o-", label="RMSE of ensemble mean")
        ax0.plot(x, spread.values, "s-", label="spread x sqrt((M+1)/M)")
        if np.issubdtype(np.asarray(x).dtype, np.datetime64):
            from matplotlib.dates import ConciseDateFormatter, DayLocator

            span_days = (x[-1] - x[0]) / np.timedelta64(1, "D") if len(x) > 1 else 1.0
            locator = DayLocator(interval=max(1, int(np.ceil(span_days / 6))))
            ax0.xaxis.set_major_locator(locator)
            ax0.xaxis.set_major_formatter(ConciseDateFormatter(locator))
            ax0.set_xlabel("date")
        else:
            ax0.set_xlabel(dim)
        ax0.set_ylabel(f"{rec.name} ({display_units(units_of(rec))})")
        ax0.set_ylim(bottom=0)
        ax0.set_title(f"{rec.name}: error and spread over {dim}")
        ax0.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncols=1, frameon=False)
        top = float(max(np.nanmax(skill.values), np.nanmax(spread.values))) * 1.1
        ax1.plot(skill.values, spread.values, "o")
        ax1.plot([0, top], [0, top], "k--", lw=1, label="calibrated: spread = RMSE")
        ax1.set_xlim(0, top)
        ax1.set_ylim(0, top)
        unit = display_units(units_of(rec))
        ax1.set_xlabel(f"RMSE ({unit})")
        ax1.set_ylabel(f"spread ({unit})")
        ax1.set_title("spread against RMSE, day by day")
        ax1.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False)
        return _finish(fig, save)

    def rank_histogram(self, truth: xr.Dataset | xr.DataArray, var: str | None = "ssh", *,
                       seed: int = 0, save: str | os.PathLike[str] | None = None) -> Figure:
        """Rank histogram (relative frequency) with the flat reference line."""
        hist = rank_histogram(self._obj, truth, var, seed=seed)
        hist = (hist[var] if isinstance(hist, xr.Dataset) else hist).compute()
        freq = hist / hist.sum()
        fig = _figure(1, width=5.0)
        ax = fig.subplots()
        ax.bar(hist["rank"].values, freq.values, width=0.9, color="C0")
        ax.axhline(1.0 / hist.sizes["rank"], color="k", ls="--", lw=1, label="uniform")
        ax.set_xlabel("rank of the truth among the members")
        ax.set_ylabel("relative frequency")
        ax.set_title(f"rank histogram ({int(hist.sum())} points)")
        ax.legend()
        return _finish(fig, save)


def _wavelength_axis(ax: Any) -> None:
    """Wavelength in km increasing left to right, with several labelled ticks (1-2-5 a decade)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    left, right = sorted(ax.get_xlim())
    # Under a decade of wavelengths, 1-2-5 would leave two or three labels.
    subs = (1.0, 2.0, 5.0) if right / left >= 10.0 else (1.0, 2.0, 3.0, 5.0, 7.0)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlim(left, right)
    ax.set_xlabel("wavelength (km)")


def _draw_obs(ax: Any, obs: Any, name: str, when: Any, grid: xr.DataArray, vmin: float,
              vmax: float, cmap: str) -> Any:
    ds = obs.to_dataset() if not isinstance(obs, xr.Dataset) and hasattr(obs, "to_dataset") \
        else obs
    values = get_var(ds, name if isinstance(ds, xr.Dataset) else None, what="observations")
    if "obs" in values.dims:
        if when is not None and "time" in values.coords:
            near = np.abs(values["time"].values - when) <= np.timedelta64(12, "h") \
                if np.issubdtype(np.asarray(when).dtype, np.datetime64) else \
                np.abs(values["time"].values - when) <= 0.5
            values = values.isel(obs=np.flatnonzero(near))
        im = ax.scatter(values.lon.values, values.lat.values, c=values.values, s=4, cmap=cmap,
                        vmin=vmin, vmax=vmax)
        ax.set_xlim(float(grid.lon.min()), float(grid.lon.max()))
        ax.set_ylim(float(grid.lat.min()), float(grid.lat.max()))
        return im
    f = values.sel(time=when, method="nearest") if when is not None and "time" in values.dims \
        else values
    return ax.pcolormesh(f.lon.values, f.lat.values, f.transpose("lat", "lon").values,
                         shading="nearest", cmap=cmap, vmin=vmin, vmax=vmax)
