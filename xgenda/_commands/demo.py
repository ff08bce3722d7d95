"""``xgenda demo``: the end-to-end demo OSSE (see :func:`xgenda.demo.run_demo`)."""

from __future__ import annotations

import argparse

HELP = "Run the end-to-end demo OSSE and write a report folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="xgenda-demo", help="report folder (default %(default)s)")
    parser.add_argument("--days", type=int, default=3, help="analysis days (default %(default)s)")
    parser.add_argument("--members", type=int, default=8,
                        help="ensemble members (default %(default)s)")
    parser.add_argument("--steps", type=int, default=12,
                        help="sampler steps (default %(default)s)")
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
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from xgenda.demo import run_demo

    report = run_demo(args.out, days=args.days, members=args.members, steps=args.steps,
                      method=args.method, device=args.device, seed=args.seed, prior=args.prior,
                      cache_dir=args.cache_dir, spinup_days=args.spinup_days,
                      progress=False if args.no_progress else None)
    print(f"xgenda demo: report written to {report.markdown}")
    return 0
