"""Guided denoisers against exact Gaussian posteriors; GenDA's sampler; Langevin corrector."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from xgenda.diffusion.corrector import langevin_correct, pc_sample  # noqa: E402
from xgenda.diffusion.guidance import conjugate_gradient, guided_denoiser  # noqa: E402
from xgenda.diffusion.sampling import edm_sample, karras_sigmas  # noqa: E402
from xgenda.diffusion.vp import genda_sample, vp_schedule  # noqa: E402
from xgenda.obs.operators import ObservationOperator  # noqa: E402
from xgenda.obs.table import ObservationTable  # noqa: E402
from xgenda.testing import GaussianDenoiser, gaussian_covariance  # noqa: E402

N = 8  # the state is one 8 x 8 channel


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Problem:
    """A Gaussian prior, 8 point observations (bilinear) and 4 blurred pixels (L4-like)."""

    def __init__(self, error: float = 0.1, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.denoiser = GaussianDenoiser(gaussian_covariance(N, N, 2.5))
        fi, fj = rng.uniform(0, N - 1, 8), rng.uniform(0, N - 1, 8)
        i0 = np.clip(np.floor(fi).astype(int), 0, N - 2)
        j0 = np.clip(np.floor(fj).astype(int), 0, N - 2)
        di, dj = fi - i0, fj - j0
        index = np.stack([i0 * N + j0, i0 * N + j0 + 1, (i0 + 1) * N + j0,
                          (i0 + 1) * N + j0 + 1], axis=1)
        weight = np.stack([(1 - di) * (1 - dj), (1 - di) * dj, di * (1 - dj), di * dj], axis=1)
        blurred = np.array([9, 27, 36, 54])
        sigma_px = 1.5
        # the matrix H written out independently of the operator code
        rows = []
        for k in range(8):
            row = np.zeros(N * N)
            np.add.at(row, index[k], weight[k])
            rows.append(row)
        radius = math.ceil(4 * sigma_px)
        for p in blurred:
            pi, pj = divmod(int(p), N)
            row = np.zeros((N, N))
            for a in range(max(0, pi - radius), min(N, pi + radius + 1)):
                for b in range(max(0, pj - radius), min(N, pj + radius + 1)):
                    row[a, b] = math.exp(-0.5 * ((a - pi) ** 2 + (b - pj) ** 2) / sigma_px**2)
            rows.append((row / row.sum()).ravel())
        self.H = np.array(rows)
        self.m = len(rows)
        self.err = np.full(self.m, error)
        truth = np.linalg.cholesky(self.denoiser.cov) @ rng.standard_normal(N * N)
        self.y = self.H @ truth + self.err * rng.standard_normal(self.m)
        points = ObservationTable(
            channel=np.zeros(8, int), blur=np.full(8, -1), blurs=[], index=index,
            weight=weight, value=self.y[:8], error=self.err[:8], dt_days=np.zeros(8),
            source=np.zeros(8, int), names=["points"])
        one = np.zeros((4, 4))
        one[:, 0] = 1.0
        l4 = ObservationTable(
            channel=np.zeros(4, int), blur=np.zeros(4, int), blurs=[(sigma_px, sigma_px)],
            index=np.stack([blurred, 0 * blurred, 0 * blurred, 0 * blurred], axis=1),
            weight=one, value=self.y[8:], error=self.err[8:], dt_days=np.zeros(4),
            source=np.zeros(4, int), names=["l4"])
        self.table = ObservationTable.concat([points, l4])

    def operator(self, batch: int, dtype=torch.float32) -> ObservationOperator:
        return ObservationOperator([self.table], [0] * batch, (N, N), [1.0], dtype=dtype)

    def posterior(self) -> tuple[np.ndarray, np.ndarray]:
        return self.denoiser.posterior(self.H, self.y, self.err)

    def sample(self, method: str, members: int, steps: int = 32, **params) -> np.ndarray:
        op = self.operator(members)
        guided = guided_denoiser(self.denoiser, op, op.y, op.error, method, **params)
        noise = torch.randn(members, 1, N, N, generator=torch.Generator().manual_seed(1))
        x = edm_sample(guided, noise, karras_sigmas(steps))
        return x.reshape(members, -1).double().numpy()


@pytest.fixture(scope="module")
def problem() -> Problem:
    return Problem()


def _distance(samples: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> dict[str, float]:
    sd = np.sqrt(np.diag(cov))
    ratio = samples.var(axis=0, ddof=1) / np.diag(cov)
    return {"mean_error_max_in_std": float(np.max(np.abs(samples.mean(0) - mean) / sd)),
            "variance_ratio_min": float(ratio.min()),
            "variance_ratio_max": float(ratio.max())}


def test_operator_matrix_matches_the_independent_one(problem):
    op = problem.operator(N * N, dtype=torch.float64)
    basis = torch.eye(N * N, dtype=torch.float64).reshape(N * N, 1, N, N)
    np.testing.assert_allclose(op(basis).numpy().T, problem.H, atol=1e-12)


@pytest.mark.slow
def test_mmps_ensemble_matches_the_exact_kalman_posterior(problem, record_property):
    members = 2000
    mean, cov = problem.posterior()
    samples = problem.sample("mmps", members, cg_steps=2 * problem.m)
    sd = np.sqrt(np.diag(cov))
    z = (samples.mean(0) - mean) / (sd / math.sqrt(members))
    ratio = samples.var(axis=0, ddof=1) / np.diag(cov)
    tolerance = 5 * math.sqrt(2 / members)  # 5 standard errors of a variance estimate
    record_property("mmps", _distance(samples, mean, cov))
    assert np.max(np.abs(z)) < 5.0
    assert np.max(np.abs(samples.mean(0) - mean) / sd) < 0.15  # well below one posterior std
    assert np.all(np.abs(ratio - 1) < tolerance)


@pytest.mark.slow
def test_sda_and_dps_distances_from_the_exact_posterior_are_reported(problem, record_property,
                                                                     capsys):
    members = 500
    mean, cov = problem.posterior()
    prior_error = np.max(np.abs(mean) / np.sqrt(np.diag(cov)))
    report = {"prior": {"mean_error_max_in_std": float(prior_error)}}
    for method in ("mmps", "sda", "dps"):
        params = {"cg_steps": 2 * problem.m} if method == "mmps" else {}
        report[method] = _distance(problem.sample(method, members, **params), mean, cov)
        record_property(method, report[method])
    with capsys.disabled():
        print("\ndistance of the guided ensembles from the Kalman posterior (500 members):")
        for method, d in report.items():
            print(f"  {method:5s} " + ", ".join(f"{k}={v:.3f}" for k, v in d.items()))
    # every guidance moves the ensemble from the prior towards the posterior; mmps most
    for method in ("sda", "dps"):
        assert report[method]["mean_error_max_in_std"] < prior_error
        assert report[method]["mean_error_max_in_std"] > report["mmps"]["mean_error_max_in_std"]


# -- one noise level, exact formulas (float64) ----------------------------------------------
def _jacobian(problem: Problem, sigma: float) -> np.ndarray:
    cov = problem.denoiser.cov
    return cov @ np.linalg.inv(cov + sigma**2 * np.eye(N * N))


@pytest.mark.parametrize("sigma", [0.05, 1.0, 20.0])
@pytest.mark.parametrize("params", [
    {"jacobian": "vjp"}, {"jacobian": "jvp"},
    # symmetric part of J (finite-difference or forward-mode J w): J itself when symmetric
    {"symmetrize": True}, {"symmetrize": True, "jacobian": "jvp"}])
def test_mmps_denoiser_is_the_exact_conditional_mean(problem, sigma, params):
    x = np.random.default_rng(7).standard_normal((3, N * N)) * math.sqrt(1 + sigma**2)
    op = problem.operator(3, dtype=torch.float64)
    guided = guided_denoiser(problem.denoiser, op, op.y, op.error, "mmps",
                             cg_steps=3 * problem.m, **params)
    out = guided(torch.as_tensor(x).reshape(3, 1, N, N), torch.tensor(sigma, dtype=torch.float64))
    # E[x0 | x, y]: Kalman update of N(D x, sigma^2 J) with y
    jac, h, r = _jacobian(problem, sigma), problem.H, np.diag(problem.err**2)
    d = x @ jac.T
    c = sigma**2 * jac
    gain = c @ h.T @ np.linalg.inv(h @ c @ h.T + r)
    expected = d + (problem.y[None] - d @ h.T) @ gain.T
    np.testing.assert_allclose(out.reshape(3, -1).numpy(), expected, atol=1e-8)


@pytest.mark.parametrize("detach", [False, True])
def test_sda_denoiser_follows_its_formula(problem, detach):
    sigma, gamma = 2.0, 0.3
    x = np.random.default_rng(8).standard_normal((2, N * N)) * 2
    op = problem.operator(2, dtype=torch.float64)
    guided = guided_denoiser(problem.denoiser, op, op.y, op.error, "sda", gamma=gamma,
                             detach=detach)
    out = guided(torch.as_tensor(x).reshape(2, 1, N, N), torch.tensor(sigma, dtype=torch.float64))
    jac, h = _jacobian(problem, sigma), problem.H
    d = x @ jac.T
    grad_d = (problem.y[None] - d @ h.T) / (problem.err**2 + gamma * sigma**2) @ h
    grad = grad_d if detach else grad_d @ jac
    np.testing.assert_allclose(out.reshape(2, -1).numpy(), d + sigma**2 * grad, atol=1e-10)


def test_dps_denoiser_follows_its_formula(problem):
    sigma, zeta = 1.5, 0.7
    x = np.random.default_rng(9).standard_normal((2, N * N))
    op = problem.operator(2, dtype=torch.float64)
    guided = guided_denoiser(problem.denoiser, op, op.y, op.error, "dps", zeta=zeta)
    out = guided(torch.as_tensor(x).reshape(2, 1, N, N), torch.tensor(sigma, dtype=torch.float64))
    jac, h, err = _jacobian(problem, sigma), problem.H, problem.err
    d = x @ jac.T
    r = (problem.y[None] - d @ h.T) / err
    direction = (r / err / np.linalg.norm(r, axis=1, keepdims=True)) @ h @ jac
    np.testing.assert_allclose(out.reshape(2, -1).numpy(), d + zeta * sigma**2 * direction,
                               atol=1e-10)


def test_no_observations_means_no_guidance(problem):
    op = ObservationOperator([ObservationTable()], [0, 0], (N, N), [1.0])
    guided = guided_denoiser(problem.denoiser, op, op.y, op.error, "mmps")
    assert guided is problem.denoiser


def test_conjugate_gradient_solves_each_sample_independently():
    rng = np.random.default_rng(10)
    mats = []
    for _ in range(3):
        a = rng.standard_normal((6, 6))
        mats.append(a @ a.T + 6 * np.eye(6))
    mats_t = torch.as_tensor(np.stack(mats))
    b = torch.as_tensor(rng.standard_normal((3, 6)))

    def matvec(v):
        return torch.einsum("bij,bj->bi", mats_t[: v.shape[0]], v)

    u = conjugate_gradient(matvec, b, 6)
    np.testing.assert_allclose(u.numpy(), np.stack([np.linalg.solve(m, bb) for m, bb in
                                                    zip(mats, b.numpy(), strict=True)]),
                               rtol=1e-9)
    alone = conjugate_gradient(matvec, b[:1], 6)
    assert torch.equal(alone[0], u[0])


def test_conjugate_gradient_floor_changes_nothing_for_a_valid_system():
    # M = R + K with K positive semi-definite: the floor R never binds, the solve is exact
    rng = np.random.default_rng(11)
    r = rng.uniform(0.1, 1.0, (2, 6))
    k = rng.standard_normal((2, 6, 3))
    mats = np.stack([np.diag(r[i]) + k[i] @ k[i].T for i in range(2)])
    b = torch.as_tensor(rng.standard_normal((2, 6)))

    def matvec(v):
        return torch.einsum("bij,bj->bi", torch.as_tensor(mats), v)

    expected = np.stack([np.linalg.solve(m, bb) for m, bb in zip(mats, b.numpy(), strict=True)])
    u = conjugate_gradient(matvec, b, 6, floor=torch.as_tensor(r))
    np.testing.assert_allclose(u.numpy(), expected, rtol=1e-9)
    assert torch.equal(u, conjugate_gradient(matvec, b, 6))


def test_conjugate_gradient_stops_at_curvature_below_the_floor():
    # M = R + K where K has a negative eigenvalue that cancels R along one direction
    # (a learned Jacobian that is not positive semi-definite): without the floor the
    # iterate runs off along the nearly singular direction; with it the sample stops
    # before, and a sample whose M is valid is solved exactly beside it
    rng = np.random.default_rng(12)
    q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    r = np.full(6, 0.5)
    bad = np.diag(r) + q @ np.diag([-0.4999, 0.3, 0.2, 0.1, 0.0, 0.0]) @ q.T
    a = rng.standard_normal((6, 6))
    good = np.diag(r) + a @ a.T
    mats = torch.as_tensor(np.stack([bad, good]))
    b = torch.as_tensor(np.stack([q[:, 0] + q[:, 1], rng.standard_normal(6)]))

    def matvec(v):
        return torch.einsum("bij,bj->bi", mats, v)

    floor = torch.as_tensor(r)
    free = conjugate_gradient(matvec, b, 6)
    held = conjugate_gradient(matvec, b, 6, floor=floor)
    assert free[0].norm() > 1000  # 1 / 1e-4 along the cancelled direction
    # the sample stopped before its step along that direction: bounded by the floor's
    # solve (R^-1 b, what the system would give with K = 0)
    assert held[0].norm() <= (b[0] / floor).norm() * 1.01
    np.testing.assert_allclose(held[1].numpy(), np.linalg.solve(good, b[1].numpy()), rtol=1e-9)


@pytest.mark.parametrize(("method", "params", "message"), [
    ("ddpm", {}, "unknown guidance method"),
    ("sda", {"zeta": 1.0}, "unknown"),
    ("mmps", {"cg_steps": 0}, "cg_steps"),
    ("mmps", {"cg_sigma_max": 0.0}, "cg_sigma_max must be > 0"),
    ("sda", {"gamma": -1.0}, "gamma"),
    ("dps", {"zeta": 0.0}, "zeta"),
])
def test_bad_guidance_settings_are_refused(problem, method, params, message):
    op = problem.operator(1)
    with pytest.raises(ValueError, match=message):
        guided_denoiser(problem.denoiser, op, op.y, op.error, method, **params)


# -- GenDA's sampler ------------------------------------------------------------------------
def test_vp_schedule_matches_genda():
    mu, sigma = vp_schedule(1e-3)
    one, zero = torch.tensor(1.0, dtype=torch.float64), torch.tensor(0.0, dtype=torch.float64)
    assert float(sigma(one) / mu(one)) == pytest.approx(1000.0, rel=1e-9)
    assert float(mu(zero)) == pytest.approx(1.0)
    assert float(sigma(zero)) == pytest.approx(1e-3)


def _genda_literal(denoiser, operator, y, std, noise, steps, eta=1e-3, gamma=0.1):
    """GenDA's loop as its scripts write it: VP eps, SDA score on eps, DDIM update."""
    w = math.acos(math.sqrt(eta))

    def mu(t):
        return math.cos(w * t) ** 2

    def sigma(t):
        return math.sqrt(1 - mu(t) ** 2 + eta**2)

    def eps(x, t):
        m, s = mu(t), sigma(t)
        return (x / m - denoiser(x / m, torch.tensor(s / m, dtype=x.dtype))) * m / s

    def guided_eps(x, t):
        m, s = mu(t), sigma(t)
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            e = eps(x, t)
            x0 = (x - s * e) / m
            var = std**2 + gamma * (s / m) ** 2
            log_p = -((y - operator(x0)) ** 2 / var).sum() / 2
            (g,) = torch.autograd.grad(log_p, x)
        return e.detach() - s * g

    x = noise * sigma(1.0)
    dt = 1.0 / steps
    for i in range(steps):
        t = 1.0 - i * dt
        r = mu(t - dt) / mu(t)
        x = r * x + (sigma(t - dt) - r * sigma(t)) * guided_eps(x, t)
    return x


