"""Write several toy-ocean runs one after another, with gaps, as one training store.

A window prior trained on one run sees about a hundred independent states; more runs
(other seeds) give more. The runs are placed one after another in time, each shifted
to start ``--spacing-days`` after the previous one, so that the store is one daily
time series with gaps, which ``xgenda train`` reads as it is: no training window
straddles two runs. The run of ``--last`` (e.g. the demo prior's original training
run) keeps its own dates and comes last, so a ``val_time`` of its final days keeps the
validation period of earlier training stages.

Seeds held out for the benchmarks (2, 3, 4, 5) and the validation run (1001) are
refused.

Usage::

    python scripts/window_prior/make_multirun_data.py OUT.zarr --seeds 10 11 12 13 \\
        --days 1095 --last ~/xgenda-train/toy_seed0_1095d.zarr
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import xarray as xr

import xgenda

HELD_OUT = (2, 3, 4, 5, 1001)


def _run(seed: int, days: int, size: int, smooth: bool) -> tuple[xr.Dataset, float]:
    tic = time.perf_counter()
    parameters = xgenda.datasets.ToyOceanParameters.smooth() if smooth else None
    ds = xgenda.datasets.toy_ocean(days=days, size=size, seed=seed, parameters=parameters)
    return ds, time.perf_counter() - tic


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="zarr store to write (must not exist)")
    parser.add_argument("--seeds", type=int, nargs="+", required=True,
                        help="toy-ocean seeds of the new runs")
    parser.add_argument("--days", type=int, default=1095, help="days per new run")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--last", default=None,
                        help="a zarr store of a run to append last with its own dates")
    parser.add_argument("--spacing-days", type=int, default=1500,
                        help="days from the start of one run to the start of the next")
    parser.add_argument("--smooth", action="store_true",
                        help="the ocean of ToyOceanParameters.smooth(), that of the earlier "
                             "priors (the --last run must be of the same ocean)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs computed at once, one process each (the runs do not "
                             "depend on it)")
    args = parser.parse_args(argv)
    bad = sorted(set(args.seeds) & set(HELD_OUT))
    if bad:
        raise SystemExit(f"seeds {bad} are held out (benchmarks 2-5, validation 1001)")
    if args.spacing_days <= args.days:
        raise SystemExit("--spacing-days must exceed --days: runs must not overlap")
    start = time.perf_counter()
    last = xr.open_zarr(args.last, consolidated=False) if args.last else None
    end = (np.datetime64(str(last.time.values[0])[:10]) if last is not None
           else np.datetime64("2019-01-01"))
    runs = []
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        made = pool.map(_run, args.seeds, [args.days] * len(args.seeds),
                        [args.size] * len(args.seeds), [args.smooth] * len(args.seeds))
        for k, (seed, (ds, seconds)) in enumerate(zip(args.seeds, made, strict=True)):
            shift = end - np.timedelta64(args.spacing_days * (len(args.seeds) - k), "D")
            ds = ds.assign_coords(time=ds.time.values - ds.time.values[0] + shift)
            runs.append(ds)
            print(f"seed {seed}: {args.days} days from {str(shift)[:10]} in {seconds:.0f} s",
                  flush=True)
    if last is not None:
        runs.append(last)
    variables = list(runs[0].data_vars)
    out = xr.concat([r[variables] for r in runs], dim="time", combine_attrs="drop")
    out.attrs = {"title": "xgenda toy-ocean runs one after another (gaps between runs)",
                 "seeds": " ".join(str(s) for s in args.seeds)
                 + (f" then {args.last}" if args.last else ""),
                 "source": "scripts/window_prior/make_multirun_data.py"}
    out = out.chunk({"time": 1, "lat": -1, "lon": -1})
    for v in out.variables:
        out[v].encoding = {}
    out.to_zarr(args.out, mode="w-", consolidated=False)
    print(f"wrote {out.sizes['time']} days of {len(runs)} runs to {args.out} in "
          f"{time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
