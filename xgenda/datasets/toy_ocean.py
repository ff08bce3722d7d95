"""The toy-ocean nature run: a two-layer QG model on the Gulf Stream box, as a CF Dataset.

:func:`toy_ocean` sets up :class:`xgenda.datasets.qg.TwoLayerQG` on a beta-plane
that covers a lat/lon box (by default 33-43N, 65-55W), spins it up from a seeded
random state, integrates it with an adaptive (CFL-limited) time step and writes
daily snapshots of ``ssh``, ``sst``, ``sss``, ``u``, ``v`` (and optionally winds)
with CF attributes. Torch is imported only when the function runs.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from xgenda._version import __version__
from xgenda.grid import EARTH_RADIUS_M, GRAVITY, OMEGA, TIME_ATTRS, regular
from xgenda.progress import on_terminal, wanted
from xgenda.variables import VARIABLES

__all__ = ["MAX_SIZE", "MIN_SIZE", "ROUGH_HYPERVISCOUS_HOURS", "SMOOTH_HYPERVISCOUS_HOURS",
           "ToyOceanParameters", "toy_ocean"]

MIN_SIZE = 16
"""Smallest supported grid (points per side)."""
MAX_SIZE = 1024
"""Largest supported grid (points per side)."""

SECONDS_PER_DAY = 86400.0
COURANT_TARGET = 0.25
"""Advective Courant number ``dt (max|u|/dx + max|v|/dy)`` the automatic step aims at."""
COURANT_LIMIT = 0.5
"""Above this Courant number a fixed time step is rejected (AB3 goes unstable near 0.35-0.7)."""
MIN_STEPS_PER_DAY = 4
ROUGH_HYPERVISCOUS_HOURS = 1000.0
"""Hyperviscous damping time (hours) of the default ocean (:meth:`ToyOceanParameters.rough`)."""
SMOOTH_HYPERVISCOUS_HOURS = 1.0
"""Hyperviscous damping time (hours) of :meth:`ToyOceanParameters.smooth`."""

_POSITIVE = ("deformation_radius_km", "shear", "layer_depth_ratio", "drag_days",
             "hyperviscous_hours", "sst_restoring_days", "sss_restoring_days")


@dataclass(frozen=True)
class ToyOceanParameters:
    """The physical parameters of :func:`toy_ocean` (validated on construction).

    Parameters
    ----------
    deformation_radius_km : float
        First baroclinic deformation radius in km.
    mean_flow : float
        Upper-layer background velocity ``U1`` in m s-1 (sets the SSH slope).
    shear : float
        ``U1 - U2`` in m s-1, the source of baroclinic instability.
    layer_depth_ratio : float
        ``H1 / H2``.
    drag_days : float
        Bottom (lower-layer) drag time scale in days.
    hyperviscous_hours : float
        Damping time of the grid-scale hyperviscosity at the dealiasing cut-off, hours
        (default ``ROUGH_HYPERVISCOUS_HOURS``: SSH spectrum about ``k^-4.6`` over 4-16
        grid spacings; :meth:`smooth` damps the small scales as the ocean of the earlier
        demo priors did).
    sst_mean, sst_range, sst_restoring_days : float
        SST background (degC), its south-north difference (K) and anomaly restoring time.
    sss_mean, sss_range, sss_direction_deg, sss_restoring_days : float
        SSS background, its difference across the box, the bearing (degrees clockwise
        from north) towards which it increases, and the restoring time (days).
    tracer_diffusivity : float
        Laplacian diffusivity of both tracers in m2 s-1.
    ekman_amplitude, ekman_angle_deg : float
        Ekman current per unit wind speed and its turning angle (with ``winds=True``).

    See Also
    --------
    ToyOceanParameters.smooth : the same ocean with strong grid-scale damping.
    """

    deformation_radius_km: float = 25.0
    mean_flow: float = 0.1
    shear: float = 0.12
    layer_depth_ratio: float = 0.25
    drag_days: float = 20.0
    hyperviscous_hours: float = ROUGH_HYPERVISCOUS_HOURS
    sst_mean: float = 20.0
    sst_range: float = 10.0
    sst_restoring_days: float = 30.0
    sss_mean: float = 35.8
    sss_range: float = 1.2
    sss_direction_deg: float = 150.0
    sss_restoring_days: float = 90.0
    tracer_diffusivity: float = 20.0
    ekman_amplitude: float = 0.02
    ekman_angle_deg: float = 45.0

    @classmethod
    def rough(cls, **overrides: float) -> ToyOceanParameters:
        """The toy ocean with weak grid-scale damping, the default: mesoscale detail.

        The hyperviscous damping time at the dealiasing cut-off is
        ``ROUGH_HYPERVISCOUS_HOURS`` (1000 h, ~42 days): the SSH slope over 4-16 grid
        spacings is -4.6 to -4.8 at 64 x 64 (seeds 0 and 1; -4.3 at 128 x 128), within
        the ``k^-4`` to ``k^-5`` of Gulf Stream altimetry, with an SSH standard deviation
        of ~0.37 m and daily maximum speeds of ~1.5 m s-1, and the spectrum falls off
        steadily to the cut-off, without a pile-up of grid-scale noise
        (``benchmarks/results/toy_ocean_slope.md``, ``toy_ocean_slope_128.md``). These
        are the default parameters; the method names them and takes overrides.

        Parameters
        ----------
        **overrides : float
            Other fields of :class:`ToyOceanParameters` to set (e.g. ``shear=0.1``).

        Returns
        -------
        ToyOceanParameters

        Examples
        --------
        >>> ToyOceanParameters.rough().hyperviscous_hours
        1000.0
        """
        return cls._damped("rough", ROUGH_HYPERVISCOUS_HOURS, overrides)

    @classmethod
    def smooth(cls, **overrides: float) -> ToyOceanParameters:
        """The toy ocean with strong grid-scale damping (the earlier demo priors' ocean).

        ``hyperviscous_hours=SMOOTH_HYPERVISCOUS_HOURS`` (1 h) damps a wave four grid
        spacings long by a factor e in ~10 hours, which steepens the SSH wavenumber
        spectrum over 4-16 grid spacings to about ``k^-7.4`` at 64 x 64 (55-220 km;
        -8.2 at 128 x 128): smoother than the ocean at its smallest scales. Every other
        parameter is the default's.

        Parameters
        ----------
        **overrides : float
            Other fields of :class:`ToyOceanParameters` to set.

        Returns
        -------
        ToyOceanParameters

        Examples
        --------
        >>> ToyOceanParameters.smooth().hyperviscous_hours
        1.0
        """
        return cls._damped("smooth", SMOOTH_HYPERVISCOUS_HOURS, overrides)

    @classmethod
    def _damped(cls, method: str, hours: float, overrides: dict[str, float]
                ) -> ToyOceanParameters:
        """The defaults with ``hyperviscous_hours=hours`` and ``overrides`` (for ``method``'s
        error message)."""
        unknown = sorted(set(overrides) - {f.name for f in fields(cls)})
        if unknown:
            raise TypeError(f"ToyOceanParameters.{method}() got unexpected keyword argument(s) "
                            f"{unknown}; the overrides are fields of ToyOceanParameters")
        return cls(**{"hyperviscous_hours": hours, **overrides})

    def __post_init__(self) -> None:
        for name in _POSITIVE:
            value = getattr(self, name)
            if not (isinstance(value, numbers.Real) and value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        if not (isinstance(self.tracer_diffusivity, numbers.Real)
                and self.tracer_diffusivity >= 0):
            raise ValueError(f"tracer_diffusivity must be >= 0 m2 s-1, got "
                             f"{self.tracer_diffusivity!r}")


def toy_ocean(
    days: int,
    size: int = 64,
    seed: int = 0,
    *,
    parameters: ToyOceanParameters | None = None,
    dt: float | None = None,
    spinup_days: int = 180,
    device: str = "auto",
    winds: bool = False,
    start: str | np.datetime64 | pd.Timestamp = "2019-01-01",
    lon: tuple[float, float] = (-65.0, -55.0),
    lat: tuple[float, float] = (33.0, 43.0),
    dtype: Any = None,
    threads: int | None = 1,
    progress: bool | None = None,
    **parameter_values: float,
) -> xr.Dataset:
    """A daily nature run of an eddying ocean with SSH, SST, SSS and surface currents.

    A two-layer quasi-geostrophic model (Phillips set-up: uniform zonal flows ``U1``
    and ``U2 = U1 - shear`` made baroclinically unstable, beta, bottom drag,
    hyperviscosity; see :mod:`xgenda.datasets.qg`) runs on a doubly periodic
    beta-plane that covers the ``lon`` x ``lat`` box, tangent at its centre
    latitude ``lat0`` (``f0 = 2 Omega sin(lat0)``, ``beta = 2 Omega cos(lat0) / R``).
    SST and SSS are passive tracers stirred by the upper layer: a large-scale
    background gradient plus an anomaly with restoring and diffusion.

    Outputs are instantaneous daily snapshots after ``spinup_days``:

    - ``ssh = (f0/g) (psi1 - U1 y)`` in m, ``y`` the northward distance from the
      box centre: the upper-layer streamfunction plus the sea-surface slope in
      geostrophic balance with ``U1``; zero box mean at every time;
    - ``u = U1 + u1``, ``v = v1`` in m s-1: the upper-layer geostrophic velocity,
      so that ``u = -(g/f0) dssh/dy`` and ``v = (g/f0) dssh/dx`` hold exactly for
      the model's derivatives, with the constant ``f0`` and the beta-plane metric
      (``dy = R dlat``; ``dx = R cos(lat0) dlon`` at every latitude). Currents
      computed with ``f(lat)`` and ``R cos(lat) dlon`` differ by the beta-plane
      approximation (up to ~11% at the north/south edges of a 10-degree box);
    - ``sst`` (degC): ``sst_mean`` with ``sst_range`` K from the southern (warm) to
      the northern edge, plus the stirred anomaly;
    - ``sss`` (1e-3): ``sss_mean`` with ``sss_range`` across the box, increasing
      towards the bearing ``sss_direction_deg`` (150 = to the south-south-east:
      salty water is also warm, which partly compensates in density);
    - with ``winds=True``: ``uwind``, ``vwind`` (m s-1), a smooth, slowly varying
      field (westerlies plus large eastward-travelling synoptic waves), and an
      Ekman current added to ``u``, ``v``:
      ``u_ek + i v_ek = ekman_amplitude exp(-i ekman_angle) (uwind + i vwind)``,
      i.e. ``ekman_amplitude`` times the wind speed, turned ``ekman_angle_deg``
      to the right of the wind (to the left in the southern hemisphere). Winds
      do not force the QG model and the Ekman current does not advect tracers.

    With the defaults the run looks like the Gulf Stream region: SSH standard
    deviation over the box ~0.36-0.40 m, daily maximum speed 1-2 m/s, SST fronts and
    filaments, an SSH wavenumber spectrum of about k^-4.2 to k^-4.4 between 100 and
    300 km (figures for 64 and 128 in ``benchmarks/results/nature_run.md``); over 4-16 grid
    spacings it is about ``k^-4.6`` at 64 x 64, and about ``k^-7.4`` with the strong
    grid-scale damping of ``parameters=ToyOceanParameters.smooth()``.
    The same seed gives the same run on the same device, dtype and number of
    threads (floating-point sums depend on them, and the turbulence amplifies
    such differences after a few weeks); different seeds give independent runs.

    Parameters
    ----------
    days : int
        Number of daily snapshots to return (>= 1).
    size : int
        Grid points per side (even, 16 to 1024). 64 gives ~1/6 deg and 128 ~1/12 deg
        over the default 10-degree box.
    seed : int
        Seed of the random initial state (>= 0).
    parameters : ToyOceanParameters, optional
        The physical parameters (default ``ToyOceanParameters()``, the Gulf Stream
        set-up described above).
    dt : float, optional
        Fixed time step in s; it must divide one day. ``None`` (default) adapts the
        step once a day to keep the Courant number near ``COURANT_TARGET``.
    spinup_days : int
        Days integrated before the first snapshot (the default 180 lets the eddies
        and tracers reach statistical equilibrium from the 5 cm initial noise).
    device : str
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
    winds : bool
        Add ``uwind``, ``vwind`` and the Ekman current.
    start : str or datetime-like
        Date of the first snapshot.
    lon, lat : (float, float)
        West/east and south/north edges of the box in degrees.
    dtype : torch.dtype or str, optional
        Model precision: default float64 on CPU, float32 on GPU.
    threads : int or None
        Torch CPU threads used while stepping (restored afterwards); ``None`` keeps
        torch's setting. One thread is best up to ~256 points per side, and several
        threads slow the model down badly when the cores are busy.
    progress : bool, optional
        Show a tqdm progress bar; ``None`` follows :func:`xgenda.progress.progress_bars`,
        else shows it when stderr is a terminal.
    **parameter_values
        Fields of :class:`ToyOceanParameters` given one by one (e.g. ``shear=0.1``),
        applied over ``parameters``.

    Returns
    -------
    xarray.Dataset
        Dims ``(time, lat, lon)``; variables ``ssh``, ``sst``, ``sss``, ``u``, ``v``
        (and ``uwind``, ``vwind``) as float32 with CF attributes; global attributes
        record the model parameters, seed, spin-up and the xgenda version.

    Examples
    --------
    >>> truth = toy_ocean(days=30, size=64, seed=0)  # doctest: +SKIP
    >>> float(truth.ssh.std())  # doctest: +SKIP
    0.35
    """
    _check_int("days", days, minimum=1, hint="the number of daily snapshots to return")
    _check_int("spinup_days", spinup_days, minimum=0, hint="days integrated before recording")
    _check_int("seed", seed, minimum=0, hint="a non-negative integer seed")
    _check_size(size)
    steps_per_day = None if dt is None else _steps_per_day(dt)
    start_ts = _check_start(start)
    _check_box(lon, lat)
    p = _parameters(parameters, parameter_values)
    grid = regular(lon=lon, lat=lat, res_deg=((lon[1] - lon[0]) / size, (lat[1] - lat[0]) / size),
                   time=pd.date_range(start_ts, periods=days, freq="D"))
    lat0 = 0.5 * (lat[0] + lat[1])
    if abs(lat0) < 5.0:
        raise ValueError(f"the box is centred at {lat0:g} deg; quasi-geostrophy needs a "
                         "Coriolis parameter away from zero: centre it poleward of 5N or 5S")

    import torch

    from xgenda.datasets.qg import QGParameters, TracerParameters, TwoLayerQG

    torch_device, torch_dtype = _resolve_device(device, dtype, torch)

    f0 = 2.0 * OMEGA * math.sin(math.radians(lat0))
    beta = 2.0 * OMEGA * math.cos(math.radians(lat0)) / EARTH_RADIUS_M
    Lx = EARTH_RADIUS_M * math.cos(math.radians(lat0)) * math.radians(lon[1] - lon[0])
    Ly = EARTH_RADIUS_M * math.radians(lat[1] - lat[0])
    sss_bearing = math.radians(p.sss_direction_deg)
    sst_gradient = (0.0, -p.sst_range / Ly)
    # increase of p.sss_range over the box extent along the bearing
    sss_extent = abs(Lx * math.sin(sss_bearing)) + abs(Ly * math.cos(sss_bearing))
    sss_gradient = (p.sss_range / sss_extent * math.sin(sss_bearing),
                    p.sss_range / sss_extent * math.cos(sss_bearing))
    day = SECONDS_PER_DAY
    params = QGParameters(
        nx=size, ny=size, Lx=Lx, Ly=Ly, beta=beta, rd=p.deformation_radius_km * 1e3,
        delta=p.layer_depth_ratio, U1=p.mean_flow, U2=p.mean_flow - p.shear,
        rek=1.0 / (p.drag_days * day), hyperviscous_time=p.hyperviscous_hours * 3600.0,
        tracers=(TracerParameters(sst_gradient, p.sst_restoring_days * day,
                                  p.tracer_diffusivity),
                 TracerParameters(sss_gradient, p.sss_restoring_days * day,
                                  p.tracer_diffusivity)),
    )

    if threads is not None:
        _check_int("threads", threads, minimum=1, hint="a number of CPU threads")
    model = TwoLayerQG(params, dt=day / (steps_per_day or 24), device=torch_device,
                       dtype=torch_dtype, threads=threads)
    model.set_psi(_initial_streamfunction(params, f0, seed))
    snapshots, dt_range = _integrate(model, spinup_days, days, steps_per_day, progress)

    # coordinates of cell centres relative to the box centre, m
    x = (np.arange(size) + 0.5) * params.dx - 0.5 * Lx
    y = (np.arange(size) + 0.5) * params.dy - 0.5 * Ly
    psi1, u1, v1, sst_anom, sss_anom = snapshots
    ssh = (f0 / GRAVITY) * (psi1 - p.mean_flow * y[None, :, None])
    u = p.mean_flow + u1
    v = v1
    sst = p.sst_mean + sst_gradient[1] * y[None, :, None] + sst_anom
    sss = (p.sss_mean + sss_gradient[0] * x[None, None, :] + sss_gradient[1] * y[None, :, None]
           + sss_anom)
    data = {"ssh": ssh, "sst": sst, "sss": sss, "u": u, "v": v}
    wind_attrs: dict[str, Any] = {}
    if winds:
        uwind, vwind = _wind_field(np.arange(days) * day, x, y, seed)
        turn = -math.copysign(1.0, f0) * math.radians(p.ekman_angle_deg)
        ekman = p.ekman_amplitude * np.exp(1j * turn) * (uwind + 1j * vwind)
        data["u"] = u + ekman.real
        data["v"] = v + ekman.imag
        data["uwind"], data["vwind"] = uwind, vwind
        wind_attrs = {
            "ekman_amplitude": float(p.ekman_amplitude),
            "ekman_angle_deg": float(p.ekman_angle_deg),
            "ekman_current": "u_ek + i v_ek = ekman_amplitude * exp(-i ekman_angle_deg * "
                             "sign(f0)) * (uwind + i vwind), added to u and v",
        }


    attrs = {
        "title": "xgenda toy ocean: two-layer quasi-geostrophic nature run with SST/SSS",
        "Conventions": "CF-1.8",
        "source": "xgenda.datasets.toy_ocean",
        "xgenda_version": __version__,
        "model": "two-layer QG, doubly periodic beta-plane, Phillips set-up; pseudo-spectral "
                 "(2/3 rule), AB3, del^8 hyperviscosity, bottom drag",
        "seed": int(seed),
        "spinup_days": int(spinup_days),
        "size": int(size),
        "device": str(torch_device),
        "dtype": str(torch_dtype).replace("torch.", ""),
        "time_step": "fixed" if dt is not None else f"adaptive, Courant target {COURANT_TARGET}",
        "time_step_s_min": dt_range[0],
        "time_step_s_max": dt_range[1],
        "snapshot": "instantaneous, once a day",
        "f0": f0, "beta": beta, "gravity": GRAVITY, "lat0": lat0,
        "domain_Lx_m": Lx, "domain_Ly_m": Ly,
        "deformation_radius_m": params.rd, "layer_depth_ratio": params.delta,
        "U1": params.U1, "U2": params.U2, "bottom_drag_s-1": params.rek,
        "hyperviscous_time_s": float(params.hyperviscous_time or 0.0),
        "sst_mean": p.sst_mean, "sst_range": p.sst_range,
        "sst_restoring_days": p.sst_restoring_days,
        "sss_mean": p.sss_mean, "sss_range": p.sss_range, "sss_direction_deg": p.sss_direction_deg,
        "sss_restoring_days": p.sss_restoring_days,
        "tracer_diffusivity_m2_s-1": float(p.tracer_diffusivity),
        "geostrophy": "u = -(g/f0) d(ssh)/dy, v = (g/f0) d(ssh)/dx with constant f0 and "
                      "beta-plane metrics dy = R dlat, dx = R cos(lat0) dlon (before the Ekman "
                      "current)",
        "ssh_definition": "(f0/g) * (upper-layer streamfunction - U1 * (y - y_centre)), "
                          "zero mean over the box",
        **wind_attrs,
    }
    return _as_dataset(grid, data, attrs)


def _parameters(parameters: ToyOceanParameters | None, values: dict[str, float]
                ) -> ToyOceanParameters:
    """``parameters`` (default ``ToyOceanParameters()``) with ``values`` applied over it."""
    unknown = sorted(set(values) - {f.name for f in fields(ToyOceanParameters)})
    if unknown:
        raise TypeError(f"toy_ocean() got unexpected keyword argument(s) {unknown}; the "
                        "physical parameters are the fields of ToyOceanParameters")
    return replace(parameters or ToyOceanParameters(), **values)


# -- integration ---------------------------------------------------------------------------
def _integrate(model: Any, spinup_days: int, days: int, fixed_steps: int | None,
               progress: bool | None) -> tuple[tuple[np.ndarray, ...], tuple[float, float]]:
    """Spin up, then record daily snapshots.

    Returns the snapshots (psi1, u1, v1, sst anomaly, sss anomaly), each (days, ny, nx)
    float32, and the smallest and largest time step used (s).
    """
    progress = wanted(progress, default=on_terminal())
    steps = fixed_steps or _adapted_steps(model, 0)
    model.set_dt(SECONDS_PER_DAY / steps)
    steps_range = [steps, steps]
    ny, nx = model.params.ny, model.params.nx
    out = tuple(np.empty((days, ny, nx), dtype=np.float32) for _ in range(5))
    total = spinup_days + days - 1
    with tqdm(total=total, desc="toy_ocean", unit="day", disable=not progress) as bar:
        for d in range(-spinup_days, days):
            if d > -spinup_days:
                model.step(steps)
                steps = _check_and_adapt(model, steps, fixed_steps, d)
                steps_range = [min(steps_range[0], steps), max(steps_range[1], steps)]
                bar.update(1)
            if d >= 0:
                f = model.fields()
                for arr, value in zip(out, (f["psi"][0], f["u"][0], f["v"][0],
                                            f["tracers"][0], f["tracers"][1]), strict=True):
                    arr[d] = value
    return out, (SECONDS_PER_DAY / steps_range[1], SECONDS_PER_DAY / steps_range[0])


def _adapted_steps(model: Any, current: int) -> int:
    """Steps per day that keep the Courant number near the target (with hysteresis)."""
    rate = model.courant() / model.dt  # s-1
    wanted = max(MIN_STEPS_PER_DAY, math.ceil(SECONDS_PER_DAY * rate / COURANT_TARGET))
    if current and 0.75 * current <= wanted <= current:
        return current
    return wanted


def _check_and_adapt(model: Any, steps: int, fixed_steps: int | None, day: int) -> int:
    courant = model.courant()
    if not math.isfinite(courant) or (fixed_steps is not None and courant > COURANT_LIMIT):
        hint = ("pass a smaller dt (e.g. dt=None for an automatic step)"
                if fixed_steps is not None else "reduce shear or mean_flow, or increase drag_days")
        raise RuntimeError(
            f"toy_ocean became numerically unstable at day {day} (Courant number {courant:.3g}, "
            f"limit {COURANT_LIMIT} with dt={model.dt:g} s); {hint}"
        )
    if fixed_steps is not None:
        return steps
    new = _adapted_steps(model, steps)
    if new != steps:
        model.set_dt(SECONDS_PER_DAY / new)
    return new


def _initial_streamfunction(params: Any, f0: float, seed: int) -> np.ndarray:
    """Random layer streamfunctions (2, ny, nx) with ~5 cm of SSH near twice the Rossby radius.

    Drawn with numpy so that a seed gives the same start on every device and dtype.
    """
    rng = np.random.default_rng(seed)
    ny, nx = params.ny, params.nx
    k = 2 * np.pi * np.fft.rfftfreq(nx, params.dx)
    l = 2 * np.pi * np.fft.fftfreq(ny, params.dy)  # noqa: E741
    K = np.hypot(k[None, :], l[:, None])
    shape = np.exp(-((K * 2 * params.rd - 1.0) ** 2))
    noise = np.fft.rfft2(rng.standard_normal((2, ny, nx))) * shape
    psi = np.fft.irfft2(noise, s=(ny, nx))
    return psi * (0.05 * GRAVITY / abs(f0)) / psi.std(axis=(1, 2), keepdims=True)


def _wind_field(times: np.ndarray, x: np.ndarray, y: np.ndarray,
                seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Smooth, slowly varying 10 m winds (time, y, x) in m s-1.

    Mean westerlies plus six plane waves 2000-5000 km long travelling east at 3-8 m/s
    (periods of 3-19 days), with their own random stream so that ``winds`` does not
    change the ocean.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x77696E64]))
    nmodes = 6
    wavelength = rng.uniform(2.0e6, 5.0e6, nmodes)
    heading = rng.uniform(-np.pi / 3, np.pi / 3, nmodes)  # mostly zonal wave vectors
    kx = 2 * np.pi / wavelength * np.cos(heading)
    ky = 2 * np.pi / wavelength * np.sin(heading)
    omega = kx * rng.uniform(3.0, 8.0, nmodes)
    amp_u = rng.normal(0.0, 2.5, nmodes)
    amp_v = rng.normal(0.0, 2.5, nmodes)
    phase_u = rng.uniform(0, 2 * np.pi, nmodes)
    phase_v = rng.uniform(0, 2 * np.pi, nmodes)
    T, Y, X = np.meshgrid(times, y, x, indexing="ij")
    uwind = np.full(T.shape, 6.0)
    vwind = np.zeros(T.shape)
    for m in range(nmodes):
        arg = kx[m] * X + ky[m] * Y - omega[m] * T
        uwind += amp_u[m] * np.cos(arg + phase_u[m])
        vwind += amp_v[m] * np.cos(arg + phase_v[m])
    return uwind, vwind


# -- output ----------------------------------------------------------------------------------
def _as_dataset(grid: xr.Dataset, data: dict[str, np.ndarray],
                attrs: dict[str, Any]) -> xr.Dataset:
    grid["time"].attrs = dict(TIME_ATTRS)
    variables = {}
    for name, values in data.items():
        var_attrs = dict(VARIABLES[name].attrs)
        if name in ("u", "v"):
            var_attrs["comment"] = ("upper-layer geostrophic velocity" +
                                    (" plus Ekman current" if "uwind" in data else ""))
        variables[name] = (("time", "lat", "lon"), values.astype(np.float32), var_attrs)
    return xr.Dataset(variables, coords=grid.coords, attrs=attrs)


# -- input checks ------------------------------------------------------------------------------
def _check_int(name: str, value: Any, *, minimum: int, hint: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer ({hint}), got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum} ({hint}), got {value}")


def _check_size(size: Any) -> None:
    supported = f"an even integer from {MIN_SIZE} to {MAX_SIZE} (e.g. 64, or 128 for ~1/12 deg)"
    if isinstance(size, bool) or not isinstance(size, numbers.Integral):
        raise TypeError(f"size must be {supported}, got {size!r}")
    if int(size) % 2 or not MIN_SIZE <= int(size) <= MAX_SIZE:
        raise ValueError(f"size must be {supported}, got {size}")


def _steps_per_day(dt: Any) -> int:
    if isinstance(dt, bool) or not isinstance(dt, numbers.Real) or not float(dt) > 0 \
            or not math.isfinite(dt):
        raise ValueError(f"dt must be a positive number of seconds (or None), got {dt!r}")
    dt = float(dt)
    steps = round(SECONDS_PER_DAY / dt)
    if steps < 1 or abs(steps * dt - SECONDS_PER_DAY) > 1e-6 * SECONDS_PER_DAY:
        examples = ", ".join(str(int(SECONDS_PER_DAY // n)) for n in (24, 36, 48, 72, 96))
        raise ValueError(f"dt={dt!r} s does not divide one day (86400 s) evenly; use e.g. "
                         f"{examples} s, or dt=None for an automatic step")
    return steps


def _check_box(lon: Any, lat: Any) -> None:
    for name, box, (a, b) in (("lon", lon, ("west", "east")), ("lat", lat, ("south", "north"))):
        try:
            lo, hi = (float(v) for v in box)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name} must be a pair ({a}, {b}) of degrees, got {box!r}") from err
        if not lo < hi:
            raise ValueError(f"{name}={box!r} is empty: give ({a}, {b}) with {a} < {b}")
    if not -90 < lat[0] < lat[1] < 90:
        raise ValueError(f"lat edges must lie strictly between -90 and 90, got {lat!r}")


def _check_start(start: Any) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(start)
    except (TypeError, ValueError) as err:
        raise ValueError(f"start must be a date such as '2019-01-01', got {start!r}") from err
    if ts is pd.NaT:
        raise ValueError(f"start must be a date such as '2019-01-01', got {start!r}")
    return ts


def _resolve_device(device: object, dtype: object, torch: Any) -> tuple[Any, Any]:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu' or 'cuda'") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was requested but CUDA is not available; "
                         "use device='cpu' or 'auto'")
    if dtype is None:
        dtype = torch.float64 if dev.type == "cpu" else torch.float32
    elif isinstance(dtype, str):
        dtype = getattr(torch, dtype, None)
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    return dev, dtype

