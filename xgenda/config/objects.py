"""The configuration objects of an assimilation: sampler, guidance, observation window,
ensemble inflation.

Each object is a frozen dataclass whose fields are validated on construction, so a
wrong setting fails where it is written, not inside a dask task. Every default of an
assimilation is a field default here and nowhere else. Each object has a JSON form
(:meth:`to_json` / :func:`from_json`) that records a run in its output and
re-creates it.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal, TypeAlias

import numpy as np
import pandas as pd

__all__ = [
    "DPS",
    "KINDS",
    "MMPS",
    "QC_THRESHOLD",
    "SDA",
    "Acceleration",
    "Configuration",
    "DPMSolver2M",
    "Euler",
    "GendaDDIM",
    "Guidance",
    "Heun",
    "Inflation",
    "KindWindow",
    "NoGuidance",
    "Sampler",
    "Window",
    "from_dict",
    "from_json",
]

_TYPES: dict[str, type[_Config]] = {}


def _integer(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _number(name: str, value: Any, minimum: float, *, strict: bool = False) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not ok or not (value > minimum if strict else value >= minimum) or not np.isfinite(value):
        bound = f"> {minimum}" if strict else f">= {minimum}"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return float(value)


class _Config:
    """Shared behaviour: dict and JSON forms, registration by class name."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _TYPES[cls.__name__] = cls

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)  # validation normalizes fields of frozen objects

    def to_dict(self) -> dict[str, Any]:
        """``{"type": class name, field: value, ...}``, nested objects as dicts."""
        out: dict[str, Any] = {"type": type(self).__name__}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            out[f.name] = value.to_dict() if isinstance(value, _Config) else value
        return out

    def to_json(self) -> str:
        """The JSON form; :func:`from_json` reads it back to an equal object."""
        return json.dumps(self.to_dict(), sort_keys=True)


def from_dict(data: dict[str, Any]) -> Any:
    """The object described by ``data`` (as written by ``to_dict``)."""
    if not isinstance(data, dict) or data.get("type") not in _TYPES:
        raise ValueError(f"not an xgenda configuration: {data!r}; expected a dict with a "
                         f"'type' among {sorted(_TYPES)}")
    values = {k: from_dict(v) if isinstance(v, dict) and "type" in v else v
              for k, v in data.items() if k != "type"}
    return _TYPES[data["type"]](**values)


def from_json(text: str) -> Any:
    """The object whose JSON form is ``text`` (e.g. an ensemble's ``configuration`` attr)."""
    return from_dict(json.loads(text))


# -- samplers ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Karras(_Config):
    """An EDM sampler on the Karras noise schedule (Karras et al. 2022).

    Parameters
    ----------
    steps : int
        Steps from ``sigma_max`` to 0 (Heun: ``2 steps - 1`` network evaluations).
    churn : float
        Stochasticity ``S_churn`` (total over all steps; 0: the deterministic ODE).
    corrector_steps : int
        Langevin corrector steps after each predictor step.
    tau : float
        Langevin step size (signal-to-noise ratio), > 0.
    sigma_min, sigma_max : float
        Ends of the schedule (normalized units).
    """

    solver: ClassVar[Literal["heun", "euler"]]
    steps: int = 32
    churn: float = 0.0
    corrector_steps: int = 0
    tau: float = 0.1
    sigma_min: float = 0.002
    sigma_max: float = 80.0

    def __post_init__(self) -> None:
        self._set("steps", _integer("steps", self.steps, 1))
        self._set("churn", _number("churn", self.churn, 0.0))
        self._set("corrector_steps", _integer("corrector_steps", self.corrector_steps, 0))
        self._set("tau", _number("tau", self.tau, 0.0, strict=True))
        self._set("sigma_min", _number("sigma_min", self.sigma_min, 0.0, strict=True))
        self._set("sigma_max", _number("sigma_max", self.sigma_max, self.sigma_min, strict=True))


@dataclass(frozen=True)
class Heun(_Karras):
    """EDM's second-order Heun sampler on the Karras schedule (see :class:`_Karras`)."""

    solver: ClassVar[Literal["heun", "euler"]] = "heun"


