"""Griffe extension: Sphinx cross-reference roles in docstrings become API links.

xgenda's numpydoc docstrings name other objects with Sphinx roles
(``:func:`regrid```, ``:class:`~xgenda.Prior```). mkdocstrings renders Markdown, so
each role is rewritten to an *optional* autorefs cross-reference: a link when the
target is documented on the site, plain code otherwise (external libraries, private
helpers), never a build warning.
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(func|class|meth|mod|data|attr|obj|exc):`(~?)([A-Za-z_][\w.]*)`")
_EXTERNAL = ("xarray.", "numpy.", "scipy.", "matplotlib.", "xesmf.", "dask.", "torch.",
             "pandas.", "intake.", "zarr.")


def _top_level_aliases() -> dict[str, str]:
    """``xgenda.Prior`` -> ``xgenda.prior.Prior``...: the lazily imported top-level names."""
    try:
        import xgenda
    except ImportError:  # building the docs without the package installed
        return {}
    return {f"xgenda.{name}": f"{module}.{attr}"
            for name, (module, attr) in getattr(xgenda, "_LAZY", {}).items()}


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring of the package once it is loaded."""

    def __init__(self) -> None:
        super().__init__()
        self._aliases = _top_level_aliases()

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        self._walk(pkg, seen=set())

    def on_package_loaded(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        # The name of the same event in griffe 1.x; rewriting twice changes nothing.
        self._walk(pkg, seen=set())

    def _walk(self, obj: Any, seen: set[str]) -> None:
        if obj.is_alias or obj.path in seen:
            return
        seen.add(obj.path)
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(lambda m: self._link(m, obj), obj.docstring.value)
        for member in obj.members.values():
            self._walk(member, seen)

    def _link(self, match: re.Match[str], obj: Any) -> str:
        role, short, target = match.group(1), match.group(2), match.group(3)
        shown = target.rsplit(".", 1)[-1] if short else target
        code = f"<code>{html.escape(shown)}</code>"
        if target.startswith(_EXTERNAL):
            return code
        identifier = self._resolve(role, target, obj)
        return f'<autoref identifier="{html.escape(identifier)}" optional>{code}</autoref>'

    def _resolve(self, role: str, target: str, obj: Any) -> str:
        if target.startswith("xgenda."):
            if role != "mod" and target in self._aliases:
                return self._aliases[target]
            return target
        if role in ("meth", "attr"):
            owner = obj if obj.is_class else obj.parent
            if owner is not None and owner.is_class and "." not in target:
                return f"{owner.path}.{target}"
        module = obj if obj.is_module else obj.module
        return f"{module.path}.{target}"
