"""Two-layer quasi-geostrophic model on a doubly periodic beta-plane, with passive tracers.

The model is the "Phillips" eddy set-up: two layers of depths ``H1`` (upper) and
``H2`` (lower), imposed uniform zonal flows ``U1`` and ``U2`` whose vertical shear
feeds baroclinic instability, bottom drag on the lower layer and a scale-selective
hyperviscosity at the grid scale. Perturbation potential vorticity in layer ``i``::

    q1 = lap(psi1) + F1 (psi2 - psi1)        F1 = kd^2 / (1 + delta)
    q2 = lap(psi2) + F2 (psi1 - psi2)        F2 = delta kd^2 / (1 + delta)

with ``kd = 1 / rd`` the inverse deformation radius and ``delta = H1 / H2``, evolves as::

    dq_i/dt + J(psi_i, q_i) + U_i dq_i/dx + Qy_i dpsi_i/dx = D_i
    Qy1 = beta + F1 (U1 - U2)                Qy2 = beta - F2 (U1 - U2)

where ``J(a, b) = da/dx db/dy - da/dy db/dx``, the velocity is ``u = -dpsi/dy``,
``v = dpsi/dx``, and ``D_i`` is hyperviscosity plus, in the lower layer only, the
bottom drag ``-rek lap(psi2)``. Passive tracers ``c = G . x + c'`` (a fixed large-scale gradient ``G``
plus a periodic anomaly ``c'``) are carried by the total upper-layer flow::

    dc'/dt + (U1 + u1) dc'/dx + v1 dc'/dy + u1 Gx + v1 Gy = -c'/tau + kappa lap(c') + dissipation

The advection of the background by the uniform flow (``U1 Gx``) is taken to be
balanced by the large-scale forcing that maintains the background, so that the
anomaly has no secular drift.

Numerics: pseudo-spectral (``torch.fft``) with the 2/3 rule on the nonlinear
terms (so the unforced, undamped model conserves energy, potential enstrophy and
tracer variance exactly in space), third-order Adams-Bashforth in time, and the
linear damping integrated exactly by an integrating factor: tracer diffusion and
restoring, and a ``del^8`` hyperviscosity of rate ``(k*)^8 / hyperviscous_time``
with ``k* = sqrt((k dx)^2 + (l dy)^2) / (2 pi / 3)`` (1 at the cut-off along an
axis). Everything is in SI units.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch

__all__ = ["QGParameters", "TracerParameters", "TwoLayerQG"]

F = TypeVar("F", bound=Callable[..., Any])


def _on_model_threads(method: F) -> F:
    """Run a method with the model's torch thread count (restored afterwards)."""

    @functools.wraps(method)
    def wrapper(self: TwoLayerQG, *args: Any, **kwargs: Any) -> Any:
        with self.thread_limit():
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


@dataclass(frozen=True)
class TracerParameters:
    """A passive tracer carried by the upper layer.

    Attributes
    ----------
    gradient : (float, float)
        Background gradient ``(dc/dx, dc/dy)`` in tracer units per metre.
    restoring : float
        Relaxation time scale of the anomaly in s (``math.inf`` for none).
    diffusivity : float
        Laplacian diffusivity in m2 s-1.
    """

    gradient: tuple[float, float] = (0.0, 0.0)
    restoring: float = math.inf
    diffusivity: float = 0.0


