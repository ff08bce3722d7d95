"""The shared score table against direct computations."""

from __future__ import annotations

import numpy as np
import pytest

from xgenda.diagnostics.summary import score_summary
from xgenda.testing import ocean_dataset


def test_score_summary_values_match_direct_formulas():
    truth = ocean_dataset(nt=3, ny=16, nx=16, land=False, variables=("ssh", "sst"))
    rng = np.random.default_rng(0)
    ens = truth.expand_dims(member=4).copy(deep=True)
    ens["ssh"] = ens.ssh + 0.05 * rng.standard_normal(ens.ssh.shape)
    oi = truth[["ssh"]] + 0.1
    table = score_summary({"ens": ens, "oi": oi}, truth)
    assert list(table.index) == [("ens", "ssh"), ("ens", "sst"), ("oi", "ssh")]
    assert table.loc[("oi", "ssh"), "rmse"] == pytest.approx(0.1)
    err = ens.ssh.mean("member") - truth.ssh
    expected_mu = 1 - np.sqrt((err**2).mean()) / np.sqrt((truth.ssh**2).mean())
    assert table.loc[("ens", "ssh"), "mu"] == pytest.approx(float(expected_mu))
    assert table.loc[("ens", "sst"), "rmse"] == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(table.loc[("oi", "ssh"), "crps"])
    assert table.loc[("ens", "ssh"), "crps"] > 0
    assert table.loc[("ens", "ssh"), "units"] == "m"
