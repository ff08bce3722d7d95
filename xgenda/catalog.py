"""The xgenda intake catalog: demo OSSE data (offline) and the real products (remote).

``open_catalog()`` opens ``catalogs/xgenda.yaml`` (an intake 2 catalog, installed
inside the package as ``xgenda/catalogs/``). Its local entries build the toy-ocean
nature run and its OSSE observations on first use and cache them as zarr in
``$XGENDA_CACHE`` (default ``~/.cache/xgenda``); later reads reuse the stores.
Its remote entries (GLORYS12, DUACS, along-track L3, OSTIA, multi-mission SSS) open
Copernicus Marine datasets and need network access, the ``copernicusmarine``
package and a Copernicus Marine account.

Examples
--------
>>> cat = xgenda.catalog.open_catalog()                   # doctest: +SKIP
>>> truth = cat["toy_ocean"].read(days=30, size=64)       # doctest: +SKIP
>>> obs = cat["toy_ocean_osse"].read(days=30, swot=True)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import xarray as xr

from xgenda._optional import require
from xgenda.osse.store import demo_observations, demo_truth, open_observations, open_truth
from xgenda.variables import standardize as _standardize

BaseReader = require("intake.readers.readers", "xgenda.catalog").BaseReader

__all__ = ["CopernicusMarineReader", "ToyOceanOSSEReader", "ToyOceanReader", "cache_dir",
           "catalog_path", "open_catalog"]

CACHE_ENV = "XGENDA_CACHE"
"""Environment variable that overrides the cache directory of the demo data."""


def cache_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """Directory of the cached demo stores: ``path``, else ``$XGENDA_CACHE``, else ``~/.cache/xgenda``."""
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "xgenda"


def catalog_path() -> Path:
    """Path of the packaged ``xgenda.yaml`` (installed wheel or source checkout)."""
    installed = resources.files("xgenda") / "catalogs" / "xgenda.yaml"
    if installed.is_file():
        return Path(str(installed))
    # Editable install / source checkout: the top-level catalogs/ next to the package.
    source = Path(__file__).resolve().parent.parent / "catalogs" / "xgenda.yaml"
    if source.is_file():
        return source
    raise FileNotFoundError(
        f"the xgenda catalog is missing (looked for {installed} and {source}); reinstall xgenda")


def open_catalog(path: str | os.PathLike[str] | None = None) -> Any:
    """Open an intake 2 catalog, by default the one shipped with xgenda.

    Parameters
    ----------
    path : path-like, optional
        Catalog YAML file (default :func:`catalog_path`).

    Returns
    -------
    intake.readers.entry.Catalog
        ``cat["toy_ocean"].read(days=..., size=..., seed=...)`` returns a Dataset,
        ``cat["toy_ocean_osse"].read(...)`` a DataTree; ``cat.metadata`` and each
        ``cat[name].metadata`` say whether an entry needs the network.
    """
    intake = require("intake", "xgenda.catalog")
    cat = intake.from_yaml_file(str(path if path is not None else catalog_path()))
    if type(cat).__getitem__ is not _NamedEntries.__getitem__:
        # the same catalog, whose missing entries name the available ones
        cat.__class__ = type("Catalog", (_NamedEntries, type(cat)), {})
    return cat


class _NamedEntries:
    """Mixin of an intake catalog: a missing entry lists the available ones."""

    def __getitem__(self, name: Any) -> Any:
        try:
            return super().__getitem__(name)  # type: ignore[misc]
        except KeyError:
            available = ", ".join(sorted(map(str, self)))  # type: ignore[call-overload]
            raise KeyError(f"the catalog has no entry {name!r}; available entries: "
                           f"{available}") from None


class ToyOceanReader(BaseReader):
    """Toy-ocean nature run (:func:`xgenda.datasets.toy_ocean`), cached as zarr on first use.

    Arguments of ``read``: ``days``, ``size``, ``seed``, ``cache_dir`` (default
    :func:`cache_dir`) and ``toy_ocean_kwargs`` (a dict of further arguments).
    """

    output_instance = "xarray:Dataset"
    imports: ClassVar[set[str]] = {"xarray", "zarr", "torch"}

    def _read(self, days: int = 365, size: int = 64, seed: int = 0,
              cache_dir: str | None = None, toy_ocean_kwargs: dict[str, Any] | None = None,
              **kwargs: Any) -> xr.Dataset:
        _no_extra(kwargs, type(self).__name__)
        path = demo_truth(int(days), int(size), int(seed), cache_dir=_cache(cache_dir),
                          **dict(toy_ocean_kwargs or {}))
        return open_truth(path)


class ToyOceanOSSEReader(BaseReader):
    """OSSE observations (:func:`xgenda.osse.observe`) of a cached toy-ocean run.

    Arguments of ``read``: the nature run's ``days``, ``size``, ``seed``; ``obs_seed``
    (default ``seed``); ``cache_dir``; ``toy_ocean_kwargs``; any other keyword is an
    argument of :func:`xgenda.osse.observe` (``nadirs``, ``swot``, ``sst_cloud_cover``...).
    """

    output_instance = "xarray:DataTree"
    imports: ClassVar[set[str]] = {"xarray", "zarr", "torch"}

    def _read(self, days: int = 365, size: int = 64, seed: int = 0,
              obs_seed: int | None = None, cache_dir: str | None = None,
              toy_ocean_kwargs: dict[str, Any] | None = None,
              **observe_kwargs: Any) -> xr.DataTree:
        path = demo_observations(int(days), int(size), int(seed), cache_dir=_cache(cache_dir),
                                 obs_seed=obs_seed, toy_ocean_kwargs=toy_ocean_kwargs,
                                 **observe_kwargs)
        return open_observations(path)


class CopernicusMarineReader(BaseReader):
    """A Copernicus Marine dataset opened lazily with ``copernicusmarine.open_dataset``.

    Needs network access, ``pip install copernicusmarine`` and a Copernicus Marine
    account (``copernicusmarine login`` once, or ``COPERNICUSMARINE_SERVICE_USERNAME``
    / ``..._PASSWORD``). Arguments of ``read``: ``dataset_id``, ``variables``, the box
    (``minimum_longitude``... as in ``copernicusmarine.open_dataset``), ``start_datetime``,
    ``end_datetime``, and ``standardize`` (map names/units onto xgenda's canonical
    variables with :func:`xgenda.variables.standardize`).
    """

    output_instance = "xarray:Dataset"
    imports: ClassVar[set[str]] = {"copernicusmarine", "xarray"}

    def _read(self, dataset_id: str, standardize: bool = True, **kwargs: Any) -> xr.Dataset:
        try:
            import copernicusmarine
        except ImportError as err:
            raise ImportError(
                f"reading {dataset_id!r} needs the copernicusmarine package (pip install "
                "copernicusmarine), network access and a Copernicus Marine account") from err
        ds = copernicusmarine.open_dataset(dataset_id=dataset_id, **kwargs)
        if standardize:
            ds = _standardize(ds)
        return ds


def _cache(path: str | None) -> Path:
    return cache_dir(path)


def _no_extra(kwargs: dict[str, Any], reader: str) -> None:
    if kwargs:
        raise TypeError(f"{reader}.read got unexpected argument(s) {sorted(kwargs)}; "
                        "pass nature-run options in toy_ocean_kwargs={...}")
