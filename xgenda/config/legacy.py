"""The one translation of the keyword arguments of earlier versions into objects.

:func:`xgenda.assimilate` accepted ``method=``, ``steps=``, ``gamma=``, ``preset=``,
``solver=``, ``churn=``, ``corrector_steps=``, ``tau=``, ``time_window=``,
``time_error_growth=`` and a mapping ``guidance=``; they keep working, translated
here (and only here) into a :class:`~xgenda.config.Configuration`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from xgenda.config.objects import (
    GUIDANCE,
    SDA,
    Configuration,
    DPMSolver2M,
    Euler,
    GendaDDIM,
    Heun,
    Inflation,
    Window,
)
from xgenda.config.presets import PRESETS

if TYPE_CHECKING:
    from xgenda.config.objects import Guidance, Sampler

__all__ = ["LEGACY", "configure"]

#: Keyword arguments of earlier versions still accepted by :func:`configure`.
LEGACY = ("method", "steps", "gamma", "preset", "solver", "churn", "corrector_steps", "tau",
          "time_window", "time_error_growth")
_SAMPLER_KEYS = ("steps", "solver", "churn", "corrector_steps", "tau")
_SOLVERS: dict[str, type[Heun] | type[Euler]] = {"heun": Heun, "euler": Euler}


def configure(sampler: Sampler | None = None, guidance: Guidance | Mapping[str, Any] | None = None,
              window: Window | None = None, inflation: Inflation | None = None, *,
              recommended: Configuration | None = None, **legacy: Any) -> Configuration:
    """The configuration of a run from objects and/or the keywords of earlier versions.

    Parameters
    ----------
    sampler, guidance, window, inflation : config objects, optional
        Default: :class:`Heun`, :class:`MMPS`, :class:`Window`, :class:`Inflation` (or
        a preset's, or ``recommended``'s). ``guidance`` may also be a mapping of the
        parameters of ``method``.
    recommended : Configuration, optional
        The prior's recommended configuration (:attr:`xgenda.Prior.recommended`): each
        of its sampler, guidance, window and inflation is used where the call gives
        neither the object nor a keyword of earlier versions that sets it, and no
        ``preset``.
    **legacy
        ``method``, ``steps``, ``gamma`` (SDA's strength), ``preset``, ``solver``,
        ``churn``, ``corrector_steps``, ``tau``, ``time_window``, ``time_error_growth``.

    Raises
    ------
    TypeError
        For an unknown keyword.
    ValueError
        When a keyword repeats what an object gives, or does not apply to it.
    """
    unknown = set(legacy) - set(LEGACY)
    if unknown:
        raise TypeError(f"unknown argument(s) {sorted(unknown)}; the configuration is given "
                        "by sampler=, guidance=, window= and inflation= objects (xgenda.config)")
    given = {k: v for k, v in legacy.items() if v is not None}
    preset = given.pop("preset", None)
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {sorted(PRESETS)}")
    if recommended is not None and not isinstance(recommended, Configuration):
        raise TypeError(f"recommended must be an xgenda.config.Configuration or None, got "
                        f"{type(recommended).__name__}")
    base = PRESETS[preset or "default"]()
    if recommended is not None and preset is None:
        # the prior's recommendation replaces the library default of each part the call
        # leaves entirely open (no object, no keyword of earlier versions)
        if sampler is None and not set(given) & set(_SAMPLER_KEYS):
            sampler = recommended.sampler
        if guidance is None and not set(given) & {"method", "gamma"}:
            guidance = recommended.guidance
        if window is None and not set(given) & {"time_window", "time_error_growth"}:
            window = recommended.window
        if inflation is None:
            inflation = recommended.inflation
    if inflation is not None and not isinstance(inflation, Inflation):
        raise TypeError(f"inflation must be an xgenda.config.Inflation or None, got "
                        f"{inflation!r}")
    return Configuration(_sampler(sampler, base["sampler"], given),
                         _guidance(guidance, base["guidance"], given),
                         _window(window, base["window"], given),
                         base["inflation"] if inflation is None else inflation)


def _clash(obj: Any, keys: tuple[str, ...], given: Mapping[str, Any], what: str) -> None:
    clash = [k for k in keys if k in given]
    if obj is not None and clash:
        raise ValueError(f"{clash} repeat what {what}={obj!r} sets; give them in the object, "
                         f"e.g. {type(obj).__name__}(...)")


def _sampler(sampler: Sampler | None, base: Sampler, given: Mapping[str, Any]) -> Sampler:
    _clash(sampler, _SAMPLER_KEYS, given, "sampler")
    if sampler is not None:
        return sampler
    options = {k: given[k] for k in _SAMPLER_KEYS if k in given}
    solver = options.pop("solver", None)
    if isinstance(base, GendaDDIM):
        extra = sorted(set(options) - {"steps"}) + (["solver"] if solver is not None else [])
        if extra:
            raise ValueError(f"{extra} do not apply to GenDA's DDIM sampler (preset='genda')")
        return replace(base, **options)
    if isinstance(base, DPMSolver2M) and solver is None:
        extra = sorted(set(options) - {"steps"})
        if extra:
            raise ValueError(f"{extra} do not apply to the DPM-Solver++(2M) sampler; give "
                             "sampler=Heun(...) for churn or a corrector")
        return replace(base, **options)
    if solver is not None and solver not in _SOLVERS:
        raise ValueError(f"solver must be one of {sorted(_SOLVERS)}, got {solver!r}")
    cls = _SOLVERS[solver] if solver is not None else type(base)
    kept = {k: getattr(base, k) for k in ("steps", "churn", "corrector_steps", "tau")
            if hasattr(base, k)}
    return cls(**{**kept, **options})


def _guidance(guidance: Guidance | Mapping[str, Any] | None, base: Guidance,
              given: Mapping[str, Any]) -> Guidance:
    if guidance is not None and not isinstance(guidance, Mapping):
        _clash(guidance, ("method", "gamma"), given, "guidance")
        return guidance
    method = given.get("method", base.method)
    if method not in GUIDANCE:
        raise ValueError(f"unknown method {method!r}; expected one of {sorted(GUIDANCE)}")
    if "method" in given and isinstance(base, SDA) and method != "sda":
        raise ValueError(f"preset='genda' uses SDA guidance; got method={method!r}")
    params = dict(guidance or {})
    if "gamma" in given:
        if method != "sda":
            raise ValueError(f"gamma is SDA's strength; method {method!r} has none (use "
                             "guidance=DPS(zeta=...) or MMPS(cg_steps=...))")
        params["gamma"] = given["gamma"]
    cls = GUIDANCE[method]
    start = base.params() if isinstance(base, cls) else {}
    try:
        return cls(**{**start, **params})
    except TypeError as err:
        raise ValueError(f"guidance parameters {sorted(params)} do not all apply to method "
                         f"{method!r} ({cls.__name__}); see xgenda.config") from err


def _window(window: Window | None, base: Window, given: Mapping[str, Any]) -> Window:
    _clash(window, ("time_window", "time_error_growth"), given, "window")
    if window is not None:
        return window
    try:
        return Window(given.get("time_window", base.half_width),
                      given.get("time_error_growth", base.error_growth))
    except ValueError as err:
        raise ValueError(f"time_window / time_error_growth (a Window's half_width / "
                         f"error_growth): {err}") from None
