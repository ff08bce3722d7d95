"""Optional packages: a missing one is a one-line error that names the extra to install."""

from __future__ import annotations

import importlib
import sys

import pytest

from xgenda._optional import MissingOptionalDependency, require


def test_require_returns_the_module() -> None:
    import json

    assert require("json", "a test") is json


@pytest.mark.parametrize(("module", "extra"), [("intake", "catalog"), ("matplotlib", "plot"),
                                               ("distributed", "distributed")])
def test_missing_package_names_its_extra(module: str, extra: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingOptionalDependency) as info:
        require(module, "something")
    message = str(info.value)
    assert message.startswith(f"something needs {module}>=")
    assert message.endswith(f"pip install 'xgenda[{extra}]'")
    assert "\n" not in message
    assert isinstance(info.value, ImportError)


def test_missing_dependency_of_the_package_is_named(tmp_path, monkeypatch: pytest.MonkeyPatch
                                                    ) -> None:
    (tmp_path / "wrapper_pkg").mkdir()
    (tmp_path / "wrapper_pkg" / "__init__.py").write_text("import engine_lib_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MissingOptionalDependency) as info:
        require("wrapper_pkg", "backend='wrapper'")
    assert str(info.value) == ("backend='wrapper' needs wrapper_pkg (its dependency "
                               "engine_lib_not_installed is missing): pip install 'wrapper_pkg'")


def test_catalog_without_intake_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "xgenda.catalog", raising=False)
    for name in [m for m in sys.modules if m == "intake" or m.startswith("intake.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "intake", None)
    with pytest.raises(MissingOptionalDependency,
                       match=r"^xgenda.catalog needs intake>=2.0: pip install 'xgenda\[catalog\]'$"):
        importlib.import_module("xgenda.catalog")


def test_xesmf_hint_points_to_conda_forge(monkeypatch: pytest.MonkeyPatch) -> None:
    from xgenda.regrid.esmf import import_xesmf

    monkeypatch.setitem(sys.modules, "xesmf", None)
    with pytest.raises(MissingOptionalDependency, match="conda install -c conda-forge xesmf"):
        import_xesmf()


def test_cli_prints_a_missing_package_as_one_line(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str],
                                                  tmp_path) -> None:
    from xgenda.cli import main

    monkeypatch.setitem(sys.modules, "intake", None)
    assert main(["demo", "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert err.startswith("xgenda demo: error: xgenda demo needs intake>=2.0")