@dataclass(frozen=True)
class Euler(_Karras):
    """First-order Euler sampler on the Karras schedule (one evaluation per step)."""

    solver: ClassVar[Literal["heun", "euler"]] = "euler"


@dataclass(frozen=True)
class GendaDDIM(_Config):
    """GenDA's DDIM sampler on the VP cosine schedule (:func:`xgenda.diffusion.vp.genda_sample`).

    Parameters
    ----------
    steps : int
        Uniform steps in ``t`` from 1 to 0.
    eta : float
        Schedule parameter in (0, 1): smallest signal scale and noise floor.
    """

    steps: int = 256
    eta: float = 1e-3

    def __post_init__(self) -> None:
        self._set("steps", _integer("steps", self.steps, 1))
        if not _number("eta", self.eta, 0.0, strict=True) < 1:
            raise ValueError(f"eta must lie in (0, 1), got {self.eta!r}")
        self._set("eta", float(self.eta))


@dataclass(frozen=True)
class DPMSolver2M(_Config):
    """DPM-Solver++(2M) on the Karras schedule: one network evaluation per step
    (:func:`xgenda.diffusion.sampling.dpm_solver_2m`).

    Parameters
    ----------
    steps : int
        Steps from ``sigma_max`` to 0 (network evaluations per sample).
    sigma_min, sigma_max : float
        Ends of the schedule (normalized units).
    """

    steps: int = 16
    sigma_min: float = 0.002
    sigma_max: float = 80.0

    def __post_init__(self) -> None:
        self._set("steps", _integer("steps", self.steps, 1))
        self._set("sigma_min", _number("sigma_min", self.sigma_min, 0.0, strict=True))
        self._set("sigma_max", _number("sigma_max", self.sigma_max, self.sigma_min, strict=True))


Sampler: TypeAlias = Heun | Euler | DPMSolver2M | GendaDDIM


# -- guidance ----------------------------------------------------------------------------
class _Guidance(_Config):
    method: ClassVar[str]

    def params(self) -> dict[str, Any]:
        """Keyword arguments of :func:`xgenda.diffusion.guidance.guided_denoiser`."""
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class MMPS(_Guidance):
    """Moment-matching posterior sampling (Rozet et al. 2024).

    Parameters
    ----------
    cg_steps : int
        Conjugate-gradient iterations of the covariance solve (>= 1).
    float64 : bool
        Accumulate the solve in float64.
    jacobian : {"vjp", "jvp"}
        How the Jacobian of the denoiser is applied.
    symmetrize : bool
        Use the symmetric part ``(J + J^T) / 2`` of the denoiser's Jacobian in the
        solve (one more Jacobian product per iteration).
    cg_sigma_max : float, optional
        Run the conjugate-gradient solve only at noise levels up to this one (a single
        step above it), where the learned Jacobian is nearly symmetric; None: always.
    """

    method: ClassVar[str] = "mmps"
    cg_steps: int = 3
    float64: bool = False
    jacobian: Literal["vjp", "jvp"] = "vjp"
    symmetrize: bool = False
    cg_sigma_max: float | None = None

    def __post_init__(self) -> None:
        self._set("cg_steps", _integer("cg_steps", self.cg_steps, 1))
        if not isinstance(self.float64, bool):
            raise ValueError(f"float64 must be True or False, got {self.float64!r}")
        if self.jacobian not in ("vjp", "jvp"):
            raise ValueError(f"jacobian must be 'vjp' or 'jvp', got {self.jacobian!r}")
        if not isinstance(self.symmetrize, bool):
            raise ValueError(f"symmetrize must be True or False, got {self.symmetrize!r}")
        if self.cg_sigma_max is not None:
            if isinstance(self.cg_sigma_max, bool) or not float(self.cg_sigma_max) > 0:
                raise ValueError(f"cg_sigma_max must be > 0 (a noise level) or None, got "
                                 f"{self.cg_sigma_max!r}")
            self._set("cg_sigma_max", float(self.cg_sigma_max))


