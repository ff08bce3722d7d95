"""Writing directories so that a failure never leaves a half-written one behind."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path


def hidden_sibling(path: Path, kind: str = "tmp") -> Path:
    """A fresh hidden path next to ``path`` (``.name.kind-xxxxxxxx``)."""
    return path.with_name(f".{path.name}.{kind}-{uuid.uuid4().hex[:8]}")


def swap_in(tmp: Path, path: Path) -> None:
    """Replace the existing ``path`` by ``tmp``; ``path`` is restored if the rename fails
    and the old version is deleted only once the new one is in place."""
    old = hidden_sibling(path, "old")
    os.rename(path, old)
    try:
        os.rename(tmp, path)
    except BaseException:
        os.rename(old, path)
        raise
    shutil.rmtree(old, ignore_errors=True)
