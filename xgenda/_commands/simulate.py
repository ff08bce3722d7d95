"""``xgenda simulate``: write a toy-ocean nature run and its OSSE observations to zarr."""

from __future__ import annotations

import argparse
import sys

HELP = "Write a toy-ocean nature run and its OSSE observations to zarr"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="output directory (gets truth.zarr and observations.zarr)")
    parser.add_argument("--days", type=int, default=365, help="length of the run in days "
                        "(default: 365)")
    parser.add_argument("--size", type=int, default=64, help="grid size, size x size "
                        "(default: 64; 128 is ~1/12 deg)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the nature run (default: 0)")
    parser.add_argument("--spinup-days", type=int, default=None,
                        help="spin-up of the nature run before day 0 (default: the model's)")
    parser.add_argument("--winds", action="store_true",
                        help="add a slowly varying wind and its Ekman current to u, v")
    parser.add_argument("--obs-seed", type=int, default=None,
                        help="seed of the observations (default: --seed)")
    parser.add_argument("--nadirs", default="4",
                        help="number of altimeters of the default constellation, or a comma-"
                             "separated list of satellite names (default: 4)")
    parser.add_argument("--swot", action="store_true", help="add SWOT-like swaths")
    parser.add_argument("--cloud-cover", type=float, default=0.6,
                        help="cloudy fraction of the L3 SST in [0, 1] (default: 0.6)")
    parser.add_argument("--drifters", type=int, default=20,
                        help="number of active (withheld) drifters (default: 20)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing stores")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _nadirs(text: str) -> int | list[str]:
    text = text.strip()
    if text.isdigit():
        return int(text)
    return [name.strip() for name in text.split(",") if name.strip()]


def run(args: argparse.Namespace) -> int:
    from xgenda.osse.store import simulate

    progress = not args.no_progress
    toy_kwargs: dict[str, object] = {"winds": True} if args.winds else {}
    if args.spinup_days is not None:
        if args.spinup_days < 0:
            raise ValueError(f"--spinup-days must be >= 0, got {args.spinup_days}")
        toy_kwargs["spinup_days"] = args.spinup_days
    truth_path, obs_path = simulate(
        args.out, args.days, args.size, args.seed, obs_seed=args.obs_seed,
        overwrite=args.overwrite, progress=progress, toy_ocean_kwargs=toy_kwargs,
        nadirs=_nadirs(args.nadirs),
        swot=args.swot, sst_cloud_cover=args.cloud_cover, drifters=args.drifters,
    )
    print(f"truth:        {truth_path}\nobservations: {obs_path}", file=sys.stdout)
    return 0