@dataclass(frozen=True)
class SDA(_Guidance):
    """Score-based data assimilation guidance (Rozet & Louppe 2023).

    Parameters
    ----------
    gamma : float
        Weight (>= 0) of the variance of ``A x0`` given ``x``, in units of ``sigma^2``.
    detach : bool
        Treat ``dD/dx`` as the identity (no backward pass through the network).
    """

    method: ClassVar[str] = "sda"
    gamma: float = 0.1
    detach: bool = False

    def __post_init__(self) -> None:
        self._set("gamma", _number("gamma", self.gamma, 0.0))
        if not isinstance(self.detach, bool):
            raise ValueError(f"detach must be True or False, got {self.detach!r}")


@dataclass(frozen=True)
class DPS(_Guidance):
    """Diffusion posterior sampling (Chung et al. 2023).

    Parameters
    ----------
    zeta : float
        Step size (> 0) of the gradient of the residual norm.
    """

    method: ClassVar[str] = "dps"
    zeta: float = 1.0

    def __post_init__(self) -> None:
        self._set("zeta", _number("zeta", self.zeta, 0.0, strict=True))


@dataclass(frozen=True)
class NoGuidance(_Guidance):
    """No guidance: unconditional samples of the prior."""

    method: ClassVar[str] = "none"


Guidance: TypeAlias = MMPS | SDA | DPS | NoGuidance

#: The guidance class of each method name.
#: Default gross-error threshold of observation quality control: innovations beyond this
#: many standard deviations of ``sqrt(prior var + error var)`` are rejected.
QC_THRESHOLD = 5.0

GUIDANCE: dict[str, type[Guidance]] = {c.method: c for c in (MMPS, SDA, DPS, NoGuidance)}


# -- observation window ------------------------------------------------------------------
def _days(name: str, value: Any) -> float:
    """A duration in days from a number of days, a timedelta or a string like ``"12h"``."""
    if isinstance(value, (str, _dt.timedelta, np.timedelta64, pd.Timedelta)):
        try:
            return float(pd.Timedelta(value) / pd.Timedelta(days=1))
        except ValueError:
            pass
    elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"{name} must be a number of days, a timedelta or a string like '12h', "
                     f"got {value!r}")


KINDS: tuple[str, ...] = ("points", "grid", "smoothed")


@dataclass(frozen=True)
class KindWindow(_Config):
    """The window of one kind of observations (a field of :class:`Window`).

    Parameters
    ----------
    half_width : float, str or timedelta, optional
        Half-width (days; ``"12h"`` works too) of the window of observation times of
        this kind; None: the window's own ``half_width``.
    error_growth : float, optional
        Growth of the observation error with the time distance to the analysis, in
        normalized units (prior std) per day, for this kind; added in quadrature to the
        window's ``error_growth``, which applies to every kind. None: 0.
    """

    half_width: float | None = None
    error_growth: float | None = None

    def __post_init__(self) -> None:
        if self.half_width is not None:
            days = _days("half_width", self.half_width)
            self._set("half_width", _number("half_width (days)", days, 0.0, strict=True))
        if self.error_growth is not None:
            self._set("error_growth", _number("error_growth", self.error_growth, 0.0))


