"""Guided denoisers: estimates of ``E[x0 | x_t, y]`` for observations ``y = A x0 + e``.

The unguided denoiser ``D(x, sigma)`` estimates ``E[x0 | x]`` for ``x = x0 + sigma n``.
Given linear observations ``y = A x0 + e``, ``e ~ N(0, diag(error^2))``, each method
here wraps ``D`` into a denoiser with the same signature that estimates
``E[x0 | x, y]``, so that any sampler (:func:`xgenda.diffusion.sampling.edm_sample`,
the GenDA DDIM sampler of :mod:`xgenda.diffusion.vp`) samples the posterior.
With Tweedie's formula ``E[x0 | x, y] = D + sigma^2 grad_x log p(y | x)``:

- ``sda`` (Rozet & Louppe 2023): ``log p(y | x) ~ -1/2 sum (y - A D)^2 / (error^2 +
  gamma sigma^2)``, differentiated through ``D`` (or, with ``detach``, with respect
  to ``D`` itself, i.e. ``dD/dx ~ I``);
- ``dps`` (Chung et al. 2023): ``log p(y | x) ~ -zeta ||(y - A D) / error||``, the
  residual norm differentiated through ``D``;
- ``mmps`` (Rozet et al. 2024): the covariance of ``x0`` given ``x`` is
  ``sigma^2 J`` with ``J = dD/dx``; solving ``(R + sigma^2 A J A^T) u = y - A D``
  with a few conjugate-gradient steps (Jacobian products through ``D``) gives
  ``E[x0 | x, y] = D + sigma^2 J^T A^T u``, exact for a Gaussian prior and linear
  ``A`` (``J`` symmetric);
- ``none``: ``D`` itself (unconditional sampling).

All tensors are in normalized units. Observation vectors have shape (B, m); rows
padded with value 0, error 1 and an operator row of zeros change nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Literal

import torch

from xgenda.config import GUIDANCE
from xgenda.diffusion.sampling import Denoiser

__all__ = ["DEFAULTS", "METHODS", "dps", "guided_denoiser", "mmps", "sda"]

Operator = Callable[[torch.Tensor], torch.Tensor]
METHODS: tuple[str, ...] = ("none", "sda", "dps", "mmps")
#: torch's forward-mode autodiff keeps its dual level for the whole process: two threads
#: (dask's threaded scheduler runs blocks side by side) computing Jacobian-vector
#: products at once make each other fail. One at a time.
_FORWARD_AD = threading.Lock()
#: Default parameters of each method (the fields of :mod:`xgenda.config`'s guidance objects).
DEFAULTS: dict[str, dict[str, Any]] = {method: cls().params() for method, cls in GUIDANCE.items()}


def guided_denoiser(denoise: Denoiser, operator: Operator, y: torch.Tensor,
                    error: torch.Tensor, method: str = "mmps", **params: Any) -> Denoiser:
    """A denoiser guided by observations, for any sampler.

    Parameters
    ----------
    denoise : callable
        Unguided ``denoise(x (B, C, H, W), sigma 0-d Tensor) -> (B, C, H, W)``; must be
        differentiable with respect to ``x`` for ``sda`` (without ``detach``),
        ``dps`` and ``mmps``.
    operator : callable
        Linear observation operator ``A(x (B, C, H, W)) -> (B, m)``.
    y : Tensor (B, m)
        Observations (normalized units).
    error : Tensor (B, m)
        Error standard deviations (normalized units, > 0).
    method : {"mmps", "sda", "dps", "none"}
        Guidance method; see the module docstring.
    **params
        Method parameters: ``gamma``, ``detach`` (sda); ``zeta`` (dps);
        ``cg_steps``, ``float64``, ``jacobian``, ``symmetrize``, ``cg_sigma_max`` (mmps).
        Defaults in :data:`DEFAULTS`.

    Returns
    -------
    callable
        ``denoise(x, sigma) -> E[x0 | x, y]`` (detached tensors).
    """
    if method not in METHODS:
        raise ValueError(f"unknown guidance method {method!r}; expected one of {METHODS}")
    unknown = set(params) - set(DEFAULTS[method])
    if unknown:
        raise ValueError(f"method {method!r} takes parameters {sorted(DEFAULTS[method])}, "
                         f"got unknown {sorted(unknown)}")
    if method == "none" or y.shape[-1] == 0:
        return denoise
    if y.shape != error.shape:
        raise ValueError(f"y and error must have the same shape, got {tuple(y.shape)} and "
                         f"{tuple(error.shape)}")
    settings = {**DEFAULTS[method], **params}
    if method == "sda":
        return sda(denoise, operator, y, error, **settings)
    if method == "dps":
        return dps(denoise, operator, y, error, **settings)
    return mmps(denoise, operator, y, error, **settings)


def sda(denoise: Denoiser, operator: Operator, y: torch.Tensor, error: torch.Tensor,
        gamma: float = 0.1, detach: bool = False) -> Denoiser:
    """Score-based data assimilation guidance (Rozet & Louppe 2023).

    ``D + sigma^2 grad log N(y; A D, error^2 + gamma sigma^2)``, the gradient taken
    with respect to ``x`` through ``D`` (GenDA's choice) or, with ``detach=True``,
    with respect to ``D`` (cheaper: no backward pass through the network).

    Parameters
    ----------
    gamma : float
        Weight (>= 0) of the variance of ``A x0`` given ``x`` in units of ``sigma^2``.
    detach : bool
        Treat ``dD/dx`` as the identity.
    """
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0, got {gamma}")
    var_obs = error.square()

    def guided(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        s2 = sigma.square()
        with torch.enable_grad():
            xg = x.detach().requires_grad_(not detach)
            x0 = denoise(xg, sigma)
            target = x0.detach().requires_grad_(True) if detach else xg
            residual = y - operator(target if detach else x0)
            log_p = -0.5 * (residual.square() / (var_obs + gamma * s2)).sum()
            (grad,) = torch.autograd.grad(log_p, target)
        return (x0.detach() + s2 * grad).detach()

    return guided


def dps(denoise: Denoiser, operator: Operator, y: torch.Tensor, error: torch.Tensor,
        zeta: float = 1.0) -> Denoiser:
    """Diffusion posterior sampling guidance (Chung et al. 2023).

    ``D - zeta sigma^2 grad_x ||(y - A D) / error||`` for each sample: the step of
    DPS on the noisy state written as a denoiser (the ``sigma^2`` factor turns a
    score into a shift of the clean estimate).

    Parameters
    ----------
    zeta : float
        Step size (> 0): how far each step moves along the residual direction.
    """
    if zeta <= 0:
        raise ValueError(f"zeta must be > 0, got {zeta}")
    tiny = torch.finfo(y.dtype).tiny

    def guided(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            x0 = denoise(xg, sigma)
            residual = (y - operator(x0)) / error
            norm = (residual.square().sum(dim=-1) + tiny).sqrt()
            (grad,) = torch.autograd.grad(norm.sum(), xg)
        return (x0.detach() - zeta * sigma.square() * grad).detach()

    return guided


def mmps(denoise: Denoiser, operator: Operator, y: torch.Tensor, error: torch.Tensor,
         cg_steps: int = 3, float64: bool = False,
         jacobian: Literal["vjp", "jvp"] = "vjp", symmetrize: bool = False,
         cg_sigma_max: float | None = None) -> Denoiser:
    """Moment-matching posterior sampling (Rozet et al. 2024).

    Solves ``(R + sigma^2 A J A^T) u = y - A D`` (``R = diag(error^2)``,
    ``J = dD/dx``) per sample with ``cg_steps`` conjugate-gradient iterations and
    returns ``D + sigma^2 J^T A^T u``.

    Parameters
    ----------
    cg_steps : int
        Conjugate-gradient iterations (>= 1); the solve is exact after ``m`` of them.
    float64 : bool
        Accumulate the conjugate-gradient vectors and dot products in float64 (the
        Jacobian products stay in the state's dtype); helps when ``error`` is tiny
        compared with ``sigma``.
    jacobian : {"vjp", "jvp"}
        ``J v`` inside the solve as a vector-Jacobian product on the graph of one
        forward pass (assumes a symmetric ``J``, as a denoiser's is in theory; one
        backward pass per iteration) or as a forward-mode Jacobian-vector product
        (one extra forward-mode pass per iteration; the denoiser must support
        ``torch.func.jvp``). Forward-mode passes of concurrent threads take turns:
        torch's forward-mode state is per process.
    symmetrize : bool
        Use the symmetric part ``(J + J^T) / 2`` of the Jacobian (one vector-Jacobian
        and one Jacobian-vector product per use) in the solve and in the update. A
        learned denoiser's Jacobian is not symmetric, increasingly so at large
        ``sigma``; conjugate gradients on the non-symmetric system can diverge after
        a few iterations, on the symmetric part they do not. Exact (and equal to the
        plain method) when ``J`` is symmetric. ``J w`` is a forward-mode product with
        ``jacobian="jvp"``, else a central finite difference of the denoiser (two
        forward passes without graph; relative step 1e-3).
    cg_sigma_max : float, optional
        Above this noise level the solve takes a single conjugate-gradient step
        (a scaled steepest-descent step, which cannot diverge); ``cg_steps`` apply at
        and below it. Default: ``cg_steps`` at every noise level.
    """
    if int(cg_steps) != cg_steps or cg_steps < 1:
        raise ValueError(f"cg_steps must be a positive integer, got {cg_steps!r}")
    if jacobian not in ("vjp", "jvp"):
        raise ValueError(f"jacobian must be 'vjp' or 'jvp', got {jacobian!r}")
    if cg_sigma_max is not None and not cg_sigma_max > 0:
        raise ValueError(f"cg_sigma_max must be > 0 (a noise level) or None, got "
                         f"{cg_sigma_max!r}")
    var_obs = error.square()
    work = torch.float64 if float64 else y.dtype

    def guided(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        s2 = sigma.square()
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            x0 = denoise(xg, sigma)
            # A is linear: one graph of A gives A^T v for every v
            z = torch.zeros_like(x0, requires_grad=True)
            az = operator(z)

        def adjoint(v: torch.Tensor) -> torch.Tensor:
            (out,) = torch.autograd.grad(az, z, v.to(az.dtype), retain_graph=True)
            return out

        def vjp(w: torch.Tensor) -> torch.Tensor:
            (out,) = torch.autograd.grad(x0, xg, w, retain_graph=True)
            return out

        def jvp(w: torch.Tensor) -> torch.Tensor:
            with _FORWARD_AD:
                return torch.func.jvp(lambda v: denoise(v, sigma), (x.detach(),), (w,))[1]

        def forward_difference(w: torch.Tensor) -> torch.Tensor:
            # J w by a central difference of the denoiser (two forward passes, no graph)
            # with a step of about 1e-3 of the state's norm per sample; a zero w (a solve
            # that took no step) gives zero
            dims = tuple(range(1, w.ndim))
            norm = w.flatten(1).norm(dim=1)
            scale = 1e-3 * (x.detach().flatten(1).norm(dim=1) + 1.0) / torch.where(
                norm > 0, norm, 1)
            h = scale.reshape(-1, *([1] * len(dims)))
            with torch.no_grad():
                xd = x.detach()
                diff = denoise(xd + h * w, sigma) - denoise(xd - h * w, sigma)
            return diff / (2 * h)

        def sym(w: torch.Tensor) -> torch.Tensor:
            return 0.5 * (vjp(w) + (jvp(w) if jacobian == "jvp" else forward_difference(w)))

        jac = sym if symmetrize else (vjp if jacobian == "vjp" else jvp)

        def matvec(v: torch.Tensor) -> torch.Tensor:
            return var_obs.to(work) * v + s2.to(work) * operator(jac(adjoint(v))).to(work)

        with torch.no_grad():
            residual = (y - operator(x0.detach())).to(work)
        steps = int(cg_steps)
        if cg_sigma_max is not None and float(sigma) > cg_sigma_max:
            steps = 1
        u = conjugate_gradient(matvec, residual, steps, floor=var_obs.to(work))
        update = sym(adjoint(u)) if symmetrize else vjp(adjoint(u))
        return (x0.detach() + s2 * update).detach()

    return guided


def conjugate_gradient(matvec: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor,
                       steps: int, tol: float | None = None,
                       floor: torch.Tensor | None = None) -> torch.Tensor:
    """Approximate solution of ``M u = b`` for each row of ``b`` (B, m), ``M`` s.p.d.

    Every sample has its own step sizes, so the result of a sample does not depend on
    the others in the batch. Starts from ``u = 0``. A sample stops once its residual
    norm falls below ``tol`` times ``|b|`` (default ``1e-4`` in float32, ``1e-10`` in
    float64): iterating further in finite precision would only chase rounding noise
    (amplified by the conditioning of ``M``).

    ``floor`` (broadcastable to ``b``) is the diagonal of a matrix ``F`` known to lie
    below ``M`` (``M - F`` positive semi-definite; MMPS: the observation-error
    variances, below ``R + sigma^2 A J A^T`` for any covariance-like ``J``). A search
    direction ``p`` with ``p^T M p < p^T F p`` shows that the ``M`` actually applied is
    not of that form (a learned Jacobian with negative curvature): its step would be
    too long (without bound as ``p^T M p`` nears 0), so that sample keeps the iterate
    it has and stops.
    """
    if tol is None:
        tol = 1e-10 if b.dtype == torch.float64 else 1e-4
    u = torch.zeros_like(b)
    res = b.clone()
    p = res.clone()
    rs = res.square().sum(dim=-1, keepdim=True)
    threshold = rs * tol**2
    zero = torch.zeros((), dtype=b.dtype, device=b.device)
    eps = torch.finfo(b.dtype).eps
    active = rs > threshold
    for _ in range(steps):
        active = active & (rs > threshold)
        if not bool(active.any()):
            break
        mp = matvec(p)
        pmp = (p * mp).sum(dim=-1, keepdim=True)
        bound = zero  # curvature a valid M exceeds: 0, or the floor's (rounding margin)
        if floor is not None:
            bound = (p.square() * floor).sum(dim=-1, keepdim=True) * (1 - 64 * eps)
        ok = active & (pmp > bound)
        active = ok
        alpha = torch.where(ok, rs / torch.where(ok, pmp, 1), zero)
        u = u + alpha * p
        res = res - alpha * mp
        rs_new = res.square().sum(dim=-1, keepdim=True)
        beta = torch.where(ok, rs_new / torch.where(ok, rs, 1), zero)
        p = torch.where(ok, res + beta * p, p)
        rs = torch.where(ok, rs_new, rs)
    return u
