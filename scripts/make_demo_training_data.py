"""Write the toy-ocean nature run that the demo prior is trained on (or evaluated with).

Usage::

    python scripts/make_demo_training_data.py OUT.zarr [--days 1095] [--seed 0] [--size 64] [--winds]
        [--smooth]

The store is chunked one day per chunk, so training reads only the sampled days.
"""

from __future__ import annotations

import argparse
import sys
import time

import xgenda


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="zarr store to write (must not exist)")
    parser.add_argument("--days", type=int, default=1095)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--winds", action="store_true",
                        help="add 10 m winds and their Ekman current (uwind, vwind)")
    parser.add_argument("--smooth", action="store_true",
                        help="the ocean of ToyOceanParameters.smooth() (strong grid-scale "
                             "damping, SSH slope about -7.4: the earlier demo priors' ocean)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    parameters = xgenda.datasets.ToyOceanParameters.smooth() if args.smooth else None
    ds = xgenda.datasets.toy_ocean(days=args.days, size=args.size, seed=args.seed,
                                   winds=args.winds, parameters=parameters)
    ds = ds.chunk({"time": 1, "lat": -1, "lon": -1})
    ds.to_zarr(args.out, mode="w-", consolidated=False)
    extra = (" with winds" if args.winds else "") + (" (smooth)" if args.smooth else "")
    print(f"wrote {args.days} days of {args.size} x {args.size} toy ocean (seed {args.seed})"
          f"{extra} to {args.out} in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