@dataclass(frozen=True)
class Window(_Config):
    """Which observations inform an analysis time, and how much less with time distance.

    Parameters
    ----------
    half_width : float, str or timedelta
        Half-width of the window of observation times around each analysis time, days
        if a number (``"12h"`` works too); stored in days. The default, 0.5, is a daily
        snapshot. An observation set that records its own window
        (:class:`xgenda.obs.ObservationSet` ``time_window``) keeps it.
    error_growth : float
        Growth of the observation error with the time distance to the analysis, in
        normalized units per day: ``err^2 -> err^2 + (error_growth |dt|)^2``.
    points, grid, smoothed : KindWindow, optional
        Settings of one kind of observations (:class:`xgenda.obs.ObservationSet`
        ``kind``): its half-width (instead of ``half_width``) and its own error growth
        (normalized units per day, converted to the units of each variable with the
        prior's std). A set's own ``time_window`` / ``time_error_growth`` (its
        ``genda_time_window`` / ``genda_time_error_growth`` attrs) win over them.
    error_inflation : float
        Factor (> 0) on the error std of every observation, multiplying a set's own
        ``error_inflation``. It lives here, with the other settings of how observations
        enter an analysis, so that it is recorded in the ``configuration`` of every
        ensemble and tuned by :func:`xgenda.calibrate` like any other setting.
    trajectory_days : int, optional
        Days of the trajectory sampled for each analysis time with a window prior of
        ``K`` days (odd, ``>= K``): ``L > K`` composes the ``L - K + 1`` overlapping
        windows of the prior into one trajectory of ``L`` days centred on the analysis
        time (the composition of score-based data assimilation, Rozet & Louppe 2023),
        so that observations up to ``(L - 1) / 2`` days away act on their own day; it
        costs ``L - K + 1`` network evaluations per step instead of one. None (the
        default): the prior's own window, ``L = K``. Snapshot priors take only None.
    """

    half_width: float = 0.5
    error_growth: float = 0.0
    points: KindWindow | None = None
    grid: KindWindow | None = None
    smoothed: KindWindow | None = None
    error_inflation: float = 1.0
    trajectory_days: int | None = None

    def __post_init__(self) -> None:
        days = _days("half_width", self.half_width)
        self._set("half_width", _number("half_width (days)", days, 0.0, strict=True))
        self._set("error_growth", _number("error_growth", self.error_growth, 0.0))
        for kind in KINDS:
            value = getattr(self, kind)
            if isinstance(value, Mapping):
                try:
                    value = KindWindow(**{k: v for k, v in value.items() if k != "type"})
                except TypeError as err:
                    raise ValueError(f"Window {kind}=: {err}; give "
                                     f"KindWindow(half_width=..., error_growth=...)") from None
                self._set(kind, value)
            if value is not None and not isinstance(value, KindWindow):
                raise ValueError(f"Window {kind}= must be an xgenda.config.KindWindow (or a "
                                 f"dict of its half_width / error_growth) or None, got "
                                 f"{value!r}")
        self._set("error_inflation", _number("error_inflation", self.error_inflation, 0.0,
                                             strict=True))
        if self.trajectory_days is not None:
            days = _integer("trajectory_days", self.trajectory_days, 1)
            if days % 2 == 0:
                raise ValueError(f"trajectory_days must be odd (days centred on the analysis "
                                 f"day: 3, 5, 7, ...), got {days}")
            self._set("trajectory_days", days)

    def __repr__(self) -> str:
        parts = [f"half_width={self.half_width!r}", f"error_growth={self.error_growth!r}"]
        parts += [f"{k}={getattr(self, k)!r}" for k in KINDS if getattr(self, k) is not None]
        if self.error_inflation != 1.0:
            parts.append(f"error_inflation={self.error_inflation!r}")
        if self.trajectory_days is not None:
            parts.append(f"trajectory_days={self.trajectory_days!r}")
        return f"Window({', '.join(parts)})"

    def for_kind(self, kind: str) -> tuple[float, float]:
        """``(half_width, error_growth)`` of observations of ``kind``: half-width in days,
        the kind's own error growth in normalized units per day (0 when unset)."""
        if kind not in KINDS:
            raise ValueError(f"unknown observation kind {kind!r}; expected one of {KINDS}")
        own = getattr(self, kind)
        if own is None:
            return self.half_width, 0.0
        return (self.half_width if own.half_width is None else own.half_width,
                0.0 if own.error_growth is None else own.error_growth)


# -- the ensemble's spread ---------------------------------------------------------------
@dataclass(frozen=True)
class Inflation(_Config):
    """Inflation of the ensemble's anomalies about its mean, by scale.

    Each member's departure from the ensemble mean is split by a Gaussian low-pass
    filter (transfer 1/2 at ``wavelength_km``, where the two parts share a wave
    equally) into a large-scale and a small-scale part,
    multiplied by ``large`` and ``small``:
    ``x_m -> mean + large * low(x_m - mean) + small * (x_m - low(x_m - mean) - mean)``.
    The ensemble mean, hence its RMSE, is unchanged; the spread of each band is
    multiplied by its factor. One factor pair applies to every variable, so the linear
    relations between the members' fields (e.g. geostrophic currents of their SSH)
    hold in the anomalies as before. It is multiplicative posterior inflation
    (Anderson 2001), a calibration of the ensemble made by a statistical model, not a
    physical process: its factors are tuned on withheld observations of a validation
    run (:func:`xgenda.calibrate`) and recorded with the prior that recommends them.

    Parameters
    ----------
    large : float
        Factor (> 0) on the anomalies at wavelengths above ``wavelength_km``.
    small : float
        Factor (> 0) on the anomalies at wavelengths below it.
    wavelength_km : float
        Wavelength (km, > 0) at which the Gaussian filter passes half the amplitude.
    """

    large: float = 1.0
    small: float = 1.0
    wavelength_km: float = 200.0

    def __post_init__(self) -> None:
        self._set("large", _number("Inflation large", self.large, 0.0, strict=True))
        self._set("small", _number("Inflation small", self.small, 0.0, strict=True))
        self._set("wavelength_km", _number("Inflation wavelength_km", self.wavelength_km, 0.0,
                                           strict=True))

    @property
    def enabled(self) -> bool:
        """Whether it changes an ensemble (a factor other than 1)."""
        return self.large != 1.0 or self.small != 1.0


