"""Diffusion models of the ocean state: EDM preconditioning, UNet, training, samplers.

Submodules (all import torch):

- :mod:`xgenda.diffusion.edm`: ``edm_coefficients``, ``EDMPrecond``, ``edm_loss``
- :mod:`xgenda.diffusion.unet`: ``UNet`` (DDPM++/SongUNet family), ``UNetConfig``
- :mod:`xgenda.diffusion.sampling`: ``karras_sigmas``, ``edm_sample``
- :mod:`xgenda.diffusion.training`: ``train``, ``TrainConfig``
- :mod:`xgenda.diffusion.data`: random patches from xarray Datasets

This package module imports nothing heavy so that ``import xgenda.diffusion`` is cheap.
"""