@dataclass(frozen=True)
class QGParameters:
    """Physical and numerical parameters of :class:`TwoLayerQG` (SI units).

    Attributes
    ----------
    nx, ny : int
        Grid points along x (east) and y (north); even.
    Lx, Ly : float
        Domain lengths in m.
    beta : float
        Meridional gradient of the Coriolis parameter in m-1 s-1.
    rd : float
        First baroclinic deformation radius in m.
    delta : float
        Layer depth ratio ``H1 / H2``.
    U1, U2 : float
        Imposed zonal velocities of the upper and lower layer in m s-1.
    rek : float
        Linear bottom drag coefficient on the lower layer in s-1.
    hyperviscous_time : float or None
        e-folding time in s of the ``del^8`` hyperviscosity at the dealiasing cut-off
        wavenumber; ``None`` switches it off (inviscid model).
    tracers : tuple of TracerParameters
        Passive tracers advected by the upper layer.
    """

    nx: int
    ny: int
    Lx: float
    Ly: float
    beta: float = 1.5e-11
    rd: float = 15e3
    delta: float = 0.25
    U1: float = 0.025
    U2: float = 0.0
    rek: float = 5.787e-7
    hyperviscous_time: float | None = 3600.0
    tracers: tuple[TracerParameters, ...] = field(default_factory=tuple)

    @property
    def F1(self) -> float:
        """Upper-layer stretching coefficient ``kd^2 / (1 + delta)`` in m-2."""
        return 1.0 / (self.rd**2 * (1.0 + self.delta))

    @property
    def F2(self) -> float:
        """Lower-layer stretching coefficient ``delta kd^2 / (1 + delta)`` in m-2."""
        return self.delta / (self.rd**2 * (1.0 + self.delta))

    @property
    def Qy(self) -> tuple[float, float]:
        """Background PV gradients ``(Qy1, Qy2)`` in m-1 s-1."""
        shear = self.U1 - self.U2
        return self.beta + self.F1 * shear, self.beta - self.F2 * shear

    @property
    def dx(self) -> float:
        return self.Lx / self.nx

    @property
    def dy(self) -> float:
        return self.Ly / self.ny