# -- how the network runs -----------------------------------------------------------------
@dataclass(frozen=True)
class Acceleration(_Config):
    """How the denoiser's network runs: options that trade exactness for speed.

    All are off by default: the default arithmetic is float32 in eager mode, the same
    bits whichever scheduler runs a block. Each option changes the arithmetic (results
    stay deterministic for one process, but differ from the default within the
    tolerances stated in ``tests/test_speed_options.py``).

    Parameters
    ----------
    bf16 : bool
        Run the raw network under bfloat16 autocast (CUDA, or CPU autocast); the EDM
        preconditioning, the guidance and the sampler stay in float32.
    compile : bool
        ``torch.compile`` the raw network (fixed shapes; the first call compiles, which
        takes minutes on a CPU; compiled once per process and option set).
    channels_last : bool
        Run the network's convolutions on channels-last tensors.
    cuda_graphs : bool
        With ``compile``, capture CUDA graphs (``mode="reduce-overhead"``); CUDA only.
    """

    bf16: bool = False
    compile: bool = False
    channels_last: bool = False
    cuda_graphs: bool = False

    def __post_init__(self) -> None:
        for name in ("bf16", "compile", "channels_last", "cuda_graphs"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.cuda_graphs and not self.compile:
            raise ValueError("cuda_graphs=True needs compile=True (CUDA graphs are captured "
                             "by torch.compile); give Acceleration(compile=True, "
                             "cuda_graphs=True)")

    @property
    def enabled(self) -> bool:
        """Whether any option departs from the default eager float32 network."""
        return self.bf16 or self.compile or self.channels_last


# -- the whole -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Configuration(_Config):
    """A sampler, a guidance, an observation window and an ensemble inflation: how an
    assimilation runs.

    Its JSON form is stored in the ``configuration`` attribute of every ensemble of
    :func:`xgenda.assimilate`; ``Configuration.from_json(ens.attrs["configuration"])``
    gives the objects to run it again (``**config.kwargs()``).
    """

    sampler: Sampler = field(default_factory=Heun)
    guidance: Guidance = field(default_factory=MMPS)
    window: Window = field(default_factory=Window)
    inflation: Inflation = field(default_factory=Inflation)

    def __post_init__(self) -> None:
        for name, kinds in (("sampler", (Heun, Euler, DPMSolver2M, GendaDDIM)),
                            ("guidance", (MMPS, SDA, DPS, NoGuidance)), ("window", (Window,)),
                            ("inflation", (Inflation,))):
            if not isinstance(getattr(self, name), kinds):
                raise TypeError(f"{name} must be one of {[k.__name__ for k in kinds]} "
                                f"(xgenda.config), got {getattr(self, name)!r}")

    def kwargs(self) -> dict[str, Any]:
        """``{"sampler": ..., "guidance": ..., "window": ..., "inflation": ...}`` for
        :func:`xgenda.assimilate`."""
        return {"sampler": self.sampler, "guidance": self.guidance, "window": self.window,
                "inflation": self.inflation}

    @staticmethod
    def from_json(text: str) -> Configuration:
        """Read the JSON form written by :meth:`to_json`."""
        config = from_json(text)
        if not isinstance(config, Configuration):
            raise ValueError(f"the JSON describes a {type(config).__name__}, not a Configuration")
        return config
