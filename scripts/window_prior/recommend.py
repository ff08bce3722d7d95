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

``--from DIR`` copies the recommended configuration of another saved prior instead (e.g.
the bundled window prior's, searched for it, to a prior fine-tuned from it).

Usage::

    python scripts/window_prior/recommend.py ~/xgenda-train/window3/prior \\
        ~/xgenda-train/window3/prior-recommended [--from DIR]
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
    parser.add_argument("--from", dest="source_of", type=Path, default=None,
                        help="the saved prior whose recommended configuration is copied "
                             "(default: the snapshot demo prior)")
    args = parser.parse_args(argv)
    if args.output.exists():
        raise SystemExit(f"{args.output} exists; give a new directory")
    prior = xgenda.Prior.load(args.source)
    if args.source_of is None:
        demo, what = xgenda.load_demo_prior(snapshot=True), "the snapshot demo prior"
    else:
        demo, what = xgenda.Prior.load(args.source_of), f"the prior in {args.source_of}"
    recommended = demo.recommended
    if recommended is None:
        raise SystemExit(f"{what} recommends no configuration")
    prior.metadata["recommended"] = recommended.to_dict()
    prior.metadata["recommended_source"] = (
        f"{what}'s recommended configuration (prior {demo.id}), not re-tuned")
    prior.save(args.output)
    print(f"{args.output}: prior {prior.id} ({prior.frames} frames), recommended "
          f"{recommended}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
