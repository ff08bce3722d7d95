"""Calibration of the guidance strength and step count on withheld observations."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xgenda
from xgenda.calibration import check_stable, reliability_grid, search_grid, split_observations
from xgenda.config import (
    DPS,
    MMPS,
    SDA,
    Configuration,
    GendaDDIM,
    Heun,
    KindWindow,
    NoGuidance,
    Window,
)
from xgenda.guard import DistributionShift
from xgenda.obs import collect
from xgenda.testing import gaussian_prior, point_observations

torch = pytest.importorskip("torch")

MEAN, STD = 0.1, 0.2


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def prior():
    return gaussian_prior(8, mean=MEAN, std=STD)[0]


@pytest.fixture(scope="module")
def template():
    return xgenda.grid.regular(lon=(-60, -58), lat=(35, 37), res_deg=0.25,
                               time=pd.date_range("2020-01-01", periods=2))


@pytest.fixture(scope="module")
def obs(template, in_prior_range):
    """Point observations of the prior's climatology and spread (the guard accepts them)."""
    return in_prior_range(point_observations(template, n=80, error=0.01, seed=1), MEAN, STD)


@pytest.fixture(scope="module")
def far_obs(template):
    """Observations 3.4 prior std from its mean: the guard warns (:data:`FAR`), and any
    guidance beats the nearly unguided setting by far (in the prior's range, a few DPS
    steps may not)."""
    return point_observations(template, n=80, error=0.01, seed=1)


FAR = "offset from the prior's climatology by -3.4"


@pytest.fixture(scope="module")
def result(template, prior, far_obs):
    grid = search_grid(DPS(), strengths=(0.001, 0.3, 1.0), steps=(8, 12))
    with pytest.warns(DistributionShift, match=FAR):
        return xgenda.calibrate(template, prior, far_obs, grid, members=6, withhold=0.25,
                                seed=3)


def _at(table, **coords):
    """The table's row of the configuration with these settings."""
    rows = np.ones(table.sizes["configuration"], bool)
    for name, value in coords.items():
        rows &= table[name].values == value
    (index,) = np.flatnonzero(rows)
    return table.isel(configuration=index)


def _fair_crps(members: np.ndarray, y: np.ndarray) -> float:
    m = members.shape[0]
    skill = np.abs(members - y).mean(axis=0)
    pairs = np.abs(members[:, None] - members[None]).sum(axis=(0, 1)) / (2 * m * (m - 1))
    return float((skill - pairs).mean())


def _dressed_fair_crps(members: np.ndarray, y: np.ndarray, s: np.ndarray) -> float:
    """Fair CRPS of the members dressed with N(0, s^2), from E|d + s Z| in closed form."""
    from scipy.stats import norm

    def e_abs(d, sd):
        return d * (2 * norm.cdf(d / sd) - 1) + 2 * sd * norm.pdf(d / sd)

    m = members.shape[0]
    skill = np.mean([e_abs(y - members[i], s) for i in range(m)], axis=0)
    pairs = sum(e_abs(members[i] - members[j], np.sqrt(2) * s)
                for i in range(m) for j in range(m) if i != j)
    return float(np.mean(skill - pairs / (2 * m * (m - 1))))


def test_dressed_crps_of_identical_members_is_the_gaussian_crps():
    """M identical members dressed with N(0, s^2) are the Gaussian N(x, s^2): its CRPS in
    closed form (Gneiting et al. 2005); with s = 0 the fair CRPS (Ferro 2014)."""
    from scipy.stats import norm

    from xgenda.calibration import _dressed_crps

    rng = np.random.default_rng(0)
    x, y, s = rng.normal(size=50), rng.normal(size=50), rng.uniform(0.1, 2.0, 50)
    z = (y - x) / s
    gaussian = s * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / np.sqrt(np.pi))
    np.testing.assert_allclose(_dressed_crps(np.tile(x, (5, 1)), y, s), gaussian.mean(),
                               rtol=1e-10)
    members = rng.normal(size=(7, 50))
    np.testing.assert_allclose(_dressed_crps(members, y, np.zeros(50)),
                               _fair_crps(members, y), rtol=1e-12)
    # a wider dressing of an under-dispersed ensemble lowers its CRPS
    assert _dressed_crps(0.1 * members, y, np.full(50, 0.9)) < \
        _dressed_crps(0.1 * members, y, np.zeros(50))


