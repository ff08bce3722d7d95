"""``xgenda demo``: the end-to-end demo OSSE (see :func:`xgenda.demo.run_demo`)."""

from __future__ import annotations

import argparse
import sys

HELP = "Run the end-to-end demo OSSE and write a report folder"

FAILED = 3
"""Exit status of a run whose report failed its checks (see ``--allow-failure``)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="xgenda-demo", help="report folder (default %(default)s)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the report folder if it exists")
    parser.add_argument("--days", type=int, default=3, help="analysis days (default %(default)s)")
    parser.add_argument("--day", type=int, default=None,
                        help="draw the maps of this analysis day only (1 = first; default all)")
    parser.add_argument("--members", type=int, default=8,
                        help="ensemble members (default %(default)s)")
    parser.add_argument("--steps", type=int, default=None,
                        help="sampler steps (default: the prior's recommended configuration)")
    parser.add_argument("--method", default="mmps", choices=["mmps", "sda", "dps"],
                        help="guidance method (default %(default)s)")
    parser.add_argument("--device", default="auto",
                        help="auto (GPU when present), cpu, cuda, cuda:N (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="ensemble seed (default %(default)s)")
    parser.add_argument("--prior", default=None,
                        help="a saved prior directory (default: the bundled demo prior)")
    parser.add_argument("--cache-dir", default=None,
                        help="cache of the toy-ocean data (default $XGENDA_CACHE or "
                             "~/.cache/xgenda)")
    parser.add_argument("--spinup-days", type=int, default=180,
                        help="spin-up of the toy-ocean nature run (default %(default)s)")
    parser.add_argument("--no-progress", action="store_true",
                        help="no stage messages or progress bars (default: shown on a terminal)")
    parser.add_argument("--allow-failure", action="store_true",
                        help="exit 0 and run every stage even when the run fails its checks "
                             "(diverged sampler, no observations, worse than the prior mean)")


def run(args: argparse.Namespace) -> int:
    from xgenda.demo import run_demo

    report = run_demo(args.out, days=args.days, members=args.members, steps=args.steps,
                      method=args.method, device=args.device, seed=args.seed, prior=args.prior,
                      cache_dir=args.cache_dir, spinup_days=args.spinup_days,
                      progress=False if args.no_progress else None, overwrite=args.overwrite,
                      allow_failure=args.allow_failure, day=args.day,
                      command=["xgenda", *sys.argv[1:]] if sys.argv[1:2] == ["demo"]
                      else None)
    for failure in report.failures:
        print(f"xgenda demo: FAILED: {failure}", file=sys.stderr)
    print(f"xgenda demo: report written to {report.markdown}")
    return FAILED if report.failed and not args.allow_failure else 0
