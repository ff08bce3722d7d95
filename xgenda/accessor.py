"""The ``.genda`` accessor on :class:`xarray.Dataset` and :class:`xarray.DataArray`.

The accessor is a thin, stateless front: every method calls a function of the
functional core (``xgenda.<module>.<function>(obj, ...)``) and caches nothing.
Modules are imported inside the methods so that ``import xgenda`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import xarray as xr

if TYPE_CHECKING:
    from xgenda.normalize import Normalizer

T = TypeVar("T", xr.Dataset, xr.DataArray)


class _GendaAccessor(Generic[T]):
    def __init__(self, obj: T) -> None:
        self._obj = obj

    # -- data preparation -------------------------------------------------
    def standardize(self, **kwargs: Any) -> T:
        """Canonical names, units, coordinates and CF attributes.

        See :func:`xgenda.variables.standardize`.
        """
        from xgenda.variables import standardize

        return standardize(self._obj, **kwargs)

    def regrid(
        self,
        target: xr.Dataset | xr.DataArray,
        method: Literal["bilinear", "nearest", "conservative"] = "bilinear",
        backend: Literal["auto", "xesmf", "native"] = "auto",
        **kwargs: Any,
    ) -> T:
        """Regrid onto the ``lat``/``lon`` grid of ``target``.

        See :func:`xgenda.regrid.regrid`.
        """
        from xgenda.regrid import regrid

        return regrid(self._obj, target, method=method, backend=backend, **kwargs)

    def sample_points(self, points: xr.Dataset, **kwargs: Any) -> T:
        """Values at point observations (dim ``obs``; coords ``time``, ``lat``, ``lon``).

        See :func:`xgenda.regrid.sample_points`.
        """
        from xgenda.regrid import sample_points

        return sample_points(self._obj, points, **kwargs)

    def normalize(self, norm: Normalizer) -> T:
        """Standardize with a fitted :class:`xgenda.Normalizer` (lazy)."""
        return norm.apply(self._obj)

    def denormalize(self, norm: Normalizer) -> T:
        """Invert :meth:`normalize` back to physical units (lazy)."""
        return norm.invert(self._obj)

    def patch(self, size: int, overlap: int = 0, **kwargs: Any) -> T:
        """Cut into square ``size`` x ``size`` patches along a new ``patch`` dim.

        See :func:`xgenda.patches.patch`.
        """
        from xgenda.patches import patch

        return patch(self._obj, size=size, overlap=overlap, **kwargs)

    def unpatch(self, **kwargs: Any) -> T:
        """Stitch patches back with smooth blending weights.

        See :func:`xgenda.patches.unpatch`.
        """
        from xgenda.patches import unpatch

        return unpatch(self._obj, **kwargs)

    # -- assimilation -----------------------------------------------------
    def assimilate(self, prior: Any, obs: Any, **kwargs: Any) -> xr.Dataset:
        """Posterior ensemble on this template's ``time``/``lat``/``lon`` (lazy).

        See :func:`xgenda.assimilation.assimilate`.
        """
        from xgenda.assimilation import assimilate

        return assimilate(self._obj, prior, obs, **kwargs)

    # -- currents ---------------------------------------------------------
    def geostrophic_currents(self, **kwargs: Any) -> xr.Dataset:
        """Geostrophic ``u``, ``v`` from ``ssh`` on the sphere.

        See :func:`xgenda.diagnostics.dynamics.geostrophic_currents`.
        """
        from xgenda.diagnostics.dynamics import geostrophic_currents

        return geostrophic_currents(self._obj, **kwargs)

    def decompose_currents(self, ekman_model: Any, **kwargs: Any) -> xr.Dataset:
        """Split ``u``, ``v`` into geostrophic, Ekman and residual parts.

        See :func:`xgenda.currents.decompose_currents`.
        """
        from xgenda.currents import decompose_currents

        return decompose_currents(self._obj, ekman_model, **kwargs)

    def recompose_currents(self, ekman_model: Any, **kwargs: Any) -> xr.Dataset:
        """Inverse of :meth:`decompose_currents`.

        See :func:`xgenda.currents.recompose_currents`.
        """
        from xgenda.currents import recompose_currents

        return recompose_currents(self._obj, ekman_model, **kwargs)

    # -- diagnostics ------------------------------------------------------
    @property
    def diag(self) -> Any:
        """Diagnostics: spectra, effective resolution, scores, dynamics.

        See :class:`xgenda.diagnostics.Diagnostics`.
        """
        from xgenda.diagnostics import Diagnostics

        return Diagnostics(self._obj)

    @property
    def plot(self) -> Any:
        """Figures (matplotlib): maps, spectra, spread-skill, rank histograms.

        See :class:`xgenda.diagnostics.plots.Plots`.
        """
        from xgenda.diagnostics.plots import Plots

        return Plots(self._obj)


@xr.register_dataset_accessor("genda")
class GendaDatasetAccessor(_GendaAccessor[xr.Dataset]):
    """``ds.genda``: xgenda methods on a Dataset."""


@xr.register_dataarray_accessor("genda")
class GendaDataArrayAccessor(_GendaAccessor[xr.DataArray]):
    """``da.genda``: xgenda methods on a DataArray."""
