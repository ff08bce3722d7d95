"""Reference mappings that every reconstruction method is compared with.

:func:`optimal_interpolation` is the DUACS-like baseline of the Ocean Data
Challenges (Gaussian space-time covariance, 1 degree, 1 degree, 7 days, 5 % noise).
"""

from xgenda.baselines.oi import optimal_interpolation

__all__ = ["optimal_interpolation"]
