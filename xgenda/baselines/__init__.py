"""Reference mappings that every reconstruction method is compared with.

:func:`optimal_interpolation` is the DUACS-like baseline of the Ocean Data
Challenges (Gaussian space-time covariance, 1 degree, 1 degree, 7 days, 5 % noise).
:class:`RegressionUNet` is the learned regression baseline (GenDA's comparison): a UNet
trained to map the gridded observations of a day (:func:`regression_inputs`) to the state.
"""

from xgenda.baselines.oi import optimal_interpolation
from xgenda.baselines.regression import (
    RegressionSettings,
    RegressionUNet,
    regression_analysis,
    regression_inputs,
)

__all__ = ["RegressionSettings", "RegressionUNet", "optimal_interpolation",
           "regression_analysis", "regression_inputs"]
