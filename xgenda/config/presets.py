"""Named configurations: keyword arguments of :func:`xgenda.assimilate`.

>>> from xgenda.config import presets
>>> presets.genda()["sampler"]
GendaDDIM(steps=256, eta=0.001)

Use them as ``template.genda.assimilate(prior, obs, **presets.genda())``.
"""

from __future__ import annotations

from typing import Any

from xgenda.config.objects import MMPS, SDA, DPMSolver2M, GendaDDIM, Heun, Inflation, Window

__all__ = ["default", "fast", "genda"]


def default() -> dict[str, Any]:
    """xgenda's library default: MMPS guidance, EDM Heun with 32 steps, a daily window
    (what runs with a prior that recommends no configuration of its own)."""
    return {"sampler": Heun(), "guidance": MMPS(), "window": Window(),
            "inflation": Inflation()}


def genda() -> dict[str, Any]:
    """GenDA's configuration: SDA (gamma 0.1, gradient through the denoiser) with 256
    DDIM steps on the VP cosine schedule (eta 1e-3)."""
    return {"sampler": GendaDDIM(), "guidance": SDA(), "window": Window(),
            "inflation": Inflation()}


def fast() -> dict[str, Any]:
    """A quick look: MMPS with 8 DPM-Solver++(2M) steps (8 network evaluations per
    member) on the analysis day's observations.

    Chosen by ``benchmarks/solver_study.py`` (``benchmarks/results/speed.md``): on 8
    held-out OSSE cases it had the lowest CRPS of the settings measured, at about a
    quarter of the cost of MMPS with 16 Heun steps and half that of 8 Heun steps.
    """
    return {"sampler": DPMSolver2M(steps=8), "guidance": MMPS(), "window": Window(),
            "inflation": Inflation()}


#: The presets by name (the CLI's ``--preset``).
PRESETS = {"default": default, "genda": genda, "fast": fast}