def test_table_scores_match_an_independent_computation(template, prior, far_obs, result):
    _best, table = result
    kept, withheld = split_observations(collect(far_obs, ("ssh",)), 0.25, seed=3)
    with pytest.warns(DistributionShift, match=FAR):
        ens = xgenda.assimilate(template, prior, kept, members=6, sampler=Heun(steps=12),
                                guidance=DPS(zeta=0.3), seed=3).compute()
    w = withheld[0].data
    times = w.time.values.astype("datetime64[ns]")
    day = np.floor((times - np.datetime64("2020-01-01")) / np.timedelta64(1, "D") + 0.5)
    day = day.astype(int)  # the analysis whose +-12 h window holds each observation
    inside = day < template.sizes["time"]
    pred = np.stack([ens.ssh.isel(member=m).interp(
        time=xr.DataArray(template.time.values[day[inside]], dims="obs"),
        lat=xr.DataArray(w.lat.values[inside], dims="obs"),
        lon=xr.DataArray(w.lon.values[inside], dims="obs")).values for m in range(6)])
    y = w.ssh.values[inside]
    err = w.ssh_error.values[inside]
    row = _at(table, steps=12, zeta=0.3)
    assert int(row.count_ssh) == y.size
    np.testing.assert_allclose(float(row.crps_ssh), _dressed_fair_crps(pred, y, err),
                               rtol=1e-6)
    rmse = np.sqrt(np.mean((pred.mean(axis=0) - y) ** 2))
    np.testing.assert_allclose(float(row.rmse_ssh), rmse, rtol=1e-6)


def test_best_setting_has_the_lowest_score_and_is_not_unguided(result):
    best, table = result
    lowest = table.isel(configuration=int(np.argmin(table.score.values)))
    assert best == {"sampler": Heun(steps=int(lowest.steps)),
                    "guidance": DPS(zeta=float(lowest.zeta)), "window": Configuration().window,
                    "inflation": Configuration().inflation}
    assert best["guidance"].zeta != 0.001
    assert Configuration.from_json(table.attrs["best"]).kwargs() == best
    # guidance helps: every guided setting beats the nearly unguided one at 12 steps
    assert float(_at(table, steps=12, zeta=0.001).crps_ssh) > float(table.crps_ssh.min())


def test_search_grid_varies_only_strength_and_steps():
    grid = search_grid(SDA(detach=True), strengths=(0.1, 1.0), steps=(4, 8))
    assert [(c.sampler.steps, c.guidance.gamma) for c in grid] == [
        (4, 0.1), (4, 1.0), (8, 0.1), (8, 1.0)]
    assert {c.guidance.detach for c in grid} == {True}
    assert search_grid() == search_grid(SDA(), (0.01, 0.1, 1.0), (16, 32))


def test_table_is_a_labelled_dataset(result):
    _, table = result
    assert table.score.dims == ("configuration",)
    assert table.set_index(configuration=["steps", "zeta"]).unstack().score.dims == (
        "steps", "zeta")
    assert table.crps_ssh.attrs["units"] == "m"
    assert table.spread_skill_ssh.attrs["units"] == "1"
    assert table.attrs["withheld_observations"] + table.attrs["kept_observations"] == 80


def test_best_settings_feed_assimilate(template, prior, obs, result):
    ens = xgenda.assimilate(template, prior, obs, members=2, **result.best)
    assert ens.attrs["method"] == "dps"


def test_mmps_calibration_tunes_cg_steps(template, prior, obs):
    best, table = xgenda.calibrate(template, prior, obs,
                                   search_grid(MMPS(), strengths=(1, 2), steps=(6,)),
                                   members=3, withhold=0.3)
    assert list(table.cg_steps.values) == [1, 2]
    assert best["guidance"].cg_steps in (1, 2)