def test_genda_preset_reproduces_genda_sampler(problem):
    op = problem.operator(4, dtype=torch.float64)
    noise = torch.randn(4, 1, N, N, generator=torch.Generator().manual_seed(3),
                        dtype=torch.float64)
    guided = guided_denoiser(problem.denoiser, op, op.y, op.error, "sda", gamma=0.1)
    ours = genda_sample(guided, noise, steps=64)
    literal = _genda_literal(problem.denoiser, op, op.y, op.error, noise, steps=64)
    np.testing.assert_allclose(ours.numpy(), literal.numpy(), rtol=1e-7, atol=1e-9)


# -- corrector ------------------------------------------------------------------------------
def test_langevin_corrector_keeps_the_noisy_marginal():
    denoiser = GaussianDenoiser(gaussian_covariance(N, N, 2.5))
    sigma, members = 0.5, 2000
    cov = denoiser.cov + sigma**2 * np.eye(N * N)
    rng = np.random.default_rng(11)
    x0 = rng.standard_normal((members, N * N)) @ np.linalg.cholesky(cov).T
    gen = torch.Generator().manual_seed(0)
    x = langevin_correct(denoiser, torch.as_tensor(x0).reshape(members, 1, N, N),
                         torch.tensor(sigma, dtype=torch.float64), steps=20, tau=0.05,
                         generator=gen)
    ratio = x.reshape(members, -1).numpy().var(axis=0) / np.diag(cov)
    assert np.all(np.abs(ratio - 1) < 5 * math.sqrt(2 / members))


