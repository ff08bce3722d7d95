"""The recommended assimilation settings for the toy-ocean OSSE observations.

They live in one place: the demo prior's ``config.json`` (``metadata["recommended"]``,
:attr:`xgenda.Prior.recommended`), which :func:`xgenda.assimilate` runs for whatever a
call leaves open. The windows and the sampler were calibrated on the validation run of
the snapshot demo prior of the smooth ocean by ``benchmarks/calibration.py``
(``benchmarks/results/calibration.md``) and copied to the window prior; its guidance was
searched on its own validation run (``benchmarks/results/calibration_cap.md``) and kept
through its fine-tuning on the rough ocean, whose ensemble inflation was calibrated anew
(``benchmarks/results/calibration_rough_inflation.md``). They are scored on held-out
runs by ``benchmarks/osse.py`` (``benchmarks/results/osse.md``). This module reads them
for the benchmarks:

- :func:`recommended_configuration`: the :class:`xgenda.config.Configuration`;
- :data:`RECOMMENDED`: the same as plain values, ``steps``, ``churn``, ``guidance``
  (MMPS's parameters), ``window`` (the Window's JSON form) and ``observations`` (attrs
  set on each OSSE observation node, ``attrs["genda_" + key]``; empty: the per-kind
  windows of the configuration and the products' own metadata, such as the
  ``error_correlation_km`` of an L4 product, apply).
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

from xgenda.config import Configuration, from_dict

__all__ = ["RECOMMENDED", "recommended_configuration"]


def _demo_document() -> dict[str, Any]:
    path = files("xgenda") / "assets" / "demo_prior" / "config.json"
    return json.loads(path.read_text())


def recommended_configuration() -> Configuration:
    """The demo prior's recommended configuration (read from its config.json)."""
    config = from_dict(_demo_document()["metadata"]["recommended"])
    if not isinstance(config, Configuration):
        raise ValueError("the demo prior's metadata['recommended'] is not a Configuration")
    return config


def _as_values(config: Configuration) -> dict[str, Any]:
    sampler = config.sampler.to_dict()
    return {
        "observations": {"nadir": {}, "l3_sst": {}, "l4_sss": {}},
        "steps": sampler["steps"],
        "churn": sampler.get("churn", 0.0),
        "guidance": config.guidance.params(),
        "window": config.window.to_dict(),
    }


RECOMMENDED: dict[str, Any] = _as_values(recommended_configuration())
"""The recommended configuration as plain values (see above)."""
