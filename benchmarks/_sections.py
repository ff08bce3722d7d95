"""Sections of a shared results file, each written by its own benchmark."""

from __future__ import annotations

import re
from pathlib import Path


def write_section(path: Path, name: str, text: str, title: str) -> None:
    """Put ``text`` between the markers of section ``name`` of ``path`` (Markdown).

    Other sections, written by other benchmarks, are kept; a missing file starts with
    ``title``.
    """
    begin, end = f"<!-- section: {name} -->", f"<!-- end section: {name} -->"
    block = f"{begin}\n{text.rstrip()}\n{end}\n"
    old = path.read_text() if path.exists() else f"# {title}\n\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.S)
    new = pattern.sub(lambda _: block, old) if pattern.search(old) else \
        old.rstrip() + "\n\n" + block
    path.write_text(new)
