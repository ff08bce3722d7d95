"""``xgenda evaluate``: score reconstructions against a gridded truth and withheld observations.

Every reconstruction (an ensemble with a ``member`` dim, as ``xgenda assimilate``
writes it, or a single map) is scored

- against a gridded truth (``--truth``) with
  :func:`~xgenda.diagnostics.summary.score_summary`, at the times the two share;
  nothing is interpolated: the grids must be the same;
- against the withheld data of an OSSE observation tree (``--obs``, as
  ``xgenda simulate`` writes it): the ODC along-track SSH scores of
  ``withheld/nadir`` and the current errors against ``withheld/drifters``.

The scores are those of :func:`xgenda.diagnostics.evaluation.evaluate`. The report folder (``scores.csv``, ``alongtrack.csv``, ``report.md``) is written to a
hidden sibling folder and renamed into place at the end, so a failure leaves nothing
half-written.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xarray as xr

from xgenda._files import hidden_sibling, swap_in
from xgenda._version import __version__
from xgenda.diagnostics.evaluation import TIME_TOLERANCE, evaluate, time_span
from xgenda.grid import check_grid

HELP = "Score a reconstruction against truth or withheld observations"

NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf", ".cdf")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("reconstructions", nargs="+", metavar="RECONSTRUCTION",
                        help="zarr or netCDF Dataset: an ensemble (dim 'member', as written "
                             "by `xgenda assimilate`) or a map; list them before --names "
                             "and --variables")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="report folder (gets scores.csv, alongtrack.csv, report.md)")
    parser.add_argument("--truth", metavar="PATH",
                        help="gridded truth (zarr/netCDF) on the reconstructions' grid; "
                             "scored at the times they share")
    parser.add_argument("--obs", metavar="PATH",
                        help="observation DataTree zarr (as written by `xgenda simulate`): "
                             "SSH along withheld/nadir, currents at withheld/drifters")
    parser.add_argument("--names", nargs="+", metavar="NAME",
                        help="labels of the reconstructions, in order (default: file names "
                             "without suffix)")
    parser.add_argument("--variables", nargs="+", metavar="VAR",
                        help="variables to score (default: those of the truth that a "
                             "reconstruction has)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")


@dataclass
class _Reconstruction:
    name: str
    path: Path
    data: Any  # xarray.Dataset
    scored_times: Any = None  # pandas.DatetimeIndex of the times shared with the truth


def run(args: argparse.Namespace) -> int:
    from xgenda.demo import scores_markdown

    out = Path(args.out)
    if args.truth is None and args.obs is None:
        raise ValueError("nothing to score against: give --truth PATH (a gridded truth) and/or "
                         "--obs PATH (observations with withheld/nadir or withheld/drifters, "
                         "as written by `xgenda simulate`)")
    inputs = [Path(p) for p in [*args.reconstructions, args.truth, args.obs] if p is not None]
    _check_out(out, inputs, args.overwrite)

    recs = [_Reconstruction(name, Path(path), _open_dataset(path, f"reconstruction {name!r}"))
            for name, path in zip(_names(args.reconstructions, args.names),
                                  args.reconstructions, strict=True)]
    for rec in recs:
        _check_reconstruction(rec)
    truth = _open_dataset(args.truth, "truth") if args.truth else None
    withheld = _open_withheld(args.obs) if args.obs else {}
    result = evaluate({rec.name: rec.data for rec in recs}, truth, withheld, args.variables)
    for note in result.notes:
        print(f"xgenda evaluate: {note}", file=sys.stderr)
    for rec in recs:
        rec.scored_times = result.scored_times.get(rec.name)
    table, along = result.scores, result.alongtrack

    tables = {"scores": None if table is None else scores_markdown(table),
              "alongtrack": None if along is None else _alongtrack_markdown(along)}
    files: dict[str, str] = {}
    if table is not None:
        files["scores.csv"] = table.to_csv()
    if along is not None:
        files["alongtrack.csv"] = along.to_csv()
    files["report.md"] = _report(args, recs, truth is not None, withheld, tables)
    _write_folder(out, files, args.overwrite)

    for title, text in (("Scores against the gridded truth", tables["scores"]),
                        ("Along the withheld altimeter", tables["alongtrack"])):
        if text is not None:
            print(f"## {title}\n\n{text}\n", file=sys.stdout)
    print(f"report: {out / 'report.md'}", file=sys.stdout)
    return 0


# ---------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------
def _check_out(out: Path, inputs: list[Path], overwrite: bool) -> None:
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it or choose "
                              "another --out")
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file, not a report folder; choose another "
                              "--out")
    target = out.resolve()
    for path in inputs:
        # Replacing --out must never delete the data being scored.
        if path.exists() and (target == path.resolve() or target in path.resolve().parents):
            raise ValueError(f"--out {out} holds the input {path}; write the report to "
                             "another folder")


def _names(paths: list[str], names: list[str] | None) -> list[str]:
    if names is None:
        names = [Path(p.rstrip("/")).stem for p in paths]
        hint = "; label them with --names"
    elif len(names) != len(paths):
        raise ValueError(f"--names gives {len(names)} label(s) for {len(paths)} "
                         "reconstruction(s); give one per reconstruction, in order")
    else:
        hint = ""
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"reconstruction labels {duplicated} are not unique{hint}")
    return names


def _open_dataset(path: str, what: str) -> Any:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no {what} at {p}")
    netcdf = p.suffix.lower() in NETCDF_SUFFIXES
    try:
        if netcdf:
            return xr.open_dataset(p, chunks={})
        return xr.open_dataset(p, engine="zarr", chunks={})
    except (OSError, ValueError, KeyError, TypeError) as err:
        kind = "netCDF file" if netcdf else "zarr store"
        raise ValueError(f"cannot open the {what} {p} as a {kind} Dataset ({err}); give a "
                         "zarr store or a .nc file") from err


def _open_withheld(path: str) -> dict[str, Any]:
    """The withheld point observations of an OSSE tree: ``{"nadir": ds, "drifters": ds}``."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no observations at {p}")
    engine = None if p.suffix.lower() in NETCDF_SUFFIXES else "zarr"
    try:
        tree = xr.open_datatree(p, engine=engine)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"cannot open the observations {p} as a DataTree ({err}); give the "
                         "observations.zarr written by `xgenda simulate`") from err
    nodes = {}
    for name in ("nadir", "drifters"):
        try:
            nodes[name] = tree[f"withheld/{name}"].to_dataset()
        except KeyError:
            continue
    if not nodes:
        found = sorted(node.path for node in tree.subtree if node.has_data)
        raise ValueError(f"observations {p} have no withheld/nadir or withheld/drifters node "
                         f"(nodes with data: {found}); evaluation needs the withheld data of "
                         "an OSSE, as written by `xgenda simulate`")
    return nodes