class TwoLayerQG:
    """Pseudo-spectral two-layer QG model with passive tracers, stepped with AB3.

    The state lives in spectral space on the modes kept by the 2/3 rule only
    (``|m| < ny/3`` rows, ``0 <= n < nx/3`` columns of the ``rfft2`` layout), so
    dealiasing costs nothing and every spectral operation works on 4/9 of the
    array. ``state`` stacks the PV of both layers and the tracer anomalies.
    Set an initial state with :meth:`set_psi` or :meth:`set_q` (and optionally
    :meth:`set_tracers`), then call :meth:`step`.

    Parameters
    ----------
    params : QGParameters
        Model parameters.
    dt : float
        Time step in s.
    device : str or torch.device
        Torch device.
    dtype : torch.dtype
        Real floating dtype (``torch.float64`` or ``torch.float32``).
    threads : int or None
        CPU threads torch uses while stepping (restored afterwards). One thread is
        fastest for these small transforms and avoids the large slow-down of
        oversubscribed threads on a busy machine; ``None`` keeps torch's setting.
    """

    def __init__(
        self,
        params: QGParameters,
        dt: float,
        *,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float64,
        threads: int | None = 1,
    ) -> None:
        p = params
        if p.nx % 2 or p.ny % 2 or p.nx < 8 or p.ny < 8:
            raise ValueError(f"grid must be even and at least 8x8, got nx={p.nx}, ny={p.ny}")
        self.params = p
        self.device = torch.device(device)
        self.threads = threads if self.device.type == "cpu" else None
        self.rdtype = dtype
        self.cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64
        self.ntracers = len(p.tracers)
        self.nfields = 2 + self.ntracers
        self.time = 0.0

        # retained wavenumbers: |m| < ny/3 and 0 <= n < nx/3 (integer mode numbers)
        self._mpos = math.ceil(p.ny / 3)  # rows 0 .. mpos-1 are m >= 0
        mneg = self._mpos - 1  # rows ny-mneg .. ny-1 are m < 0
        self._ncols = math.ceil(p.nx / 3)
        m = torch.cat([torch.arange(self._mpos), torch.arange(-mneg, 0)]).to(torch.float64)
        n = torch.arange(self._ncols, dtype=torch.float64)
        k = (2 * math.pi / p.Lx * n)[None, :].expand(m.numel(), -1)
        l = (2 * math.pi / p.Ly * m)[:, None].expand(-1, n.numel())  # noqa: E741
        K2 = k**2 + l**2

        # Inversion q -> psi: [[-(K2+F1), F1], [F2, -(K2+F2)]] psi = q, whose determinant
        # K2 (K2 + kd^2) vanishes only for the mean, which carries no dynamics.
        det = K2 * (K2 + p.F1 + p.F2)
        inv_det = torch.where(det > 0, 1.0 / torch.where(det > 0, det, 1.0), 0.0)
        inv = torch.stack([
            torch.stack([-(K2 + p.F2) * inv_det, -p.F2 * inv_det]),   # coefficient of q1
            torch.stack([-p.F1 * inv_det, -(K2 + p.F1) * inv_det]),   # coefficient of q2
        ])  # inv[j, i]: contribution of q_j to psi_i

        # Linear operators acting on each field (A) and on its advecting streamfunction (B).
        ik, il = 1j * k.to(torch.complex128), 1j * l.to(torch.complex128)
        qy1, qy2 = p.Qy
        speeds = [p.U1, p.U2] + [p.U1] * self.ntracers
        A = torch.stack([-ik * U for U in speeds])
        B = [-ik * qy1, -ik * qy2 + p.rek * K2]
        B += [il * t.gradient[0] - ik * t.gradient[1] for t in p.tracers]

        # Damping rates (s-1) integrated exactly: hyperviscosity on every field,
        # restoring and diffusion on tracers.
        rate = torch.zeros((self.nfields, *K2.shape), dtype=torch.float64)
        if p.hyperviscous_time is not None:
            # (k dx/pi)^2 + (l dy/pi)^2, normalised to 1 at the 2/3 cut-off along an axis
            kstar2 = ((k * p.dx) ** 2 + (l * p.dy) ** 2) / (2 * math.pi / 3) ** 2
            rate += kstar2**4 / p.hyperviscous_time
        for j, t in enumerate(p.tracers):
            rate[2 + j] += t.diffusivity * K2 + (0.0 if math.isinf(t.restoring)
                                                   else 1.0 / t.restoring)

        dev, cplx = self.device, self.cdtype
        self._K2 = K2.to(device=dev, dtype=self.rdtype)
        self._inv = inv.to(device=dev, dtype=cplx)
        self._D = torch.stack([ik, il])[:, None].to(device=dev, dtype=cplx)  # (2, 1, rows, cols)
        self._A = A.to(device=dev, dtype=cplx)
        self._B = torch.stack(B).to(device=dev, dtype=cplx)
        self._rate = rate.to(device=self.device, dtype=self.rdtype)
        self._weights = torch.full((self._ncols,), 2.0, dtype=self.rdtype, device=self.device)
        self._weights[0] = 1.0  # Parseval weights of the half-plane (no Nyquist column kept)

        self.state = torch.zeros((self.nfields, *K2.shape), dtype=self.cdtype, device=self.device)
        self._history: list[torch.Tensor] = []
        self._buffers: dict[tuple[int, ...], tuple[torch.Tensor, torch.Tensor]] = {}
        self.set_dt(dt)

    # -- transforms --------------------------------------------------------------
    def to_physical(self, spec: torch.Tensor) -> torch.Tensor:
        """Inverse transform of retained modes (..., rows, cols) to a grid (..., ny, nx)."""
        p = self.params
        batch = tuple(spec.shape[:-2])
        if batch not in self._buffers:
            # Zero-padded work arrays kept between calls: only the retained block is ever
            # written, and fresh allocations (page faults) cost more than the FFTs here.
            self._buffers[batch] = (spec.new_zeros((*batch, p.ny, self._ncols)),
                                    spec.new_zeros((*batch, p.ny, p.nx // 2 + 1)))
        rows, cols = self._buffers[batch]
        mpos = self._mpos
        rows[..., :mpos, :] = spec[..., :mpos, :]
        rows[..., p.ny - (spec.shape[-2] - mpos):, :] = spec[..., mpos:, :]
        torch.fft.ifft(rows, dim=-2, out=cols[..., : self._ncols])
        return torch.fft.irfft(cols, n=p.nx, dim=-1)

    def to_spectral(self, phys: torch.Tensor) -> torch.Tensor:
        """Forward transform of a grid (..., ny, nx), truncated to the retained modes."""
        p = self.params
        half = torch.fft.rfft(phys, dim=-1)[..., : self._ncols]
        full = torch.fft.fft(half, dim=-2)
        mneg = self._mpos - 1
        return torch.cat([full[..., : self._mpos, :], full[..., p.ny - mneg:, :]], dim=-2)

    # -- state -------------------------------------------------------------------
    def set_dt(self, dt: float) -> None:
        """Change the time step (restarts the multistep scheme with lower orders)."""
        if not (dt > 0 and math.isfinite(dt)):
            raise ValueError(f"time step must be a positive number of seconds, got {dt!r}")
        self.dt = float(dt)
        self._damp = torch.exp(-self._rate * self.dt).to(self.cdtype)
        self._history = []

    def set_q(self, q: np.ndarray) -> None:
        """Set the PV anomaly from a physical-space array (2, ny, nx) in s-1."""
        self.state[:2] = self.to_spectral(self._as_tensor(q, 2))
        self._history = []

    def set_psi(self, psi: np.ndarray) -> None:
        """Set the state from layer streamfunctions, physical array (2, ny, nx) in m2 s-1."""
        p = self.params
        ph = self.to_spectral(self._as_tensor(psi, 2))
        self.state[0] = -self._K2 * ph[0] + p.F1 * (ph[1] - ph[0])
        self.state[1] = -self._K2 * ph[1] + p.F2 * (ph[0] - ph[1])
        self._history = []

    def set_tracers(self, c: np.ndarray) -> None:
        """Set the tracer anomalies from a physical array (ntracers, ny, nx)."""
        self.state[2:] = self.to_spectral(self._as_tensor(c, self.ntracers))
        self._history = []

    def _as_tensor(self, a: np.ndarray, n: int) -> torch.Tensor:
        shape = (n, self.params.ny, self.params.nx)
        t = torch.tensor(np.array(a, dtype=np.float64), dtype=self.rdtype, device=self.device)
        if tuple(t.shape) != shape:
            raise ValueError(f"expected an array of shape {shape}, got {tuple(t.shape)}")
        return t

    # -- dynamics ------------------------------------------------------------------
    def psi_hat(self, state: torch.Tensor | None = None) -> torch.Tensor:
        """Layer streamfunctions (2, rows, cols) in spectral space."""
        q = self.state if state is None else state
        return self._inv[0] * q[0] + self._inv[1] * q[1]

    def tendency(self, state: torch.Tensor) -> torch.Tensor:
        """Spectral tendency of all fields, without the exactly integrated damping."""
        nf = self.nfields
        ph = self.psi_hat(state)
        # d/dx and d/dy of [psi1, psi2, fields...] in one batched inverse transform:
        # ddx[:2] = v, ddy[:2] = -u of the layers; ddx[2:], ddy[2:] = field gradients
        ddx, ddy = self.to_physical(self._D * torch.cat([ph, state]))
        adv = torch.empty_like(ddx[2:])
        # J(psi, c) = u dc/dx + v dc/dy, with the upper layer advecting the tracers
        torch.mul(ddx[0:2], ddy[2:4], out=adv[0:2])
        adv[0:2].addcmul_(ddy[0:2], ddx[2:4], value=-1.0)
        if nf > 2:
            torch.mul(ddx[0:1], ddy[4:], out=adv[2:])
            adv[2:].addcmul_(ddy[0:1], ddx[4:], value=-1.0)
        tend = self._A * state
        tend[0:2].addcmul_(self._B[0:2], ph)
        if nf > 2:
            tend[2:].addcmul_(self._B[2:], ph[0:1])
        return tend.sub_(self.to_spectral(adv))

    def step(self, n: int = 1) -> None:
        """Advance ``n`` time steps (AB3; Euler then AB2 while history builds up)."""
        with self.thread_limit():
            self._advance(n)

    @contextlib.contextmanager
    def thread_limit(self) -> Iterator[None]:
        """Context in which torch uses the model's number of CPU threads."""
        saved = torch.get_num_threads()
        if self.threads is None or self.threads == saved:
            yield
            return
        torch.set_num_threads(self.threads)
        try:
            yield
        finally:
            torch.set_num_threads(saved)

    def _advance(self, n: int) -> None:
        dt = self.dt
        for _ in range(n):
            tend = self.tendency(self.state)
            h = self._history
            if len(h) == 0:
                new = torch.add(self.state, tend, alpha=dt)
            elif len(h) == 1:
                new = torch.add(self.state, tend, alpha=1.5 * dt)
                new.add_(h[0], alpha=-0.5 * dt)
            else:
                new = torch.add(self.state, tend, alpha=23.0 / 12.0 * dt)
                new.add_(h[0], alpha=-16.0 / 12.0 * dt)
                new.add_(h[1], alpha=5.0 / 12.0 * dt)
            self.state = new.mul_(self._damp)
            self._history = [tend, *h[:1]]
            self.time += dt

    # -- diagnostics ---------------------------------------------------------------
    @_on_model_threads
    def fields(self) -> dict[str, np.ndarray]:
        """Physical-space fields as numpy arrays.

        Returns ``psi`` (2, ny, nx) m2 s-1, ``q`` (2, ny, nx) s-1, eddy velocities
        ``u``, ``v`` (2, ny, nx) m s-1 (without ``U1``, ``U2``) and ``tracers``
        (ntracers, ny, nx) anomalies.
        """
        ph = self.psi_hat()
        ik, il = self._D[0, 0], self._D[1, 0]
        phys = self.to_physical(torch.cat([ph, -il * ph, ik * ph, self.state])).cpu().numpy()
        return {"psi": phys[0:2], "u": phys[2:4], "v": phys[4:6], "q": phys[6:8],
                "tracers": phys[8:]}

    @_on_model_threads
    def max_speeds(self) -> tuple[float, float]:
        """Maximum ``|U_i + u_i|`` and ``|v_i|`` over the grid and both layers, m s-1."""
        p = self.params
        ph = self.psi_hat()
        ddx, ddy = self.to_physical(self._D * ph)
        umax = torch.maximum((p.U1 - ddy[0]).abs().max(), (p.U2 - ddy[1]).abs().max())
        return float(umax), float(ddx.abs().max())

    def courant(self) -> float:
        """Advective Courant number ``dt (max|u|/dx + max|v|/dy)`` of the current state."""
        umax, vmax = self.max_speeds()
        return self.dt * (umax / self.params.dx + vmax / self.params.dy)

    @_on_model_threads
    def energy(self) -> float:
        """Depth-averaged total (kinetic + available potential) energy, m2 s-2.

        ``E = -(1/2) sum_i (H_i/H) <psi_i q_i>``, a domain mean.
        """
        p = self.params
        ph = self.psi_hat()
        h1, h2 = p.delta / (1 + p.delta), 1 / (1 + p.delta)
        density = -(h1 * (ph[0].conj() * self.state[0]).real
                    + h2 * (ph[1].conj() * self.state[1]).real)
        return 0.5 * self._spectral_mean(density)

    @_on_model_threads
    def enstrophy(self) -> float:
        """Depth-averaged potential enstrophy ``(1/2) sum_i (H_i/H) <q_i^2>``, s-2."""
        p = self.params
        h1, h2 = p.delta / (1 + p.delta), 1 / (1 + p.delta)
        q = self.state
        return 0.5 * self._spectral_mean(h1 * q[0].abs() ** 2 + h2 * q[1].abs() ** 2)

    def _spectral_mean(self, density: torch.Tensor) -> float:
        """Domain mean of a quadratic quantity from its rfft2 density (Parseval)."""
        p = self.params
        return float((density * self._weights).sum()) / (p.nx * p.ny) ** 2
