"""Diagnostics of reconstructions and ensembles: ``ds.genda.diag``.

The modules:

- ``spectra``: wavenumber / isotropic / wavenumber-frequency PSD (xrft), PSD score,
  effective resolution;
- ``alongtrack``: ODC 2021a evaluation against withheld nadir tracks (mu, sigma, lambda_x);
- ``scores``: RMSE, ODC mu/sigma, ensemble mean/spread, CRPS, spread-skill, rank histogram;
- ``dynamics``: geostrophic currents, vorticity, strain, divergence, drifter errors;
- ``summary``, ``evaluation``: one table of scores for several reconstructions, and
  :func:`~xgenda.diagnostics.evaluation.evaluate` (what ``xgenda evaluate`` computes);
- ``plots``: figures (matplotlib, optional): ``ds.genda.plot``.

:class:`Diagnostics` is the stateless front the accessor returns; every method
calls the function of the same name with the wrapped object as first argument.
"""

from __future__ import annotations

from typing import Any

import xarray as xr

from xgenda.diagnostics import _common, alongtrack, dynamics, scores, spectra

__all__ = ["Diagnostics"]


class Diagnostics:
    """Diagnostics of a reconstruction (``ds.genda.diag``); ``truth`` is a reference field.

    Examples
    --------
    >>> import xgenda
    >>> truth = xgenda.testing.ocean_dataset(nt=3, ny=16, nx=16, land=False)
    >>> rec = truth + 0.01
    >>> float(rec.genda.diag.rmse(truth, "ssh").ssh)  # doctest: +ELLIPSIS
    0.0100...
    """

    def __init__(self, obj: xr.Dataset | xr.DataArray) -> None:
        self._obj = obj

    # -- spectra ----------------------------------------------------------
    def isotropic_spectrum(self, var: str | None = None, **kwargs: Any) -> xr.DataArray:
        """See :func:`xgenda.diagnostics.spectra.isotropic_spectrum`."""
        return spectra.isotropic_spectrum(self._obj, var, **kwargs)

    def wavenumber_spectrum(self, var: str | None = None, **kwargs: Any) -> xr.DataArray:
        """See :func:`xgenda.diagnostics.spectra.wavenumber_spectrum`."""
        return spectra.wavenumber_spectrum(self._obj, var, **kwargs)

    def wavenumber_frequency_spectrum(self, var: str | None = None, **kwargs: Any
                                      ) -> xr.DataArray:
        """See :func:`xgenda.diagnostics.spectra.wavenumber_frequency_spectrum`."""
        return spectra.wavenumber_frequency_spectrum(self._obj, var, **kwargs)

    def psd_score(self, truth: xr.Dataset | xr.DataArray, var: str | None = None,
                  **kwargs: Any) -> xr.DataArray:
        """See :func:`xgenda.diagnostics.spectra.psd_score`."""
        return spectra.psd_score(self._obj, truth, var, **kwargs)

    def effective_resolution(self, truth: xr.Dataset | xr.DataArray, var: str | None = None,
                             **kwargs: Any) -> xr.DataArray | xr.Dataset:
        """Wavelength (km) where the PSD score crosses 0.5.

        See :func:`xgenda.diagnostics.spectra.effective_resolution`.
        """
        return spectra.effective_resolution(self._obj, truth, var, **kwargs)

    # -- scores -----------------------------------------------------------
    def scores(self, truth: xr.Dataset | xr.DataArray, variables: Any = None,
               **kwargs: Any) -> xr.Dataset:
        """RMSE, ODC mu/sigma and ensemble scores per variable.

        See :func:`xgenda.diagnostics.scores.scores`.
        """
        return scores.scores(self._obj, truth, variables, **kwargs)

    def rmse(self, truth: xr.Dataset | xr.DataArray, var: str | None = None, **kwargs: Any
             ) -> Any:
        """See :func:`xgenda.diagnostics.scores.rmse`."""
        return scores.rmse(self._obj, truth, var, **kwargs)

    def odc_scores(self, truth: xr.Dataset | xr.DataArray, var: str | None = None,
                   **kwargs: Any) -> xr.Dataset:
        """See :func:`xgenda.diagnostics.scores.odc_scores`."""
        return scores.odc_scores(self._obj, truth, var, **kwargs)

    def crps(self, truth: xr.Dataset | xr.DataArray, var: str | None = None, **kwargs: Any
             ) -> Any:
        """See :func:`xgenda.diagnostics.scores.crps`."""
        return scores.crps(self._obj, truth, var, **kwargs)

    def spread_skill_ratio(self, truth: xr.Dataset | xr.DataArray, var: str | None = None,
                           **kwargs: Any) -> Any:
        """See :func:`xgenda.diagnostics.scores.spread_skill_ratio`."""
        return scores.spread_skill_ratio(self._obj, truth, var, **kwargs)

    def rank_histogram(self, truth: xr.Dataset | xr.DataArray, var: str | None = None,
                       **kwargs: Any) -> Any:
        """See :func:`xgenda.diagnostics.scores.rank_histogram`."""
        return scores.rank_histogram(self._obj, truth, var, **kwargs)

    def ensemble_mean(self) -> xr.Dataset | xr.DataArray:
        """Mean over ``member``."""
        if _common.MEMBER not in self._obj.dims:
            raise ValueError(f"no 'member' dim; dims are {tuple(self._obj.dims)}")
        return self._obj.mean(_common.MEMBER, keep_attrs=True)

    def spread(self) -> xr.Dataset | xr.DataArray:
        """Ensemble standard deviation over ``member`` (ddof=1)."""
        return scores.ensemble_spread(self._obj)

    # -- along-track ------------------------------------------------------
    def alongtrack_scores(self, tracks: Any, var: str = "ssh", **kwargs: Any) -> xr.Dataset:
        """ODC 2021a mu, sigma and lambda_x against withheld tracks.

        See :func:`xgenda.diagnostics.alongtrack.alongtrack_scores`.
        """
        return alongtrack.alongtrack_scores(self._obj, tracks, var, **kwargs)

    def alongtrack_rmse_scores(self, tracks: Any, var: str = "ssh", **kwargs: Any
                               ) -> xr.Dataset:
        """See :func:`xgenda.diagnostics.alongtrack.alongtrack_rmse_scores`."""
        return alongtrack.alongtrack_rmse_scores(self._obj, tracks, var, **kwargs)

    def alongtrack_psd_score(self, tracks: Any, var: str = "ssh", **kwargs: Any) -> xr.Dataset:
        """See :func:`xgenda.diagnostics.alongtrack.alongtrack_psd_score`."""
        return alongtrack.alongtrack_psd_score(self._obj, tracks, var, **kwargs)

    # -- dynamics ---------------------------------------------------------
    def geostrophic_currents(self, ssh: str = "ssh", **kwargs: Any) -> xr.Dataset:
        """See :func:`xgenda.diagnostics.dynamics.geostrophic_currents`."""
        return dynamics.geostrophic_currents(self._obj, ssh, **kwargs)

    def vorticity(self, u: str = "u", v: str = "v", **kwargs: Any) -> xr.DataArray:
        """Relative vorticity over f. See :func:`xgenda.diagnostics.dynamics.vorticity`."""
        return dynamics.vorticity(self._dataset(), u, v, **kwargs)

    def strain_rate(self, u: str = "u", v: str = "v", **kwargs: Any) -> xr.DataArray:
        """See :func:`xgenda.diagnostics.dynamics.strain_rate`."""
        return dynamics.strain_rate(self._dataset(), u, v, **kwargs)

    def divergence(self, u: str = "u", v: str = "v", **kwargs: Any) -> xr.DataArray:
        """See :func:`xgenda.diagnostics.dynamics.divergence`."""
        return dynamics.divergence(self._dataset(), u, v, **kwargs)

    def drifter_errors(self, drifters: xr.Dataset, **kwargs: Any) -> xr.Dataset:
        """See :func:`xgenda.diagnostics.dynamics.drifter_errors`."""
        return dynamics.drifter_errors(self._dataset(), drifters, **kwargs)

    def _dataset(self) -> xr.Dataset:
        obj = self._obj
        if isinstance(obj, xr.DataArray):
            return obj.to_dataset(name=obj.name if obj.name is not None else "ssh")
        return obj
