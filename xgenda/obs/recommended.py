"""Recommended assimilation settings for the toy-ocean OSSE observations (values only).

These are the settings scored by ``benchmarks/osse.py`` (``xgenda-best``; its ablation
rows measure each part); ``benchmarks/results/osse.md`` gives their scores. The windows,
growth rates and churn are hand-tuned values, not yet the result of a calibration search;
the ensembles they give are still under-dispersed (spread/skill about 0.8).
They are values, not code paths: the observation part is set on the observation
Datasets as attrs (``attrs["genda_" + key]``, read by :func:`xgenda.obs.collect`), the
rest are keywords of :func:`xgenda.assimilate`.

``observations`` (per OSSE observation node, the keys of :class:`ObservationSet`):

- ``time_window`` (days): half-width of the window of observation times used for
  an analysis time;
- ``time_error_growth`` (units of the variable per day): persistence error added
  in quadrature to the error of an observation ``dt`` days away,
  ``sqrt(error^2 + (growth dt)^2)``;
- ``error_correlation_km`` (km): correlation length of a gridded product's error,
  ``exp(-r^2 / L^2)``; its error std is inflated by the square root of the number
  of analysis pixels one independent error covers (see
  :func:`xgenda.obs.compile.correlated_error_inflation`);
- ``error_inflation``: a plain factor on the error std.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RECOMMENDED"]

RECOMMENDED: dict[str, Any] = {
    "observations": {
        "nadir": {"time_window": 5.0, "time_error_growth": 0.1},
        "l3_sst": {"time_window": 1.0, "time_error_growth": 0.2},
        "l4_sss": {"time_window": 0.5, "error_correlation_km": 48.0},
    },
    "steps": 16,
    "churn": 5.0,
    "guidance": {"cg_steps": 3},
}
"""Per-observation-node attrs and :func:`xgenda.assimilate` keywords (see above)."""
