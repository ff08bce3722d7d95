"""Physics of the two-layer QG model behind the toy ocean (xgenda.datasets.qg).

References are analytic: Rossby-wave dispersion of the two vertical modes, the
Phillips baroclinic-instability eigenvalue problem (solved here with numpy),
conservation of energy, potential enstrophy and tracer moments.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from xgenda.datasets.qg import QGParameters, TracerParameters, TwoLayerQG  # noqa: E402

LX, LY = 8.0e5, 1.0e6
BETA = 1.8e-11
RD = 25e3


def inviscid(n: int = 32, **kw) -> QGParameters:
    """No mean flow, no drag, no hyperviscosity: the conservative model."""
    base = {"nx": n, "ny": n, "Lx": LX, "Ly": LY, "beta": BETA, "rd": RD, "U1": 0.0, "U2": 0.0,
            "rek": 0.0, "hyperviscous_time": None}
    return QGParameters(**{**base, **kw})


def plane_wave(p: QGParameters, m: int, n: int) -> np.ndarray:
    """cos(k x + l y) on the model grid, with k = 2 pi m / Lx, l = 2 pi n / Ly."""
    x = np.arange(p.nx) * p.dx
    y = np.arange(p.ny) * p.dy
    return np.cos(2 * np.pi * (m * x[None, :] / p.Lx + n * y[:, None] / p.Ly))


def coefficient(field: np.ndarray, m: int, n: int) -> complex:
    return complex(np.fft.rfft2(field)[n, m])


def random_streamfunction(p: QGParameters, speed: float, seed: int = 0) -> np.ndarray:
    """Smooth random layer streamfunctions (2, ny, nx) with rms velocity ~``speed``."""
    rng = np.random.default_rng(seed)
    k = np.fft.rfftfreq(p.nx) * p.nx / p.Lx
    l = np.fft.fftfreq(p.ny) * p.ny / p.Ly  # noqa: E741
    K = np.hypot(k[None, :], l[:, None])
    spec = np.fft.rfft2(rng.standard_normal((2, p.ny, p.nx))) * np.exp(-((K * 2e5) ** 2))
    psi = np.fft.irfft2(spec, s=(p.ny, p.nx))
    grad = np.gradient(psi, p.dy, p.dx, axis=(1, 2))
    return psi * speed / np.sqrt(np.mean(grad[0] ** 2 + grad[1] ** 2))


@pytest.mark.parametrize("mode", ["barotropic", "baroclinic"])
def test_rossby_wave_propagates_at_the_analytic_phase_speed(mode):
    p = inviscid()
    m, n = 2, 1
    k, ell = 2 * np.pi * m / p.Lx, 2 * np.pi * n / p.Ly
    K2 = k**2 + ell**2
    # barotropic: psi1 = psi2, omega = -beta k / K^2; baroclinic: H1 psi1 + H2 psi2 = 0,
    # omega = -beta k / (K^2 + 1/rd^2)
    wave = 100.0 * plane_wave(p, m, n)
    psi = np.stack([wave, wave] if mode == "barotropic" else [wave, -p.delta * wave])
    omega = -p.beta * k / (K2 if mode == "barotropic" else K2 + 1 / p.rd**2)

    model = TwoLayerQG(p, dt=3600.0)
    model.set_psi(psi)
    nsteps = 2000
    model.step(nsteps)

    ratio = coefficient(model.fields()["psi"][0], m, n) / coefficient(psi[0], m, n)
    expected = -omega * nsteps * model.dt  # psi_hat ~ exp(-i omega t)
    phase_error = np.angle(ratio * np.exp(-1j * expected))
    assert abs(expected) > 0.5  # the wave travelled a sizeable fraction of a wavelength
    assert abs(phase_error) < 1e-6 * abs(expected)
    assert abs(abs(ratio) - 1) < 1e-4


def test_linear_baroclinic_instability_grows_at_the_phillips_rate():
    p = inviscid(U1=0.1, U2=-0.02, rek=1 / (20 * 86400))
    m = 6
    k = 2 * np.pi * m / p.Lx
    # Reference: eigenvalues of d psi_hat/dt = M^-1 (-i k U M - i k Qy + drag) psi_hat
    M = np.array([[-(k**2 + p.F1), p.F1], [p.F2, -(k**2 + p.F2)]])
    forcing = -1j * k * np.diag([p.U1, p.U2]) @ M - 1j * k * np.diag(p.Qy)
    forcing[1, 1] += p.rek * k**2
    lam, vec = np.linalg.eig(np.linalg.solve(M, forcing))
    j = int(np.argmax(lam.real))
    assert lam[j].real > 0  # the set-up is unstable at this wavelength

    x = np.arange(p.nx) * p.dx
    mode = 1e-3 * vec[:, j, None, None] * np.exp(1j * k * x)[None, None, :]
    psi = np.broadcast_to(mode.real, (2, p.ny, p.nx))
    model = TwoLayerQG(p, dt=1800.0)
    model.set_psi(psi)
    nsteps = 480  # 10 days
    model.step(nsteps)

    ratio = coefficient(model.fields()["psi"][0], m, 0) / coefficient(psi[0], m, 0)
    expected = np.exp(lam[j] * nsteps * model.dt)
    assert abs(ratio / expected - 1) < 1e-4


def test_energy_and_enstrophy_are_conserved_without_forcing_or_dissipation():
    p = inviscid()
    model = TwoLayerQG(p, dt=600.0)
    model.set_psi(random_streamfunction(p, speed=0.3))
    assert 0.02 < model.courant() < 0.1
    e0, z0 = model.energy(), model.enstrophy()
    model.step(1440)  # 10 days
    # measured: |dE/E| = 2.1e-6, |dZ/Z| = 2.0e-6 (time truncation only: the 2/3 rule makes
    # the spatial discretisation conserve both exactly)
    assert abs(model.energy() / e0 - 1) < 1e-5
    assert abs(model.enstrophy() / z0 - 1) < 1e-5


def test_conservation_error_shrinks_at_third_order_in_the_time_step():
    p = inviscid()
    psi = random_streamfunction(p, speed=1.0)
    drift = []
    for dt in (1200.0, 600.0):
        model = TwoLayerQG(p, dt=dt)
        model.set_psi(psi)
        z0 = model.enstrophy()
        model.step(round(5 * 86400 / dt))
        drift.append(abs(model.enstrophy() / z0 - 1))
    assert drift[1] > 0
    assert 5.0 < drift[0] / drift[1] < 11.0  # 2^3 = 8 for a third-order scheme


def test_energy_from_state_matches_grid_point_kinetic_plus_potential_energy():
    p = inviscid()
    model = TwoLayerQG(p, dt=600.0)
    model.set_psi(random_streamfunction(p, speed=0.3))
    f = model.fields()
    h1, h2 = p.delta / (1 + p.delta), 1 / (1 + p.delta)
    kinetic = 0.5 * (h1 * np.mean(f["u"][0] ** 2 + f["v"][0] ** 2)
                     + h2 * np.mean(f["u"][1] ** 2 + f["v"][1] ** 2))
    potential = 0.5 * h1 * p.F1 * np.mean((f["psi"][0] - f["psi"][1]) ** 2)
    assert model.energy() == pytest.approx(kinetic + potential, rel=1e-10)


def test_set_psi_round_trips_through_the_pv_inversion():
    p = inviscid()
    model = TwoLayerQG(p, dt=600.0)
    wave = plane_wave(p, 3, 2)
    psi = np.stack([wave, 0.3 * plane_wave(p, 1, 4)])
    model.set_psi(psi)
    np.testing.assert_allclose(model.fields()["psi"], psi, atol=1e-12)


def test_tracer_mean_is_conserved_without_restoring_or_diffusion():
    tracer = TracerParameters(gradient=(2e-7, -1e-5))
    p = inviscid(U1=0.1, U2=-0.02, tracers=(tracer,))
    model = TwoLayerQG(p, dt=1800.0)
    model.set_psi(random_streamfunction(p, speed=0.5))
    rng = np.random.default_rng(1)
    model.set_tracers(np.fft.irfft2(np.fft.rfft2(rng.standard_normal((1, p.ny, p.nx)))
                                    * (np.arange(p.nx // 2 + 1) < 4), s=(p.ny, p.nx)) + 3.0)
    mean0 = model.fields()["tracers"][0].mean()
    model.step(480)
    c = model.fields()["tracers"][0]
    assert c.std() > 0.1  # the eddies stirred the background gradient into the anomaly
    assert abs(c.mean() - mean0) < 1e-12 * abs(mean0)


def test_tracer_variance_is_conserved_by_advection_alone():
    p = inviscid(U1=0.05, tracers=(TracerParameters(),))
    model = TwoLayerQG(p, dt=600.0)
    model.set_psi(random_streamfunction(p, speed=0.3))
    model.set_tracers(random_streamfunction(p, speed=1.0, seed=3)[:1])
    var0 = model.fields()["tracers"][0].var()
    model.step(1440)
    # measured: 1.3e-6 (time truncation only)
    assert abs(model.fields()["tracers"][0].var() / var0 - 1) < 1e-5


def test_restoring_relaxes_a_tracer_anomaly_at_its_time_scale():
    tau = 5 * 86400.0
    p = inviscid(tracers=(TracerParameters(restoring=tau),))
    model = TwoLayerQG(p, dt=3600.0)
    model.set_tracers(plane_wave(p, 1, 1)[None])
    model.step(240)  # 10 days, no flow
    ratio = model.fields()["tracers"][0].std() / plane_wave(p, 1, 1).std()
    assert ratio == pytest.approx(math.exp(-240 * 3600.0 / tau), rel=1e-10)


def test_hyperviscosity_damps_each_mode_at_its_del8_rate():
    tau = 3600.0
    p = inviscid(hyperviscous_time=tau, tracers=(TracerParameters(),))
    model = TwoLayerQG(p, dt=600.0)
    top = math.ceil(p.nx / 3) - 1  # highest retained mode along x
    c0 = plane_wave(p, 2, 0) + plane_wave(p, top, 0)
    model.set_tracers(c0[None])
    model.step(6)
    c = model.fields()["tracers"][0]
    for m in (2, top):
        kdx = 2 * np.pi * m / p.nx
        rate = (kdx / (2 * np.pi / 3)) ** 8 / tau  # 1/tau at the 2/3 cut-off
        ratio = abs(coefficient(c, m, 0) / coefficient(c0, m, 0))
        assert ratio == pytest.approx(math.exp(-rate * 3600.0), rel=1e-10)
    assert abs(coefficient(c, top, 0) / coefficient(c0, top, 0)) < 0.6


def test_model_rejects_odd_grids():
    with pytest.raises(ValueError, match="even"):
        TwoLayerQG(inviscid(n=31), dt=600.0)


def test_model_rejects_non_positive_time_steps():
    with pytest.raises(ValueError, match="positive"):
        TwoLayerQG(inviscid(), dt=0.0)
