"""The ``xgenda`` command.

Each sub-command lives in its own module under :mod:`xgenda._commands` and
defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
Modules are imported only when their command runs, so ``xgenda --help`` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from xgenda._optional import MissingOptionalDependency
from xgenda._version import __version__

COMMANDS: dict[str, str] = {
    "demo": "Run the end-to-end demo OSSE and write a report folder",
    "simulate": "Write a toy-ocean nature run and its OSSE observations to zarr",
    "train": "Train a diffusion prior from a config file",
    "assimilate": "Assimilate observations with a prior and write the ensemble to zarr",
    "evaluate": "Score a reconstruction against truth or withheld observations",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xgenda", description="Generative data assimilation of the surface ocean."
    )
    parser.add_argument("--version", action="version", version=f"xgenda {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        module = _command_module(name)
        if module is not None:
            module.add_arguments(p)
    return parser


def _command_module(name: str):  # type: ignore[no-untyped-def]
    try:
        return importlib.import_module(f"xgenda._commands.{name}")
    except ModuleNotFoundError as err:
        if err.name == f"xgenda._commands.{name}":
            return None
        raise


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    module = _command_module(args.command)
    if module is None:
        print(f"xgenda {args.command}: not available in this version", file=sys.stderr)
        return 2
    try:
        return int(module.run(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError, KeyError,
            MissingOptionalDependency) as err:
        print(f"xgenda {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
