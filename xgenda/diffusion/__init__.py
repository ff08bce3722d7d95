"""Diffusion models of the ocean state: EDM preconditioning, UNet, training, samplers.

Submodules (all import torch):

- :mod:`xgenda.diffusion.edm`: ``edm_coefficients``, ``EDMPrecond``, ``edm_loss``,
  ``DenoiserFunction`` (a user's denoiser with the same interface)
- :mod:`xgenda.diffusion.unet`: ``UNet`` (DDPM++/SongUNet family), ``UNetConfig``
- :mod:`xgenda.diffusion.sampling`: ``karras_sigmas``, ``edm_sample`` (Heun / Euler, churn)
- :mod:`xgenda.diffusion.loop`: the optimization loop behind :func:`xgenda.train`
  (:mod:`xgenda.training`, which builds the :class:`~xgenda.Prior`); checkpoints in
  :mod:`~xgenda.diffusion.checkpoint`
- :mod:`xgenda.diffusion.samplers`: ``run_sampler``, a configured sampler
  (:mod:`xgenda.config`) run with any denoiser
- :mod:`xgenda.diffusion.data`: random training patches from xarray Datasets
- :mod:`xgenda.diffusion.guidance`, :mod:`~xgenda.diffusion.vp`: guided denoisers and
  the GenDA (VP / DDIM) sampler used by assimilation
- :mod:`xgenda.diffusion.composition`: a trajectory of days denoised by the overlapping
  windows of a window prior

This package module imports nothing heavy so that ``import xgenda.diffusion`` is cheap.
"""
