"""MkDocs hooks: pages whose content comes from the project at build time.

- ``benchmarks.md``: the marker ``<!-- benchmark-scripts -->`` is replaced by a table
  of the scripts ``benchmarks/*.py`` with the first paragraph of their docstrings, and
  the marker ``<!-- benchmark-results -->`` by the
  Markdown results files ``benchmarks/results/*.md`` as the benchmark scripts wrote
  them (headings shifted one level down; relative links, anchors and images turned
  into plain text, since their targets are not part of the site). Numbers are never
  copied by hand.
- ``cli.md``: the marker ``<!-- cli-help -->`` is replaced by the ``--help`` text of
  every ``xgenda`` sub-command, generated from :func:`xgenda.cli.build_parser`.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
from pathlib import Path
from typing import Any

SCRIPTS_MARKER = "<!-- benchmark-scripts -->"
RESULTS_MARKER = "<!-- benchmark-results -->"
CLI_MARKER = "<!-- cli-help -->"
HELP_WIDTH = "88"

_HEADING = re.compile(r"#{1,5} ")
_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)[^)]*\)")
_LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)[^)]*\)")
_EXTERNAL = ("http://", "https://", "mailto:")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Fill the generated parts of the benchmarks and command-line pages."""
    root = Path(config["config_file_path"]).resolve().parent
    if SCRIPTS_MARKER in markdown:
        markdown = markdown.replace(SCRIPTS_MARKER, benchmark_scripts(root / "benchmarks"))
    if RESULTS_MARKER in markdown:
        markdown = markdown.replace(RESULTS_MARKER, benchmark_results(root / "benchmarks"
                                                                      / "results"))
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, cli_help())
    return markdown


def benchmark_scripts(directory: Path) -> str:
    """A Markdown table of ``directory/*.py`` and what each measures (its docstring)."""
    rows = ["| script | what it measures |", "|---|---|"]
    for path in sorted(directory.glob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        summary = " ".join(doc.split("\n\n")[0].split()).replace("|", "\\|")
        rows.append(f"| `benchmarks/{path.name}` | {summary} |")
    return "\n".join(rows) + "\n" if len(rows) > 2 else "*No benchmark scripts yet.*\n"


def benchmark_results(directory: Path) -> str:
    """Every ``*.md`` results file of ``directory``, in name order, as one Markdown text."""
    files = sorted(directory.glob("*.md"))
    if not files:
        return f"*No results files in `{directory.name}/` yet.*\n"
    parts = []
    for path in files:
        text = path.read_text(encoding="utf-8").strip()
        if not text.startswith("#"):
            parts.append(f"## {path.stem}\n")
        parts.append(_local_targets_as_text(_demote_headings(text)))
        parts.append(f"\n*Source: `benchmarks/results/{path.name}`.*\n")
    return "\n\n".join(parts) + "\n"


def _demote_headings(text: str) -> str:
    """``#`` headings one level down (outside fenced code blocks)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and _HEADING.match(line):
            line = "#" + line
        lines.append(line)
    return "\n".join(lines)


def _local_targets_as_text(text: str) -> str:
    """Relative links and images of a results file become text naming their target."""
    def image(match: re.Match[str]) -> str:
        alt, target = match.group(1), match.group(2)
        if target.startswith(_EXTERNAL):
            return match.group(0)
        return f"*(figure `{target}`{': ' + alt if alt else ''})*"

    def link(match: re.Match[str]) -> str:
        label, target = match.group(1), match.group(2)
        if target.startswith(_EXTERNAL):
            return match.group(0)
        return label if target.startswith("#") else f"{label} (`{target}`)"

    return _LINK.sub(link, _IMAGE.sub(image, text))


def cli_help() -> str:
    """The ``--help`` text of ``xgenda`` and of each of its sub-commands."""
    from xgenda.cli import COMMANDS, _command_module, build_parser

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_WIDTH  # argparse wraps to the terminal width
    try:
        parser = build_parser()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parts = ["### `xgenda`\n", _block(parser.format_help())]
        for name in COMMANDS:
            parts.append(f"### `xgenda {name}`\n")
            if _command_module(name) is None:
                parts.append(f"{COMMANDS[name]}. *Not available in this version: "
                             f"`xgenda {name}` prints so and exits with status 2.*\n")
            else:
                parts.append(_block(sub.choices[name].format_help()))
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous
    return "\n".join(parts)


def _block(text: str) -> str:
    return f"```text\n{text.rstrip()}\n```\n"
