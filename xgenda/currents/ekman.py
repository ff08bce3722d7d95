"""Ekman current as a linear response to the wind: the per-pixel complex regression.

Writing the current and the wind stress as complex numbers ``w = u + i v`` and
``tau = tau_x + i tau_y``, the model is ``w = A tau (+ B)`` with a complex transfer
coefficient ``A``: its modulus is the amplitude (m s-1 per N m-2) and its argument
the turning angle of the current relative to the stress (negative: to the right,
as in the Northern Hemisphere). The least-squares fit over time has a closed form
in a few moments (sums over time), so the fit is one pass over the data, whether
numpy- or dask-backed, and regions (blocks, the whole domain, user labels) are fitted
by adding the moments of their pixels.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import xarray as xr

from xgenda._version import __version__
from xgenda.currents._inputs import (
    at_times,
    forcing,
    geostrophic_part,
    on_grid,
    require_variables,
    same_grid,
)
from xgenda.currents.stress import RHO_AIR, DragSpec
from xgenda.grid import check_grid, select_time_range
from xgenda.variables import cf_attrs

__all__ = ["EkmanModel", "fit_ekman"]

Region = Literal["pixel", "domain"] | int | xr.DataArray



def fit_ekman(
    currents: xr.Dataset,
    wind: xr.Dataset | None = None,
    *,
    time_range: tuple[Any, Any] | slice | None = None,
    region: Region = "pixel",
    min_samples: int = 10,
    intercept: bool = False,
    predictor: Literal["stress", "wind"] = "stress",
    drag: DragSpec = "large_pond",
    rho_air: float = RHO_AIR,
    subtract_geostrophic: bool = False,
    ssh: str = "ssh",
    on_insufficient: Literal["raise", "nan"] = "raise",
) -> EkmanModel:
    """Fit the Ekman current ``u + i v = A (tau_x + i tau_y) [+ B]`` by least squares.

    The fit is made over time, separately for every pixel (or region), on the
    pairs where both current and wind are finite. It computes: all the sums over
    time are evaluated in one dask computation.

    Parameters
    ----------
    currents : Dataset
        ``u``, ``v`` (m s-1), dims ``(time, lat, lon)`` (extra dims get their own
        coefficients): the wind-driven current to regress, e.g. ``u - u_geo``, or
        the total current with ``subtract_geostrophic=True``.
    wind : Dataset, optional
        10 m wind ``uwind``, ``vwind`` (m s-1), or wind stress ``tau_x``, ``tau_y``
        (N m-2), dims ``(time, lat, lon)``, at (at least) the times of ``currents``.
        Defaults to ``currents`` itself. Winds on another grid are regridded
        bilinearly onto the grid of ``currents``.
    time_range : (start, end) or slice, optional
        Training period (inclusive); defaults to all times of ``currents``.
    region : "pixel", "domain", int or DataArray
        One fit per pixel; one for the whole domain (coefficients without
        ``lat``/``lon``, applicable on any grid); one per square block of ``region``
        x ``region`` pixels; or one per integer label of a ``(lat, lon)`` DataArray on
        the grid of ``currents`` (NaN or negative labels are left out).
    min_samples : int
        Fewest valid pairs a pixel/region needs for its fit. Pixels/regions with none
        (land) get NaN coefficients.
    intercept : bool
        Also fit a steady current ``B`` (``intercept_u``, ``intercept_v``).
    predictor : {"stress", "wind"}
        Regress on the wind stress of the bulk formula (GenDA's choice and the
        default) or directly on the 10 m wind.
    drag, rho_air
        Bulk formula of the stress, see :func:`xgenda.currents.wind_stress`; stored
        with the model so that :meth:`EkmanModel.predict` applies the same.
    subtract_geostrophic : bool
        Regress ``u - u_geo``, with the geostrophic current of ``currents[ssh]`` from
        :func:`xgenda.diagnostics.dynamics.geostrophic_currents` (0 where undefined,
        as in :func:`xgenda.currents.decompose_currents`).
    ssh : str
        Name of the sea surface height variable for ``subtract_geostrophic``.
    on_insufficient : {"raise", "nan"}
        What to do with pixels/regions that have some, but fewer than
        ``min_samples``, valid pairs: raise an error, or give them NaN coefficients.

    Returns
    -------
    EkmanModel
        With ``.coefficients``: ``coef_real``, ``coef_imag``, ``amplitude`` (m s-1 per
        N m-2, or 1 for ``predictor="wind"``), ``angle`` (degree, counterclockwise from
        the forcing), ``r2``, ``n_samples`` and, with ``intercept``, ``intercept_u``,
        ``intercept_v`` (m s-1).

    Examples
    --------
    >>> model = fit_ekman(ds, time_range=("2020", "2021"),
    ...                   subtract_geostrophic=True)  # doctest: +SKIP
    >>> model.coefficients["angle"].median().item()  # doctest: +SKIP
    -41.2
    """
    require_variables(currents, ("u", "v"), "currents",
                      "give the current to regress as u, v in m s-1")
    check_grid(currents, need_time=True, what="currents")
    if predictor not in ("stress", "wind"):
        raise ValueError(f"predictor must be 'stress' or 'wind', got {predictor!r}")
    if on_insufficient not in ("raise", "nan"):
        raise ValueError(f"on_insufficient must be 'raise' or 'nan', got {on_insufficient!r}")
    n_params = 2 if intercept else 1
    if isinstance(min_samples, bool) or not isinstance(min_samples, int | np.integer) \
            or min_samples < n_params + 1:
        raise ValueError(f"min_samples must be an integer >= {n_params + 1} (the complex "
                         f"parameters fitted plus one), got {min_samples!r}")
    currents = select_time_range(currents, time_range, what="currents")
    u, v = currents["u"], currents["v"]
    if subtract_geostrophic:
        require_variables(currents, (ssh,), "currents",
                          f"subtract_geostrophic=True needs the sea surface height {ssh!r}")
        u_geo, v_geo = geostrophic_part(currents, ssh, u)
        u, v = u - u_geo, v - v_geo

    if wind is None:
        wind = currents
    else:
        wind = on_grid(wind, currents, what="wind", target_what="currents")
    if "time" not in wind.dims:
        raise ValueError("wind has no 'time' dim: the regression needs winds that vary in "
                         "time, at the times of the currents")
    wind = at_times(wind, currents, what="wind", reference_what="currents")
    fx, fy = forcing(wind, predictor=predictor, drag=drag, rho_air=rho_air)

    moments = _moments(u, v, fx, fy).compute()
    labels = _region_labels(region, currents)
    if labels is not None:
        pixel_count = moments["n"]
        moments = _regional_sums(moments, labels)
    coefs = _solve(moments, intercept)
    _check_counts(coefs["n_samples"], min_samples, on_insufficient, labels)
    enough = coefs["n_samples"] >= min_samples
    coefs = coefs.where(enough).assign(n_samples=coefs["n_samples"])
    if labels is not None and "lat" in coefs.dims:
        # Land pixels inside a block keep NaN: the model has no business there.
        coefs = coefs.where(pixel_count > 0)
        coefs["n_samples"] = coefs["n_samples"].fillna(0).astype(np.int64)
        coefs = coefs.assign_coords(region=labels.where(labels >= 0, -1).astype(np.int64))
        coefs["region"].attrs = {"long_name": "label of the region the pixel was fitted in"}

    units = "m s-1 Pa-1" if predictor == "stress" else "1"
    coefs = _with_attrs(coefs, units, intercept)
    times = currents.indexes["time"]
    coefs.attrs = {
        "title": "Ekman current transfer coefficients (xgenda)",
        "Conventions": "CF-1.8",
        "model": "u + i v = A (tau_x + i tau_y)" + (" + B" if intercept else "")
        if predictor == "stress" else "u + i v = A (uwind + i vwind)" + (" + B" if intercept
                                                                         else ""),
        "predictor": predictor,
        "intercept": int(intercept),
        "region": _region_name(region),
        "min_samples": int(min_samples),
        "drag": drag if isinstance(drag, str) else float(drag),
        "rho_air": float(rho_air),
        "subtract_geostrophic": int(subtract_geostrophic),
        "training_start": str(times.min()),
        "training_end": str(times.max()),
        "training_times": len(times),
        "xgenda_version": _version(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return EkmanModel(coefs)


class EkmanModel:
    """A fitted Ekman model: coefficients as a Dataset and the prediction ``A tau + B``.

    Build one with :func:`fit_ekman` or :meth:`open`; :meth:`predict` gives the
    Ekman current of any wind on the grid of the fit (lazily on dask).

    Parameters
    ----------
    coefficients : Dataset
        ``coef_real``, ``coef_imag`` (and optional ``intercept_u``, ``intercept_v``),
        with the attributes written by :func:`fit_ekman` (``predictor``, ``drag``,
        ``rho_air``).
    """

    def __init__(self, coefficients: xr.Dataset) -> None:
        require_variables(coefficients, ("coef_real", "coef_imag"), "Ekman coefficients",
                          "build an EkmanModel with xgenda.currents.fit_ekman or "
                          "EkmanModel.open")
        predictor = coefficients.attrs.get("predictor", "stress")
        if predictor not in ("stress", "wind"):
            raise ValueError(f"Ekman coefficients have an unknown predictor {predictor!r}")
        self._coefficients = coefficients

    @property
    def coefficients(self) -> xr.Dataset:
        """The coefficients Dataset (``amplitude``, ``angle``, ``coef_real``, ...)."""
        return self._coefficients

    @property
    def predictor(self) -> str:
        """``"stress"`` or ``"wind"``: what the current is regressed on."""
        return str(self._coefficients.attrs.get("predictor", "stress"))

    def predict(self, wind: xr.Dataset) -> xr.Dataset:
        """Ekman current of a wind field.

        Parameters
        ----------
        wind : Dataset
            ``uwind``, ``vwind`` (m s-1) or ``tau_x``, ``tau_y`` (N m-2), any leading
            dims (``time``, ``member``) and ``lat``, ``lon``; regridded bilinearly
            when on another grid than the coefficients.

        Returns
        -------
        Dataset
            ``u_ek``, ``v_ek`` (m s-1) with the dims of the wind; lazy on dask input.
            NaN where the wind or the coefficients are NaN (land).
        """
        coefs = self._coefficients
        spatial = "lat" in coefs.dims and "lon" in coefs.dims
        if spatial:
            require_variables(wind, (), "wind")
            wind = on_grid(wind, coefs, what="wind", target_what="the Ekman model")
        fx, fy = forcing(wind, predictor=self.predictor,
                         drag=_drag_from_attr(coefs.attrs.get("drag", "large_pond")),
                         rho_air=float(coefs.attrs.get("rho_air", RHO_AIR)))
        dtype = np.result_type(fx.dtype, np.float32)

        def coef(name: str) -> xr.DataArray | float:
            if name not in coefs:
                return 0.0
            return coefs[name].reset_coords(drop=True).astype(dtype)

        ar, ai = coef("coef_real"), coef("coef_imag")
        u_ek = (ar * fx - ai * fy + coef("intercept_u")).rename("u_ek")
        v_ek = (ai * fx + ar * fy + coef("intercept_v")).rename("v_ek")
        lead = tuple(d for d in fx.dims if d in u_ek.dims)
        u_ek = u_ek.transpose(*lead, ...)
        v_ek = v_ek.transpose(*lead, ...)
        u_ek.attrs, v_ek.attrs = cf_attrs("u_ek"), cf_attrs("v_ek")
        return xr.Dataset({"u_ek": u_ek, "v_ek": v_ek})

    def matches_grid(self, obj: xr.Dataset | xr.DataArray) -> bool:
        """Whether the model applies on the grid of ``obj`` (always, for a domain fit)."""
        coefs = self._coefficients
        if "lat" not in coefs.dims or "lon" not in coefs.dims:
            return True
        return same_grid(coefs, obj)

    def to_netcdf(self, path: str | os.PathLike[str], **kwargs: Any) -> None:
        """Write the coefficients to netCDF (reopen with :meth:`open`)."""
        self._coefficients.to_netcdf(path, **kwargs)

    @classmethod
    def open(cls, path: str | os.PathLike[str], **kwargs: Any) -> EkmanModel:
        """Read a model written by :meth:`to_netcdf`."""
        with xr.open_dataset(path, **kwargs) as ds:
            return cls(ds.load())

    def __repr__(self) -> str:
        c = self._coefficients
        where = "x".join(str(c.sizes[d]) for d in ("lat", "lon") if d in c.dims) or "domain"
        with np.errstate(all="ignore"):
            amp = float(c["amplitude"].median()) if "amplitude" in c else float("nan")
            ang = float(c["angle"].median()) if "angle" in c else float("nan")
        return (f"<EkmanModel predictor={self.predictor!r} region={c.attrs.get('region')!r} "
                f"grid={where} median amplitude={amp:.4g} {c['coef_real'].attrs.get('units', '')}"
                f" median angle={ang:.3g} deg>")


# -- the regression ----------------------------------------------------------

def _moments(u: xr.DataArray, v: xr.DataArray, fx: xr.DataArray,
             fy: xr.DataArray) -> xr.Dataset:
    """Sums over time of the valid pairs: ``n``, ``sum z``, ``sum w``, ``sum |z|^2``,
    ``sum |w|^2``, ``sum conj(z) w`` (z the forcing, w the current, complex)."""
    w = u.astype(np.float64) + 1j * v.astype(np.float64)
    z = fx.astype(np.float64) + 1j * fy.astype(np.float64)
    w, z = xr.broadcast(w, z)
    valid = w.notnull() & z.notnull()
    w = w.where(valid, 0)
    z = z.where(valid, 0)
    moments = xr.Dataset({
        "n": valid.sum("time"),
        "sz": z.sum("time"),
        "sw": w.sum("time"),
        "szz": (abs(z) ** 2).sum("time"),
        "sww": (abs(w) ** 2).sum("time"),
        "szw": (z.conj() * w).sum("time"),
    })
    return moments.reset_coords(drop=True)


def _solve(m: xr.Dataset, intercept: bool) -> xr.Dataset:
    """Least-squares coefficients from the moments (closed form)."""
    n = m["n"]
    with np.errstate(divide="ignore", invalid="ignore"):
        nn = n.where(n > 0)
        if intercept:
            czz = m["szz"] - np.abs(m["sz"]) ** 2 / nn
            czw = m["szw"] - np.conj(m["sz"]) * m["sw"] / nn
        else:
            czz, czw = m["szz"], m["szw"]
        a = (czw / czz.where(czz > 0)).where(n > 0)
        total = m["sww"] - np.abs(m["sw"]) ** 2 / nn  # spread about the mean current
        explained = np.abs(czw) ** 2 / czz.where(czz > 0)
        sse = np.maximum((m["sww"] - np.abs(m["sw"]) ** 2 / nn if intercept else m["sww"])
                         - explained, 0.0)
        r2 = 1.0 - sse / total.where(total > 0)
        out = xr.Dataset({
            "coef_real": np.real(a),
            "coef_imag": np.imag(a),
            "amplitude": np.abs(a),
            "angle": xr.apply_ufunc(np.angle, a, kwargs={"deg": True}),
            "r2": r2,
            "n_samples": n.astype(np.int64),
        })
        if intercept:
            b = (m["sw"] - a * m["sz"]) / nn
            out["intercept_u"], out["intercept_v"] = np.real(b), np.imag(b)
    return out


def _region_labels(region: Region, grid: xr.Dataset) -> xr.DataArray | None:
    """Integer labels (lat, lon) of the regions (-1: left out); ``None`` for pixels."""
    if isinstance(region, str):
        if region == "pixel":
            return None
        if region == "domain":
            return xr.zeros_like(grid["lat"] * grid["lon"], dtype=np.int64)
        raise ValueError(f"region must be 'pixel', 'domain', a block size in pixels or a "
                         f"DataArray of region labels; got {region!r}")
    if isinstance(region, xr.DataArray):
        check_grid(region, what="region labels")
        if set(region.dims) != {"lat", "lon"} or not same_grid(region, grid):
            raise ValueError("region labels must be a (lat, lon) DataArray on the grid of the "
                             f"currents; got dims {region.dims}")
        values = region.transpose("lat", "lon").values
        if not (np.issubdtype(values.dtype, np.integer) or
                np.issubdtype(values.dtype, np.floating)):
            raise ValueError(f"region labels must be numbers, got dtype {values.dtype}")
        with np.errstate(invalid="ignore"):
            labels = np.where(np.isfinite(values) & (values >= 0), values, -1).astype(np.int64)
        return xr.DataArray(labels, dims=("lat", "lon"),
                            coords={"lat": grid["lat"], "lon": grid["lon"]})
    if isinstance(region, bool) or not isinstance(region, int | np.integer) or region < 1:
        raise ValueError(f"a block region must be a positive number of pixels, got {region!r}")
    ny, nx = grid.sizes["lat"], grid.sizes["lon"]
    rows = np.arange(ny) // region
    cols = np.arange(nx) // region
    labels = rows[:, None] * (cols.max() + 1) + cols[None, :]
    return xr.DataArray(labels.astype(np.int64), dims=("lat", "lon"),
                        coords={"lat": grid["lat"], "lon": grid["lon"]})


def _regional_sums(moments: xr.Dataset, labels: xr.DataArray) -> xr.Dataset:
    """Moments summed over each region and given back to every pixel of it.

    A whole-domain fit (one label, no left-out pixel) drops ``lat``/``lon``.
    """
    ids = np.unique(labels.values[labels.values >= 0])
    onehot = xr.DataArray((labels.values[..., None] == ids).astype(np.float64),
                          dims=("lat", "lon", "_region"),
                          coords={"lat": labels["lat"], "lon": labels["lon"]})
    regional = xr.Dataset({k: xr.dot(m, onehot, dim=("lat", "lon"))
                           for k, m in moments.data_vars.items()})
    regional["n"] = regional["n"].round().astype(np.int64)
    if ids.size == 1 and np.all(labels.values >= 0):
        return regional.isel(_region=0, drop=True)
    back = xr.Dataset({k: xr.dot(r, onehot, dim="_region")
                       for k, r in regional.data_vars.items()})
    back["n"] = back["n"].round().astype(np.int64)
    return back.transpose(*moments["n"].dims)


def _check_counts(n: xr.DataArray, min_samples: int, on_insufficient: str,
                  labels: xr.DataArray | None) -> None:
    few = (n > 0) & (n < min_samples)
    n_few = int(few.sum())
    if not n_few or on_insufficient == "nan":
        return
    what = "pixel" if labels is None else "region"
    if labels is not None and "lat" in n.dims:
        extra = [d for d in few.dims if d not in ("lat", "lon")]
        few_2d = few.any(extra) if extra else few
        n_few = int(np.unique(labels.values[few_2d.transpose("lat", "lon").values]).size)
    counts = n.where(few)
    smallest = int(counts.min())
    where = ""
    if "lat" in n.dims and "lon" in n.dims:
        first = counts.where(counts == smallest, drop=True)
        where = (f" (e.g. at lat={float(first['lat'][0]):.4g}, "
                 f"lon={float(first['lon'][0]):.4g})")
    raise ValueError(
        f"too few samples for the Ekman regression: {n_few} {what}(s) have between 1 and "
        f"{min_samples - 1} valid (current, wind) pairs, fewest {smallest}{where}, but "
        f"min_samples={min_samples}. Use a longer training period (time_range), fit larger "
        "regions (region=<block size> or 'domain'), lower min_samples, or pass "
        "on_insufficient='nan' to leave those coefficients NaN"
    )


# -- metadata ----------------------------------------------------------------

def _with_attrs(coefs: xr.Dataset, units: str, intercept: bool) -> xr.Dataset:
    per = "per N m-2 of wind stress" if units != "1" else "per m s-1 of 10 m wind"
    attrs = {
        "coef_real": {"long_name": f"real part of the Ekman transfer coefficient A ({per})",
                      "units": units},
        "coef_imag": {"long_name": f"imaginary part of the Ekman transfer coefficient A "
                                   f"({per})", "units": units},
        "amplitude": {"long_name": f"amplitude |A| of the Ekman current {per}",
                      "units": units},
        "angle": {"long_name": "turning angle of the Ekman current from the forcing, "
                               "counterclockwise (negative: to the right)",
                  "units": "degree"},
        "r2": {"long_name": "fraction of the current variance explained by the fit",
               "units": "1"},
        "n_samples": {"long_name": "number of (current, wind) pairs in the fit",
                      "units": "1"},
    }
    if intercept:
        attrs["intercept_u"] = {"long_name": "eastward steady current B of the fit",
                                "units": "m s-1"}
        attrs["intercept_v"] = {"long_name": "northward steady current B of the fit",
                                "units": "m s-1"}
    for name, a in attrs.items():
        coefs[name].attrs = a
    return coefs


def _region_name(region: Region) -> str:
    if isinstance(region, str):
        return region
    if isinstance(region, xr.DataArray):
        return "labels"
    return f"block {int(region)}"


def _drag_from_attr(drag: Any) -> DragSpec:
    if isinstance(drag, str):
        try:
            return float(drag)
        except ValueError:
            return drag  # type: ignore[return-value]
    return float(drag)


def _version() -> str:
    return __version__
