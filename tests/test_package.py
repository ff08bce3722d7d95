"""Package-level behaviour: light import, accessor registration, testing helpers, CLI."""

from __future__ import annotations

import subprocess
import sys

import pytest
import xarray as xr

import xgenda
from xgenda.testing import ocean_dataset, raise_if_dask_computes


def test_import_does_not_import_torch():
    code = "import sys, xgenda; xgenda.Normalizer; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_version_is_exposed():
    assert isinstance(xgenda.__version__, str)
    assert xgenda.__version__.count(".") == 2


def test_accessor_registered_on_dataset_and_dataarray():
    ds = ocean_dataset(nt=1, ny=3, nx=3)
    assert hasattr(ds, "genda")
    assert hasattr(ds.ssh, "genda")


def test_accessor_is_stateless():
    ds = ocean_dataset(nt=1, ny=3, nx=3)
    assert vars(ds.genda) == {"_obj": ds}


def test_raise_if_dask_computes_raises_on_compute():
    ds = ocean_dataset(nt=2, ny=3, nx=3, chunks={"time": 1})
    with pytest.raises(RuntimeError, match="dask computed 1 time"), raise_if_dask_computes():
        ds.ssh.mean().compute()


def test_raise_if_dask_computes_allows_budget():
    ds = ocean_dataset(nt=2, ny=3, nx=3, chunks={"time": 1})
    with raise_if_dask_computes(max_computes=1):
        value = float(ds.ssh.mean())
    assert value == pytest.approx(float(ds.ssh.compute().mean()))


def test_ocean_dataset_is_deterministic_and_has_land():
    a, b = ocean_dataset(seed=3), ocean_dataset(seed=3)
    xr.testing.assert_identical(a, b)
    assert bool(a.ssh.isnull().any())
    assert bool(a.ssh.notnull().any())


def test_unknown_attribute_raises():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        xgenda.nope  # noqa: B018


def test_cli_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "xgenda.cli", "--help"], capture_output=True,
                         text=True, check=True)
    for command in ("demo", "simulate", "train", "assimilate", "evaluate"):
        assert command in out.stdout