def test_langevin_corrector_pulls_a_wrong_state_towards_the_marginal():
    denoiser = GaussianDenoiser(gaussian_covariance(N, N, 2.5))
    sigma, members = 0.5, 500
    x = torch.randn(members, 1, N, N, generator=torch.Generator().manual_seed(1),
                    dtype=torch.float64) * 3
    var_cov = np.diag(denoiser.cov + sigma**2 * np.eye(N * N))
    before = np.mean(x.reshape(members, -1).numpy().var(axis=0) / var_cov)
    x = langevin_correct(denoiser, x, torch.tensor(sigma, dtype=torch.float64), steps=50,
                         tau=0.2, generator=torch.Generator().manual_seed(2))
    after = np.mean(x.reshape(members, -1).numpy().var(axis=0) / var_cov)
    assert abs(after - 1) < 0.5 * abs(before - 1)


def test_predictor_corrector_without_corrections_is_the_edm_sampler():
    denoiser = GaussianDenoiser(gaussian_covariance(N, N, 2.5))
    noise = torch.randn(4, 1, N, N, generator=torch.Generator().manual_seed(4))
    sigmas = karras_sigmas(8)
    a = pc_sample(denoiser, noise, sigmas, corrector_steps=0)
    b = edm_sample(denoiser, noise, sigmas)
    assert torch.equal(a, b)


