"""``xgenda assimilate``: assimilate observations with a prior, write the ensemble to zarr."""

from __future__ import annotations

import argparse
import inspect
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from xgenda.assimilation import assimilate
from xgenda.config import GUIDANCE, QC_THRESHOLD, Configuration, Window
from xgenda.config.presets import PRESETS
from xgenda.grid import regular

#: Defaults of the options that :func:`xgenda.assimilate` takes as they are.
_DEFAULTS = {name: p.default for name, p in inspect.signature(assimilate).parameters.items()
             if p.default is not inspect.Parameter.empty}

HELP = "Assimilate observations with a prior and write the ensemble to zarr"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--obs", required=True, metavar="PATH",
                        help="observations: a DataTree zarr store (as written by `xgenda "
                             "simulate`) or a zarr/netCDF Dataset")
    parser.add_argument("--out", required=True, metavar="PATH", help="output zarr store")
    parser.add_argument("--prior", default="demo",
                        help="saved prior directory, or 'demo' for the bundled one "
                             "(default: demo)")
    where = parser.add_argument_group("analysis grid (a template file, or a box and dates)")
    where.add_argument("--template", metavar="PATH",
                       help="zarr/netCDF Dataset with the target time, lat, lon")
    where.add_argument("--start", help="first analysis date, e.g. 2019-03-01")
    where.add_argument("--days", type=int, default=1, help="number of daily analyses "
                       "(default: 1)")
    where.add_argument("--lon", type=float, nargs=2, metavar=("WEST", "EAST"),
                       help="longitude edges (default: the prior's reference patch)")
    where.add_argument("--lat", type=float, nargs=2, metavar=("SOUTH", "NORTH"),
                       help="latitude edges (default: the prior's reference patch)")
    how = parser.add_argument_group("assimilation (defaults: xgenda.config)")
    how.add_argument("--members", type=int, default=_DEFAULTS["members"],
                     help=f"ensemble size (default: {_DEFAULTS['members']})")
    how.add_argument("--preset", choices=sorted(PRESETS), default=None,
                     help="named configuration (xgenda.config.presets; default: the prior's "
                          "recommended configuration, else 'default'); the options below "
                          "change it")
    how.add_argument("--method", choices=sorted(GUIDANCE), default=None,
                     help="guidance (default: the preset's)")
    how.add_argument("--steps", type=int, default=None,
                     help="sampler steps (default: the preset's)")
    how.add_argument("--gamma", type=float, default=None, help="SDA's gamma")
    how.add_argument("--zeta", type=float, default=None, help="DPS's zeta")
    how.add_argument("--cg-steps", type=int, default=None, help="MMPS's cg_steps")
    how.add_argument("--seed", type=int, default=_DEFAULTS["seed"],
                     help=f"random seed (default: {_DEFAULTS['seed']})")
    how.add_argument("--time-window", type=float, default=None,
                     help="half-width of the observation time window, days (default: the "
                          f"configuration's; xgenda's default {Window().half_width})")
    how.add_argument("--time-error-growth", type=float, default=None,
                     help="observation error growth with time distance, normalized units "
                          "per day (default: the configuration's; xgenda's default "
                          f"{Window().error_growth})")
    how.add_argument("--trajectory-days", type=int, default=None, metavar="L",
                     help="with a window prior: sample a trajectory of L days (odd) composed "
                          "from its overlapping windows instead of one window (default: the "
                          "configuration's; the prior's own window)")
    how.add_argument("--device", default=_DEFAULTS["device"],
                     help=f"auto, cpu, cuda, cuda:N (default: {_DEFAULTS['device']})")
    how.add_argument("--batch-size", type=int, default=None,
                     help="samples per network call (default: the members of one time)")
    how.add_argument("--wind", metavar="PATH",
                     help="10 m winds uwind, vwind (zarr/netCDF) at the analysis times: every "
                          "member of a prior with wind channels gets these winds; a prior of "
                          "the decomposed state also takes its Ekman part from them")
    how.add_argument("--qc", type=float, default=QC_THRESHOLD, metavar="SIGMA",
                     help="reject observations whose innovation against the prior's "
                          "climatology exceeds SIGMA standard deviations (default: %(default)s)")
    how.add_argument("--no-qc", action="store_true", help="no observation quality control")
    how.add_argument("--strict", action="store_true",
                     help="stop when the data are outside what the prior was trained on "
                          "(default: a warning)")
    how.add_argument("--time-chunk", type=int, default=1,
                     help="analysis times per task and per zarr chunk (default: 1)")
    parser.add_argument("--resume", action="store_true",
                        help="complete an interrupted run in --out (only missing times)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _open_observations(path: str, what: str = "observations") -> Any:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no {what} at {p}")
    if p.suffix in (".nc", ".nc4", ".netcdf"):
        return xr.open_dataset(p)
    try:
        return xr.open_datatree(p, engine="zarr")
    except (ValueError, KeyError, OSError):
        return xr.open_dataset(p, engine="zarr")