def _check_reconstruction(rec: _Reconstruction) -> None:
    what = f"reconstruction {rec.name!r} ({rec.path})"
    gridded = [v for v, da in rec.data.data_vars.items() if {"lat", "lon"} <= set(da.dims)]
    if not gridded:
        raise ValueError(f"{what} has no variable on dims ('lat', 'lon') (variables "
                         f"{sorted(map(str, rec.data.data_vars))}, dims {dict(rec.data.sizes)})"
                         "; give a gridded map or ensemble")
    check_grid(rec.data, what=what)
    rec.data = rec.data[gridded]


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------
def _alongtrack_markdown(along: Any) -> str:
    lines = ["| method | variable | mu | sigma | rmse | units | points |",
             "|---|---|---|---|---|---|---|"]
    for method, row in along.iterrows():
        cells = [f"{row[c]:.3g}" for c in ("mu", "sigma", "rmse")]
        lines.append(f"| {method} | {row['variable']} | " + " | ".join(cells)
                     + f" | {row['units']} | {row['n_obs']} |")
    return "\n".join(lines)


def _command_line(args: argparse.Namespace) -> str:
    words = ["xgenda", "evaluate", *args.reconstructions, "--out", args.out]
    for flag, value in (("--truth", args.truth), ("--obs", args.obs)):
        if value is not None:
            words += [flag, value]
    for flag, values in (("--names", args.names), ("--variables", args.variables)):
        if values:
            words += [flag, *values]
    if args.overwrite:
        words.append("--overwrite")
    return shlex.join(words)


def _report(args: argparse.Namespace, recs: list[_Reconstruction], with_truth: bool,
            withheld: dict[str, Any], tables: dict[str, str | None]) -> str:
    lines = ["# xgenda evaluation", "",
             f"- command: `{_command_line(args)}`",
             f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; xgenda "
             f"{__version__}"]
    if args.truth:
        lines.append(f"- truth: `{Path(args.truth).resolve()}`")
    if args.obs:
        lines.append(f"- observations: `{Path(args.obs).resolve()}` (withheld: "
                     f"{', '.join(sorted(withheld))})")
    lines.append("- reconstructions:")
    for rec in recs:
        kind = (f"ensemble of {rec.data.sizes['member']} members" if "member" in rec.data.dims
                else "map")
        times = rec.data.indexes["time"] if "time" in rec.data.dims else []
        scored = "" if rec.scored_times is None else \
            f"; scored against the truth at {len(rec.scored_times)} of them"
        lines.append(f"  - `{rec.name}`: `{rec.path.resolve()}`, {kind}, "
                     f"{time_span(times)}{scored}")
    if tables["scores"] is not None:
        title = "Scores against the gridded truth" if with_truth else "Scores at the drifters"
        lines += ["", f"## {title}", "", tables["scores"], "",
                  "`rmse`, `mu`, `sigma` (ODC), `lambda_km` (PSD score crossing 0.5) are those "
                  "of the map or ensemble mean; `crps` and `spread_skill` of the members; "
                  "`drifter_rmse_*` against the withheld drifters (m s-1); `-`: not applicable "
                  "or no 0.5 crossing."]
    if tables["alongtrack"] is not None:
        lines += ["", "## Along the withheld altimeter", "", tables["alongtrack"], "",
                  "ODC 2021a scores of the map (ensemble mean) interpolated to the withheld "
                  f"track points (within {TIME_TOLERANCE} of its time span): `mu` = 1 - "
                  "RMS(err)/RMS(obs), `sigma` = std over days of the daily score."]
    return "\n".join(lines) + "\n"


def _write_folder(out: Path, files: dict[str, str], overwrite: bool) -> None:
    """Write ``files`` into a hidden sibling of ``out``, then rename it to ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = hidden_sibling(out)
    tmp.mkdir()
    try:
        for name, text in files.items():
            (tmp / name).write_text(text, encoding="utf-8")
        if not out.exists():
            os.rename(tmp, out)
            return
        if not overwrite:  # created while the scores were computed
            raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
        swap_in(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