# -- MMPS on the learned demo prior: many CG steps stay stable --------------------------------
@pytest.fixture(scope="module")
def demo_problem():
    """16 x 16 corner of a toy-ocean state; every SST pixel observed with a small error."""
    import xgenda

    prior = xgenda.load_demo_prior(snapshot=True)  # the state of one day
    truth = xgenda.datasets.toy_ocean(days=1, size=prior.patch_size, seed=7, spinup_days=30,
                                      progress=False)
    state = prior.normalizer.apply(truth[list(prior.variables)].isel(time=0))
    n = 16
    x = np.stack([state[v].values[:n, :n] for v in prior.variables])
    m = n * n
    pixels = np.arange(m)
    sst = list(prior.variables).index("sst")
    table = ObservationTable(
        channel=np.full(m, sst), blur=np.full(m, -1), blurs=[],
        index=np.stack([pixels, pixels, pixels, pixels], axis=1),
        weight=np.tile([1.0, 0.0, 0.0, 0.0], (m, 1)), value=x[sst].reshape(-1),
        error=np.full(m, 0.02), dt_days=np.zeros(m), source=np.zeros(m, int), names=["sst"])
    op = ObservationOperator([table], [0], (n, n), [1.0] * len(prior.variables))
    return prior.denoiser(), op, x, sst


