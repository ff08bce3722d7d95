"""The configuration objects: validation, JSON form, presets, the one home of defaults."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import warnings

import numpy as np
import pandas as pd
import pytest

import xgenda
from xgenda.config import (
    DPS,
    MMPS,
    SDA,
    Configuration,
    DPMSolver2M,
    Euler,
    GendaDDIM,
    Heun,
    Inflation,
    KindWindow,
    NoGuidance,
    Window,
    configure,
    from_json,
    presets,
)
from xgenda.guard import DistributionShift

OBJECTS = [Heun(), Euler(steps=7, churn=2.5, corrector_steps=2, tau=0.3, sigma_min=0.01),
           GendaDDIM(steps=12, eta=0.01), MMPS(cg_steps=5, float64=True, jacobian="jvp"),
           SDA(gamma=0.0, detach=True), DPS(zeta=0.25), NoGuidance(),
           Window(half_width="36h", error_growth=0.2),
           Configuration(GendaDDIM(), SDA(), Window(2.0)), Configuration(),
           KindWindow(half_width="2D", error_growth=0.3), KindWindow(),
           Window(points=KindWindow(5.0, 0.46), smoothed=KindWindow(error_growth=0.1),
                  error_inflation=1.4)]


# -- JSON form and reprs ----------------------------------------------------------------------
@pytest.mark.parametrize("obj", OBJECTS, ids=repr)
def test_json_form_round_trips_to_an_equal_object(obj):
    text = obj.to_json()
    assert json.loads(text)["type"] == type(obj).__name__
    again = from_json(text)
    assert again == obj
    assert type(again) is type(obj)
    assert again.to_json() == text


def test_repr_names_every_setting():
    assert repr(Euler(steps=7, churn=2.5)) == (
        "Euler(steps=7, churn=2.5, corrector_steps=0, tau=0.1, sigma_min=0.002, "
        "sigma_max=80.0)")
    assert repr(SDA()) == "SDA(gamma=0.1, detach=False)"
    assert repr(Window("12h")) == "Window(half_width=0.5, error_growth=0.0)"
    assert repr(Window(grid=KindWindow(1.0), error_inflation=1.5)) == (
        "Window(half_width=0.5, error_growth=0.0, grid=KindWindow(half_width=1.0, "
        "error_growth=None), error_inflation=1.5)")


def test_a_window_gives_each_kind_its_half_width_and_growth():
    window = Window(half_width=0.5, error_growth=0.2,
                    points=KindWindow(half_width="5D", error_growth=0.46),
                    grid={"half_width": 1.0})  # a dict (e.g. from JSON) becomes a KindWindow
    assert window.grid == KindWindow(half_width=1.0)
    assert window.for_kind("points") == (5.0, 0.46)
    assert window.for_kind("grid") == (1.0, 0.0)
    assert window.for_kind("smoothed") == (0.5, 0.0)
    with pytest.raises(ValueError, match="unknown observation kind 'swath'"):
        window.for_kind("swath")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"points": {"half_width": 0.0}}, "half_width \\(days\\) must be a finite number > 0"),
    ({"grid": {"half_width": 1.0, "width": 2}}, "Window grid=.*KindWindow"),
    ({"smoothed": 3.0}, "smoothed= must be an xgenda.config.KindWindow"),
    ({"error_inflation": 0.0}, "error_inflation must be a finite number > 0"),
    ({"error_inflation": float("inf")}, "error_inflation must be a finite number"),
])
def test_bad_window_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Window(**kwargs)
    with pytest.raises(ValueError, match="error_growth must be a finite number >= 0"):
        KindWindow(error_growth=-0.1)


def test_objects_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Heun().steps = 4  # type: ignore[misc]


def test_a_configuration_json_that_is_not_one_is_refused():
    with pytest.raises(ValueError, match="not a Configuration"):
        Configuration.from_json(Heun().to_json())
    with pytest.raises(ValueError, match="not an xgenda configuration"):
        from_json('{"type": "Kalman"}')


# -- validation -------------------------------------------------------------------------------
@pytest.mark.parametrize(("build", "message"), [
    (lambda: Heun(steps=0), "steps must be an integer >= 1"),
    (lambda: Heun(steps=2.5), "steps must be an integer"),
    (lambda: Heun(steps=True), "steps must be an integer"),
    (lambda: Euler(churn=-1.0), "churn must be a finite number >= 0"),
    (lambda: Heun(corrector_steps=-1), "corrector_steps"),
    (lambda: Heun(tau=0.0), "tau must be a finite number > 0"),
    (lambda: Heun(sigma_min=1.0, sigma_max=0.5), "sigma_max"),
    (lambda: GendaDDIM(eta=1.0), "eta must lie in"),
    (lambda: MMPS(cg_steps=0), "cg_steps"),
    (lambda: MMPS(jacobian="fd"), "jacobian must be 'vjp' or 'jvp'"),
    (lambda: MMPS(float64=1), "float64 must be True or False"),
    (lambda: SDA(gamma=-0.1), "gamma must be a finite number >= 0"),
    (lambda: SDA(gamma=float("nan")), "gamma"),
    (lambda: DPS(zeta=0.0), "zeta must be a finite number > 0"),
    (lambda: Window(half_width=0), "half_width"),
    (lambda: Window(half_width="soon"), "string like '12h'"),
    (lambda: Window(error_growth=-1), "error_growth"),
])
def test_bad_settings_are_refused_on_construction(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_a_configuration_checks_the_kind_of_each_part():
    with pytest.raises(TypeError, match="sampler must be one of"):
        Configuration(sampler=MMPS())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="guidance must be one of"):
        Configuration(guidance={"method": "sda"})  # type: ignore[arg-type]


def test_window_accepts_days_timedeltas_and_strings():
    assert Window("12h").half_width == 0.5
    assert Window(pd.Timedelta(hours=36)).half_width == 1.5
    assert Window(np.timedelta64(6, "h")).half_width == 0.25
    assert Window(2).half_width == 2.0


# -- presets and the translation of earlier keywords --------------------------------------------
def test_presets_are_configurations_of_the_objects():
    assert Configuration(**presets.default()) == Configuration()
    assert presets.genda() == {"sampler": GendaDDIM(steps=256, eta=1e-3),
                               "guidance": SDA(gamma=0.1, detach=False), "window": Window(),
                               "inflation": Inflation()}
    assert Configuration(**presets.fast()).sampler == DPMSolver2M(steps=8)


@pytest.mark.parametrize(("legacy", "expected"), [
    ({}, Configuration()),
    ({"preset": "genda"}, Configuration(**presets.genda())),
    ({"preset": "genda", "steps": 64, "guidance": {"detach": True}},
     Configuration(GendaDDIM(steps=64), SDA(detach=True))),
    ({"method": "dps", "guidance": {"zeta": 3.0}}, Configuration(guidance=DPS(zeta=3.0))),
    ({"method": "sda", "gamma": 0.5}, Configuration(guidance=SDA(gamma=0.5))),
    ({"method": "none"}, Configuration(guidance=NoGuidance())),
    ({"guidance": {"cg_steps": 1}}, Configuration(guidance=MMPS(cg_steps=1))),
    ({"steps": 9, "solver": "euler", "churn": 1.0, "corrector_steps": 2, "tau": 0.2},
     Configuration(sampler=Euler(steps=9, churn=1.0, corrector_steps=2, tau=0.2))),
    ({"time_window": "1D", "time_error_growth": 0.1}, Configuration(window=Window(1.0, 0.1))),
])
def test_earlier_keywords_translate_to_the_objects(legacy, expected):
    assert configure(**legacy) == expected


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"gamma": 1.0}, ValueError, "gamma is SDA's strength"),
    ({"method": "dps", "gamma": 1.0}, ValueError, "DPS\\(zeta"),
    ({"preset": "genda", "method": "mmps"}, ValueError, "uses SDA guidance"),
    ({"preset": "genda", "churn": 1.0}, ValueError, "do not apply to GenDA"),
    ({"solver": "rk4"}, ValueError, "solver must be one of"),
    ({"sampler": Heun(), "steps": 8}, ValueError, "repeat what sampler"),
    ({"guidance": SDA(), "gamma": 0.2}, ValueError, "repeat what guidance"),
    ({"window": Window(), "time_window": 1.0}, ValueError, "repeat what window"),
    ({"zeta": 1.0}, TypeError, "unknown argument"),
])
def test_conflicting_or_unknown_keywords_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        configure(**kwargs)


# -- every default lives in the objects -----------------------------------------------------------
def test_guidance_defaults_are_the_objects_defaults():
    pytest.importorskip("torch")
    from xgenda.diffusion import guidance

    assert {"mmps": MMPS().params(), "sda": SDA().params(),
                                 "dps": DPS().params(), "none": {}} == guidance.DEFAULTS
    assert set(guidance.METHODS) == set(guidance.DEFAULTS)


def test_sampler_function_defaults_are_the_objects_defaults():
    pytest.importorskip("torch")
    from xgenda.diffusion.vp import genda_sample
    from xgenda.prior import Prior

    defaults = inspect.signature(genda_sample).parameters
    assert (defaults["steps"].default, defaults["eta"].default) == (
        GendaDDIM().steps, GendaDDIM().eta)
    assert inspect.signature(Prior.sample).parameters["sampler"].default is None


def _cli_args(*argv: str) -> argparse.Namespace:
    from xgenda._commands import assimilate as command

    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return parser.parse_args(["--obs", "o", "--out", "x", *argv])


def test_cli_defaults_are_the_objects_and_the_functions_defaults():
    from xgenda._commands.assimilate import configuration

    args = _cli_args()
    assert configuration(args) == Configuration()
    signature = inspect.signature(xgenda.assimilate).parameters
    for name in ("members", "seed", "device", "qc"):
        assert getattr(args, name) == signature[name].default
    assert (args.preset, args.time_window, args.time_error_growth) == (None, None, None)
    assert configuration(_cli_args("--preset", "genda")) == Configuration(**presets.genda())


def test_cli_runs_the_priors_recommended_configuration_unless_told_otherwise():
    from xgenda._commands.assimilate import configuration

    recommended = Configuration(Heun(steps=16, churn=5.0), MMPS(cg_steps=2),
                                Window(points=KindWindow(5.0, 0.4), error_inflation=1.3),
                                Inflation(1.4, 0.9))
    assert configuration(_cli_args(), recommended) == recommended
    assert configuration(_cli_args("--preset", "default"), recommended) == Configuration()
    changed = configuration(_cli_args("--steps", "8", "--time-window", "1"), recommended)
    assert changed == Configuration(Heun(steps=8, churn=5.0), MMPS(cg_steps=2),
                                    Window(1.0, points=KindWindow(5.0, 0.4),
                                           error_inflation=1.3), Inflation(1.4, 0.9))
    composed = configuration(_cli_args("--trajectory-days", "5"), recommended)
    assert composed.window == Window(points=KindWindow(5.0, 0.4), error_inflation=1.3,
                                     trajectory_days=5)
    assert composed.sampler == recommended.sampler


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"large": 0.0}, "Inflation large must be a finite number > 0"),
    ({"small": -1.0}, "Inflation small must be a finite number > 0"),
    ({"wavelength_km": float("nan")}, "Inflation wavelength_km must be a finite number > 0"),
    ({"large": True}, "Inflation large must be a finite number"),
])
def test_inflation_rejects_bad_factors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Inflation(**kwargs)


def test_inflation_round_trips_and_older_records_read_without_it():
    config = Configuration(inflation=Inflation(1.6, 0.9, 150.0))
    assert Configuration.from_json(config.to_json()) == config
    assert not Inflation().enabled
    assert Inflation(1.2).enabled
    older = json.loads(Configuration().to_json())
    del older["inflation"]  # ensembles written before the inflation existed
    assert Configuration.from_json(json.dumps(older)).inflation == Inflation()
    with pytest.raises(TypeError, match=r"inflation must be an xgenda\.config\.Inflation"):
        configure(inflation=1.5)


def test_a_recommended_configuration_fills_what_a_call_leaves_open():
    recommended = Configuration(Heun(steps=16, churn=5.0), MMPS(cg_steps=2),
                                Window(grid=KindWindow(1.0), error_inflation=1.3),
                                Inflation(1.5))
    assert configure(recommended=recommended) == recommended
    assert configure(inflation=Inflation(), recommended=recommended).inflation == Inflation()
    assert configure(preset="genda", recommended=recommended).inflation == Inflation()
    # explicit objects win, part by part
    assert configure(sampler=Euler(steps=4), recommended=recommended) == Configuration(
        Euler(steps=4), MMPS(cg_steps=2), recommended.window, Inflation(1.5))
    assert configure(window=Window(), recommended=recommended).window == Window()
    # keywords of earlier versions set their part from the library default
    assert configure(steps=8, recommended=recommended).sampler == Heun(steps=8)
    assert configure(method="sda", recommended=recommended).guidance == SDA()
    assert configure(time_window=2.0, recommended=recommended).window == Window(2.0)
    # a preset wins over the recommendation entirely
    assert configure(preset="default", recommended=recommended) == Configuration()
    with pytest.raises(TypeError, match=r"recommended must be an xgenda\.config\.Configuration"):
        configure(recommended={"sampler": Heun()})


def test_demo_prior_recommends_the_calibrated_configuration():
    pytest.importorskip("torch")
    from xgenda.obs.recommended import RECOMMENDED, recommended_configuration

    prior = xgenda.load_demo_prior(snapshot=True)  # calibrated on the snapshot prior
    config = prior.recommended
    # the bundled window prior carries the same windows and sampler (not re-tuned), with
    # the guidance and ensemble inflation searched on its validation run: more CG steps
    # on the symmetrized Jacobian, limited to noise levels up to 10
    window_prior = xgenda.load_demo_prior().recommended
    assert window_prior == recommended_configuration()
    assert window_prior == dataclasses.replace(config, inflation=window_prior.inflation,
                                               guidance=window_prior.guidance)
    assert window_prior.guidance == MMPS(cg_steps=5, symmetrize=True, cg_sigma_max=10.0)
    assert window_prior.inflation.enabled
    assert window_prior.inflation.large > 1.0
    # the OSSE windows, tuned on the smooth ocean as nadir 5 d, 0.1 m/day and L3 SST 1 d,
    # 0.2 degC/day, carried over to the rough ocean's priors in units of the prior's std
    # (the smooth ocean's snapshot prior had std 0.2168 m of SSH, 1.087 degC of SST)
    smooth_std = {"ssh": 0.216839, "sst": 1.087230}
    assert config.window.for_kind("points")[0] == 5.0
    assert config.window.for_kind("points")[1] * smooth_std["ssh"] == pytest.approx(0.1, rel=1e-4)
    assert config.window.for_kind("grid")[0] == 1.0
    assert config.window.for_kind("grid")[1] * smooth_std["sst"] == pytest.approx(0.2, rel=1e-4)
    # the rough ocean is more variable: the same growth is faster in physical units
    std = prior.normalizer.std
    assert std["ssh"] > smooth_std["ssh"]
    assert std["sst"] > smooth_std["sst"]
    # only stable settings (xgenda.calibration.check_stable)
    from xgenda.calibration import check_stable

    check_stable(config)
    check_stable(window_prior)
    assert (RECOMMENDED["steps"], RECOMMENDED["churn"]) == (config.sampler.steps,
                                                            config.sampler.churn)
    assert MMPS(**RECOMMENDED["guidance"]) == window_prior.guidance


def test_quality_control_threshold_is_defined_once():
    from xgenda.config import QC_THRESHOLD
    from xgenda.guard import screen
    from xgenda.obs.qc import QualityControl

    assert QualityControl().threshold == QC_THRESHOLD
    assert inspect.signature(screen).parameters["qc"].default == QC_THRESHOLD
    assert inspect.signature(xgenda.assimilate).parameters["qc"].default == QC_THRESHOLD


def test_cli_options_change_the_preset():
    from xgenda._commands.assimilate import configuration

    assert configuration(_cli_args("--preset", "genda", "--steps", "64", "--gamma", "0.3")) == \
        Configuration(GendaDDIM(steps=64), SDA(gamma=0.3))
    assert configuration(_cli_args("--method", "dps", "--zeta", "2", "--time-window",
                                   "1")) == Configuration(guidance=DPS(zeta=2.0),
                                                          window=Window(1.0))
    with pytest.raises(ValueError, match="--gamma does not apply to 'mmps'"):
        configuration(_cli_args("--gamma", "0.3"))


def test_calibrate_searches_strengths_of_the_objects():
    pytest.importorskip("torch")
    from xgenda.calibration import search_grid

    grid = search_grid()
    assert {(c.sampler, c.window) for c in grid} <= {
        (Heun(steps=n), Window()) for n in (16, 32)}
    assert {c.guidance for c in grid} == {SDA(gamma=g) for g in (0.01, 0.1, 1.0)}


# -- results of the configurations, pinned --------------------------------------------------------
#: ssh (m) at pixel (lat 3, lon 4) of members 0, 1 x times 0, 1 (member-major), computed with
#: the keyword API of xgenda 0.1.0 (method=, steps=, gamma=, preset=, solver=, churn=, ...).
PINNED = {
    "mmps": [-0.7250252962112427, -0.4974358081817627, -0.7371109127998352,
             -0.4686264097690582],
    "sda": [-2.4076285362243652, -2.2966108322143555, -2.4703125953674316,
            -2.2172770500183105],
    "dps": [1.342615008354187, 1.087593913078308, 1.368037462234497, 0.8750184178352356],
    "genda": [-0.7439449429512024, -0.41418227553367615, -0.734977126121521,
              -0.3881637156009674],
    "euler_churn_corrector": [-0.6010017395019531, -0.5830069780349731, -0.5947922468185425,
                              -0.5656155347824097],
}
CONFIGURATIONS = {
    "mmps": Configuration(Heun(steps=5), MMPS(cg_steps=2)),
    "sda": Configuration(Heun(steps=5), SDA(gamma=0.2)),
    "dps": Configuration(Heun(steps=5), DPS(zeta=0.5)),
    "genda": Configuration(GendaDDIM(steps=6), SDA()),
    "euler_churn_corrector": Configuration(Euler(steps=4, churn=3.0, corrector_steps=1, tau=0.2),
                                           MMPS(), Window(1.0, 0.3)),
}


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("name", sorted(PINNED))
def test_configurations_reproduce_the_keyword_api_results(name):
    pytest.importorskip("torch")
    from xgenda.testing import gaussian_prior, point_observations

    prior = gaussian_prior(8, mean=0.1, std=0.2)[0]
    template = xgenda.grid.regular(lon=(-60, -58), lat=(35, 37), res_deg=0.25,
                                   time=pd.date_range("2020-01-01", periods=2))
    obs = point_observations(template, n=30, error=0.02, seed=1)
    # the pinned runs predate the guard: their observations are 3.4 prior std off its mean
    with pytest.warns(DistributionShift, match="offset from the prior's climatology by -3.4"):
        ens = xgenda.assimilate(template, prior, obs, members=2, seed=7,
                                **CONFIGURATIONS[name].kwargs())
    with warnings.catch_warnings():  # a few steps: some samples leave the prior's range
        warnings.filterwarnings("ignore", "the .* sampler diverged", RuntimeWarning)
        values = ens.ssh.values[:, :, 3, 4].astype(np.float64).ravel()
    np.testing.assert_allclose(values, PINNED[name], rtol=2e-6, atol=0)
