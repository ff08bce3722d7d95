"""Copy a trained window prior and give it a recommended configuration.

The configuration recommended for a prior (``metadata["recommended"]`` of its
config.json) is what :func:`xgenda.assimilate` runs for what a call leaves open. A prior
fresh from ``xgenda train`` has none, so it would run with the library's bare defaults
(observations of the analysis day only). This script gives the window prior the snapshot
demo prior's recommended configuration (sampler, guidance and observation windows, tuned
by ``xgenda.calibrate`` for the snapshot prior, not re-tuned for the window prior) and
records where it came from in ``metadata["recommended_source"]``. The bundled window
prior's guidance and ensemble inflation were then chosen on its validation run, with
changes of its sampler, guidance and windows tried, by ``benchmarks/calibration.py
--search config --against truth`` (earlier stages: ``--search inflation``; its model
card says which result ships).

Usage::

    python scripts/window_prior/recommend.py ~/xgenda-train/window3/prior \\
        ~/xgenda-train/window3/prior-recommended
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import xgenda


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="the trained prior's directory")
    parser.add_argument("output", type=Path, help="directory of the copy (must not exist)")
    args = parser.parse_args(argv)
    if args.output.exists():
        raise SystemExit(f"{args.output} exists; give a new directory")
    prior = xgenda.Prior.load(args.source)
    demo = xgenda.load_demo_prior(snapshot=True)
    recommended = demo.recommended
    if recommended is None:
        raise SystemExit("the demo prior recommends no configuration")
    prior.metadata["recommended"] = recommended.to_dict()
    prior.metadata["recommended_source"] = (
        f"the snapshot demo prior's recommended configuration (prior {demo.id}), not "
        "re-tuned")
    prior.save(args.output)
    print(f"{args.output}: prior {prior.id} ({prior.frames} frames), recommended "
          f"{recommended}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