def _demo_sample(demo_problem, **params) -> np.ndarray:
    denoiser, op, x, _ = demo_problem
    guided = guided_denoiser(denoiser, op, op.y, op.error, "mmps", **params)
    noise = torch.randn(1, *x.shape, generator=torch.Generator().manual_seed(0))
    return edm_sample(guided, noise, karras_sigmas(8))[0].double().numpy()


@pytest.mark.slow
@pytest.mark.parametrize("params", [
    # plain steps only where the learned Jacobian is nearly symmetric (sigma <= 0.5)
    {"cg_sigma_max": 0.5},
    # its symmetric part up to sigma 10 (without the limit: 12 prior stds)
    {"symmetrize": True, "cg_sigma_max": 10.0}])
def test_mmps_with_many_cg_steps_is_stable_on_the_demo_prior(demo_problem, params):
    # with conjugate gradients limited to low noise levels, 10 CG steps neither blow up
    # nor lose the data (xgenda.calibration.check_stable)
    _, _, x, sst = demo_problem
    sample = _demo_sample(demo_problem, cg_steps=10, **params)
    assert np.abs(sample).max() < 6.0  # standardized anomalies: within a few prior stds
    rmse = np.sqrt(((sample - x) ** 2).mean(axis=(1, 2)))
    assert rmse[sst] < 0.5  # the observed channel follows its observations
    assert np.all(rmse < 1.5)  # the others stay within about one prior std


