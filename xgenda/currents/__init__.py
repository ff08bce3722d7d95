"""Surface-current decomposition: geostrophic + Ekman (wind regression) + residual.

GenDA does not learn total surface currents: it removes the geostrophic current
of the sea surface height and an Ekman current fitted on the wind, and models the
residual. This package makes that a reusable, lazy tool:

- :func:`wind_stress`: bulk-formula stress (N m-2) from 10 m winds;
- :func:`fit_ekman` -> :class:`EkmanModel`: per-pixel (or per-region) complex
  regression ``u + i v = A tau`` of the current on the stress, over a training period;
  ``model.predict(wind)`` gives ``u_ek``, ``v_ek``;
- :func:`decompose_currents` (``ds.genda.decompose_currents(model)``) adds
  ``u_geo``, ``v_geo``, ``u_ek``, ``v_ek``, ``u_res``, ``v_res`` with
  ``u = u_geo + u_ek + u_res`` exactly;
- :func:`recompose_currents` (``ds.genda.recompose_currents(model)``), the inverse,
  member by member on ensembles;
- :func:`training_state` (GenDA's seven channels ``ssh, sst, sss, u_res, v_res, uwind,
  vwind``) and :func:`wind_observations` (winds as a fully observed ``grid`` set).

Examples
--------
>>> import xgenda
>>> model = xgenda.currents.fit_ekman(ds, time_range=("2020", "2021"),
...                                   subtract_geostrophic=True)  # doctest: +SKIP
>>> parts = ds.genda.decompose_currents(model)                   # doctest: +SKIP
>>> total = ens.genda.recompose_currents(model, wind=winds)      # doctest: +SKIP
"""

from xgenda.currents.decompose import COMPONENTS, decompose_currents, recompose_currents
from xgenda.currents.ekman import EkmanModel, fit_ekman
from xgenda.currents.state import (
    GENDA_STATE,
    is_decomposed_state,
    training_state,
    wind_observations,
)
from xgenda.currents.stress import RHO_AIR, drag_coefficient, wind_stress

__all__ = [
    "COMPONENTS",
    "GENDA_STATE",
    "RHO_AIR",
    "EkmanModel",
    "decompose_currents",
    "drag_coefficient",
    "fit_ekman",
    "is_decomposed_state",
    "recompose_currents",
    "training_state",
    "wind_observations",
    "wind_stress",
]