def test_split_withholds_a_seeded_disjoint_fraction(obs, template):
    l3 = xr.Dataset({"ssh": (("time", "lat", "lon"), np.ones((2, 8, 8)), {"units": "m"}),
                     "ssh_error": ((), 0.1, {"units": "m"})},
                    coords={"time": template.time, "lat": template.lat, "lon": template.lon},
                    attrs={"genda_obs": "grid"})
    l4 = l3.assign_attrs(genda_obs="smoothed", sigma_km=20.0)
    sets = collect([obs, l3, l4], ("ssh",))
    kept, withheld = split_observations(sets, 0.3, seed=5)
    kept2, _ = split_observations(sets, 0.3, seed=5)
    n_kept, n_out = kept[0].data.sizes["obs"], withheld[0].data.sizes["obs"]
    assert n_kept + n_out == 80
    assert 0.15 < n_out / 80 < 0.45
    assert not set(kept[0].data.lat.values) & set(withheld[0].data.lat.values)
    grid_kept = np.isfinite(kept[1].data.ssh.values)
    grid_out = np.isfinite(withheld[1].data.ssh.values)
    assert not (grid_kept & grid_out).any()
    assert (grid_kept | grid_out).all()
    assert len(withheld) == 2  # the smoothed product is not split
    xr.testing.assert_identical(kept[2].data, l4)
    xr.testing.assert_identical(kept[0].data, kept2[0].data)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"configurations": []}, "non-empty"),
    ({"configurations": [{"guidance": SDA()}]}, "Configuration"),
    ({"members": 1}, "members"),
    ({"withhold": 0.0}, "withhold"),
    ({"preset": "genda"}, "set by calibrate"),
    ({"guidance": SDA()}, "set by calibrate"),
])
def test_bad_calibration_settings_are_refused(template, prior, obs, kwargs, message):
    with pytest.raises(ValueError, match=message):
        xgenda.calibrate(template, prior, obs, **kwargs)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"guidance": NoGuidance()}, "SDA, DPS or MMPS"),
    ({"steps": ()}, "at least one"),
])
def test_bad_search_grids_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        search_grid(**kwargs)


def test_calibration_needs_observations_to_withhold(template, prior):
    l4 = xr.Dataset({"ssh": (("time", "lat", "lon"), np.ones((2, 8, 8)), {"units": "m"}),
                     "ssh_error": ((), 0.1, {"units": "m"})},
                    coords={"time": template.time, "lat": template.lat, "lon": template.lon},
                    attrs={"genda_obs": "smoothed", "sigma_km": 20.0})
    with pytest.raises(ValueError, match="withhold"):
        xgenda.calibrate(template, prior, l4)


# -- stable settings and the reliability search ---------------------------------------------------
def test_mmps_with_many_cg_steps_is_searched_only_when_stabilized():
    with pytest.raises(ValueError, match=r"MMPS\(cg_steps=5, symmetrize=False"):
        search_grid(MMPS(), strengths=(1, 5), steps=(8,))
    assert search_grid(MMPS(), steps=(8,)) == [
        Configuration(Heun(steps=8), MMPS(cg_steps=n)) for n in (1, 2, 3)]
    for stable in (MMPS(symmetrize=True, cg_sigma_max=10.0), MMPS(cg_sigma_max=0.5)):
        check_stable(Configuration(guidance=replace(stable, cg_steps=10)))
    # symmetrized steps at every noise level, or plain ones up to sigma 10, run off
    for unstable in (MMPS(symmetrize=True), MMPS(symmetrize=True, cg_sigma_max=20.0),
                     MMPS(cg_sigma_max=10.0)):
        with pytest.raises(ValueError, match="cg_sigma_max=10"):
            check_stable(Configuration(guidance=replace(unstable, cg_steps=5)))
    with pytest.raises(ValueError, match="symmetrize=True"):
        reliability_grid(Configuration(guidance=MMPS(cg_steps=4)))


