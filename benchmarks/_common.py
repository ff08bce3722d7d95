"""Shared pieces of the OSSE benchmark scripts: run information and result files."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from xgenda.datasets.toy_ocean import SMOOTH_HYPERVISCOUS_HOURS, ToyOceanParameters

OCEANS = {"default": {}, "smooth": {"hyperviscous_hours": SMOOTH_HYPERVISCOUS_HOURS}}
"""``--ocean`` of the benchmarks: toy-ocean parameters other than the defaults (the
default ocean is ``ToyOceanParameters()``, also ``.rough()``; ``smooth``:
``ToyOceanParameters.smooth()``, the ocean of the earlier demo priors and results)."""


def ocean_tag(ocean: dict[str, float]) -> str:
    """Digest of every physical parameter of the toy ocean ``ocean`` (an entry of
    :data:`OCEANS`, defaults resolved): a cache key that changes with the defaults."""
    values = asdict(replace(ToyOceanParameters(), **ocean))
    return hashlib.sha1(json.dumps(values, sort_keys=True).encode()).hexdigest()[:10]


def run_info(argv: list[str] | None, device: str) -> dict[str, Any]:
    """Command line, machine, device name, torch threads and date of a benchmark run."""
    import torch

    import xgenda

    resolved = str(xgenda._runtime.resolve_device(device))
    return {
        "command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "device": resolved if resolved == "cpu" else torch.cuda.get_device_name(0),
        "torch_threads": torch.get_num_threads(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def header(title: str, info: dict[str, Any]) -> list[str]:
    """Markdown title and the command / machine lines of a results file."""
    return [
        f"# {title}", "",
        f"- command: `{info['command']}`",
        f"- machine: {info['machine']}; device: {info['device']}; torch threads: "
        f"{info['torch_threads']}; {info['date']}",
    ]


def write_results(out: str | Path, info: dict[str, Any], table: Any,
                  markdown: Callable[[dict[str, Any], str], str]) -> Path:
    """Write ``out.json`` (info and the score rows) and ``out.md``; print the Markdown."""
    from xgenda.demo import scores_markdown

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = table.reset_index().to_dict(orient="records")
    out.with_suffix(".json").write_text(json.dumps({**info, "scores": rows}, indent=2,
                                                   default=float))
    out.with_suffix(".md").write_text(markdown(info, scores_markdown(table)))
    print(out.with_suffix(".md").read_text())
    return out