@pytest.mark.parametrize("jacobian", ["vjp", "jvp"])
def test_symmetrized_mmps_adds_nothing_when_the_solve_takes_no_step(problem, jacobian):
    # a Jacobian of negative curvature (J = -I / 2) fails the solver's floor on its first
    # direction: the solve stays at u = 0, and the symmetrized update of u = 0 must be
    # exactly 0 at any noise level (the central difference once divided by a zero norm:
    # NaN for a state as large as the demo prior's at sigma 80, norm about 2e4)
    def denoise(x, sigma):
        return -0.5 * x

    op = problem.operator(2)
    guided = guided_denoiser(denoise, op, op.y, op.error, "mmps", cg_steps=5,
                             symmetrize=True, jacobian=jacobian)
    x = 2500.0 * torch.randn(2, 1, N, N, generator=torch.Generator().manual_seed(3))
    out = guided(x, torch.tensor(80.0))
    assert torch.equal(out, denoise(x, 80.0))


def test_forward_mode_jacobian_is_safe_across_threads(problem):
    # dask runs blocks in threads; torch's forward-mode autodiff state is per process,
    # so concurrent Jacobian-vector products used to fail (or mix) without a lock
    import threading

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.SiLU(),
                              torch.nn.Conv2d(8, 1, 3, padding=1)).double().requires_grad_(False)

    def denoise(x, sigma):
        return (x + net(x)) / (1 + sigma**2)

    op = problem.operator(2, dtype=torch.float64)
    guided = guided_denoiser(denoise, op, op.y, op.error, "mmps", cg_steps=3,
                             jacobian="jvp", symmetrize=True)
    inputs = [torch.randn(2, 1, N, N, dtype=torch.float64,
                          generator=torch.Generator().manual_seed(i)) for i in range(4)]
    sigma = torch.tensor(0.7, dtype=torch.float64)
    expected = [guided(x, sigma) for x in inputs]
    results: dict[int, list[torch.Tensor]] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            results[i] = [guided(inputs[i], sigma) for _ in range(40)]
        except BaseException as e:  # pragma: no cover - the failure this test guards
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:1]
    for i, outs in results.items():
        for out in outs:
            torch.testing.assert_close(out, expected[i], rtol=0, atol=1e-12)