def test_reliability_grid_varies_only_inflation_churn_and_strength():
    base = Configuration(Heun(steps=8, churn=1.0), MMPS(cg_steps=2),
                         Window(points=KindWindow(3.0, 0.2)))
    grid = reliability_grid(base, inflations=(1.0, 2.0), churns=(0.0, 5.0),
                            strengths=(1, 3))
    assert [(c.window.error_inflation, c.sampler.churn, c.guidance.cg_steps)
            for c in grid] == [(f, c, n) for f in (1.0, 2.0) for c in (0.0, 5.0)
                               for n in (1, 3)]
    assert {replace(c.sampler, churn=1.0) for c in grid} == {base.sampler}
    assert {replace(c.window, error_inflation=1.0) for c in grid} == {base.window}
    assert len(reliability_grid(base)) == 9  # 3 inflations x 3 churns, the base strength
    with pytest.raises(ValueError, match="churn is a setting of the Heun and Euler"):
        reliability_grid(Configuration(GendaDDIM(), SDA()))
    with pytest.raises(ValueError, match="at least one inflation"):
        reliability_grid(base, inflations=())


def test_the_most_reliable_setting_within_the_crps_tolerance_wins(template, prior, obs):
    grid = reliability_grid(Configuration(Heun(steps=6), MMPS(cg_steps=1)),
                            inflations=(0.5, 4.0), churns=(0.0,))
    best, table = xgenda.calibrate(template, prior, obs, grid, members=4, withhold=0.3,
                                   crps_tolerance=1e3)
    assert list(table.error_inflation.values) == [0.5, 4.0]
    spread_skill = table.spread_skill_ssh.values
    np.testing.assert_allclose(table.reliability.values, np.abs(spread_skill - 1))
    assert best["window"].error_inflation == [0.5, 4.0][int(np.argmin(
        np.abs(spread_skill - 1)))]
    # no slack: the lowest CRPS wins
    strict, table0 = xgenda.calibrate(template, prior, obs, grid, members=4, withhold=0.3)
    assert strict["window"].error_inflation == [0.5, 4.0][int(np.argmin(table0.score.values))]
    with pytest.raises(ValueError, match="crps_tolerance must be a finite number >= 0"):
        xgenda.calibrate(template, prior, obs, grid, crps_tolerance=-0.1)


def test_an_inflation_grid_shares_one_assimilation_and_matches_assimilate(template, prior,
                                                                          obs):
    """Settings that differ only in their inflation are scored on one ensemble inflated
    afterwards: the same scores as an assimilation run with that inflation."""
    from xgenda.calibration import inflation_grid

    grid = inflation_grid(Configuration(Heun(steps=6), MMPS(cg_steps=1)), large=(1.0, 3.0),
                          small=(1.0, 0.5), wavelength_km=60.0)
    best, table = xgenda.calibrate(template, prior, obs, grid, members=4, withhold=0.3)
    assert list(table.inflation_large.values) == [1.0, 1.0, 3.0, 3.0]
    np.testing.assert_allclose(table.rmse_ssh.values, table.rmse_ssh.values[0], rtol=1e-5)
    assert table.spread_ssh.values[2] > table.spread_ssh.values[0]
    assert table.spread_ssh.values[1] < table.spread_ssh.values[0]
    assert best["inflation"] == grid[int(np.argmin(table.score.values))].inflation
    # the direct run of the third setting scores the same
    _, direct = xgenda.calibrate(template, prior, obs, grid[2:3], members=4, withhold=0.3)
    for key in ("crps_ssh", "rmse_ssh", "spread_ssh"):
        np.testing.assert_allclose(float(direct[key][0]), float(table[key][2]), rtol=1e-5)


def test_independent_evaluation_observations_are_scored_too(template, prior, obs):
    grid = [Configuration(Heun(steps=4), MMPS(cg_steps=1))]
    _, alone = xgenda.calibrate(template, prior, obs, grid, members=2, withhold=0.3)
    extra = point_observations(template, n=30, error=0.01, seed=9)
    # scored only, never assimilated: the guard does not see them
    _, table = xgenda.calibrate(template, prior, obs, grid, members=2, withhold=0.3,
                                evaluation=extra)
    times = extra.time.values
    days = (times - template.time.values[0]) / np.timedelta64(1, "D")
    inside = int(((days >= -0.5) & (days < template.sizes["time"] - 0.5)).sum())
    assert int(table.count_ssh[0]) == int(alone.count_ssh[0]) + inside