def _template(args: argparse.Namespace, prior: Any) -> Any:
    if args.template:
        p = Path(args.template)
        if not p.exists():
            raise FileNotFoundError(f"no template at {p}")
        engine = None if p.suffix in (".nc", ".nc4", ".netcdf") else "zarr"
        return xr.open_dataset(p, engine=engine, chunks={})
    if not args.start:
        raise ValueError("give either --template PATH or --start DATE (with --days and "
                         "optionally --lon/--lat)")
    if args.days < 1:
        raise ValueError(f"--days must be >= 1, got {args.days}")
    times = pd.date_range(args.start, periods=args.days, freq="D")
    dlon, dlat = prior.res_deg
    lon, lat = args.lon, args.lat
    config = prior.config
    if lon is None or lat is None:
        if "lat" not in config or "lon" not in config:
            raise ValueError("this prior records no reference grid: give --lon and --lat")
        plat, plon = np.asarray(config["lat"]), np.asarray(config["lon"])
        lon = lon or (plon[0] - dlon / 2, plon[-1] + dlon / 2)
        lat = lat or (plat[0] - dlat / 2, plat[-1] + dlat / 2)
    return regular(lon=tuple(lon), lat=tuple(lat), res_deg=(dlon, dlat), time=times)


def configuration(args: argparse.Namespace,
                  recommended: Configuration | None = None) -> Configuration:
    """The configuration the options describe: the preset (without one, the prior's
    ``recommended`` configuration if any, else the default preset), changed by the
    options."""
    if args.preset is None and recommended is not None:
        preset = recommended
    else:
        preset = Configuration(**PRESETS[args.preset or "default"]())
    guidance = preset.guidance
    if args.method is not None and args.method != guidance.method:
        guidance = GUIDANCE[args.method]()
    for option, name in (("gamma", "gamma"), ("zeta", "zeta"), ("cg_steps", "cg_steps")):
        value = getattr(args, option)
        if value is None:
            continue
        if not hasattr(guidance, name):
            raise ValueError(f"--{option.replace('_', '-')} does not apply to "
                             f"{guidance.method!r} guidance; choose it with --method")
        guidance = replace(guidance, **{name: value})
    sampler = preset.sampler if args.steps is None else replace(preset.sampler,
                                                                steps=args.steps)
    window = preset.window
    if args.time_window is not None:
        window = replace(window, half_width=args.time_window)
    if args.time_error_growth is not None:
        window = replace(window, error_growth=args.time_error_growth)
    if args.trajectory_days is not None:
        window = replace(window, trajectory_days=args.trajectory_days)
    return Configuration(sampler, guidance, window, preset.inflation)


def run(args: argparse.Namespace) -> int:
    from xgenda.prior import cached_prior
    from xgenda.stream import resume_to_zarr

    out = Path(args.out)
    if out.exists() and not (args.resume or args.overwrite):
        raise FileExistsError(f"{out} exists; pass --resume to complete it or --overwrite to "
                              "replace it")
    prior = cached_prior(args.prior)
    template = _template(args, prior)
    obs = _open_observations(args.obs)
    wind = None
    if args.wind:
        wind = _open_observations(args.wind, "winds")
        if not isinstance(wind, xr.Dataset):
            wind = wind.to_dataset()
    ens = assimilate(template, args.prior, obs, members=args.members, seed=args.seed,
                     batch_size=args.batch_size, device=args.device,
                     time_chunk=args.time_chunk, wind=wind,
                     qc=None if args.no_qc else args.qc, strict=args.strict,
                     **configuration(args, prior.recommended).kwargs())
    if out.exists() and args.overwrite and not args.resume:
        shutil.rmtree(out)
    if args.no_progress:
        computed = resume_to_zarr(ens, str(out))
    else:
        from dask.diagnostics import ProgressBar

        with ProgressBar():
            computed = resume_to_zarr(ens, str(out))
    print(f"ensemble: {out} ({ens.sizes['member']} members x {ens.sizes['time']} times; "
          f"{len(computed)} time(s) computed now, {ens.attrs['obs_used']} observations used, "
          f"{ens.attrs['obs_rejected']} rejected by quality control)",
          file=sys.stdout)
    return 0
