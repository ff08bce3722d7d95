"""Typed configuration of an assimilation: which sampler, which guidance, which window.

>>> import xgenda
>>> from xgenda.config import MMPS, Heun
>>> ens = template.genda.assimilate(prior, obs, sampler=Heun(steps=16),
...                                 guidance=MMPS(cg_steps=1))  # doctest: +SKIP

Samplers: :class:`Heun`, :class:`Euler` (EDM on the Karras schedule),
:class:`DPMSolver2M` (multistep, one evaluation per step), :class:`GendaDDIM`. Guidance:
:class:`MMPS`, :class:`SDA`, :class:`DPS`, :class:`NoGuidance`. Window: :class:`Window`
(per kind of observations: :class:`KindWindow`). Spread of the ensemble:
:class:`Inflation`. How the network runs (bf16, compile): :class:`Acceleration`. Named
configurations: :mod:`xgenda.config.presets`.
"""

from xgenda.config import presets
from xgenda.config.legacy import configure
from xgenda.config.objects import (
    DPS,
    GUIDANCE,
    MMPS,
    QC_THRESHOLD,
    SDA,
    Acceleration,
    Configuration,
    DPMSolver2M,
    Euler,
    GendaDDIM,
    Guidance,
    Heun,
    Inflation,
    KindWindow,
    NoGuidance,
    Sampler,
    Window,
    from_dict,
    from_json,
)

__all__ = ["DPS", "GUIDANCE", "MMPS", "QC_THRESHOLD", "SDA", "Acceleration", "Configuration", "DPMSolver2M", "Euler", "GendaDDIM", "Guidance",
           "Heun", "Inflation", "KindWindow", "NoGuidance", "Sampler", "Window", "configure", "from_dict", "from_json",
           "presets"]
