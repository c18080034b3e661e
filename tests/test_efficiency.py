"""Efficiency classifier: a known turn-on curve, calibration, keep mask, determinism, rebuild."""

from __future__ import annotations

import json

import numpy as np
import pytest

from flashsim_coffea.sim import efficiency as E
from flashsim_coffea.train import efficiency as TE


def _eff(pt):
    return 0.95 / (1 + np.exp(-(pt - 20) / 3))


def _data(n, seed):
    rng = np.random.default_rng(seed)
    pt = rng.uniform(0, 100, n)
    return pt[:, None], (rng.uniform(size=n) < _eff(pt)).astype(np.float32)


@pytest.fixture(scope="module")
def trained():
    x, y = _data(400_000, 0)  # local statistics limit the curve to well under 1% in 1 GeV
    return TE.train_efficiency(x, y, {"hidden": [32, 32]}, seed=1, epochs=20, batch_size=1024, lr=3e-3,
                              calibration="platt", progress=False)


def _max_bin_error(model):
    grid = np.linspace(0, 100, 4001)[:-1] + 0.0125
    p = E.predict_proba(model, grid[:, None])
    assert p.dtype == np.float64 and p.min() >= 0 and p.max() <= 1
    b = (grid // 5).astype(int)
    return max(abs(p[b == i].mean() - _eff(grid[b == i]).mean()) for i in range(20))


def test_reproduces_known_efficiency_curve(trained):
    model, hist = trained
    assert _max_bin_error(model) < 0.02
    assert hist["calibration"]["method"] == "platt"
    assert abs(hist["calibration"]["a"] - 1) < 0.2  # a trained classifier is nearly calibrated already
    assert hist["efficiency"] == pytest.approx(np.mean(_eff(np.linspace(0, 100, 10001))), abs=0.01)


def test_isotonic_recalibration(trained):
    model, _ = trained
    x, y = _data(100_000, 5)
    platt = model.calibration
    try:
        cal = TE.calibrate(model, x, y, "isotonic")
        assert cal.method == "isotonic" and np.all(np.diff(cal.y) >= 0)
        assert _max_bin_error(model) < 0.02
    finally:
        model.calibration = platt


def test_keep_mask_draws_the_efficiency(trained):
    model, _ = trained
    rng = np.random.default_rng(3)
    pt = np.full(200_000, 21.0)
    keep = E.keep_mask(E.predict_proba(model, pt[:, None]), rng.uniform(size=pt.size))
    assert keep.dtype == bool
    assert keep.mean() == pytest.approx(_eff(21.0), abs=0.02)
    np.testing.assert_array_equal(E.keep_mask(np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.5, 0.999])),
                                  [False, False, True])


def test_rebuild_from_config(trained):
    model, _ = trained
    again = E.build_classifier(json.loads(json.dumps(model.config)))
    again.load_state_dict(model.state_dict())
    x = np.linspace(0, 100, 101)[:, None]
    np.testing.assert_array_equal(E.predict_proba(again, x), E.predict_proba(model, x))


def test_platt_and_isotonic_fits():
    rng = np.random.default_rng(4)
    z = rng.normal(0, 2, 200_000)
    y = rng.uniform(size=z.size) < 1 / (1 + np.exp(-(0.5 * z - 1)))
    cal = TE.fit_platt(z, y)
    assert cal.a == pytest.approx(0.5, abs=0.02) and cal.b == pytest.approx(-1.0, abs=0.03)
    # isotonic on a step: P = 0.2 below 0, 0.7 above
    y2 = rng.uniform(size=z.size) < np.where(z < 0, 0.2, 0.7)
    iso = TE.fit_isotonic(z, y2)
    assert np.all(np.diff(iso.y) >= 0) and np.all(np.diff(iso.x) >= 0)
    p = iso(np.array([-3.0, -1.0, 1.0, 3.0]))
    np.testing.assert_allclose(p, [0.2, 0.2, 0.7, 0.7], atol=0.03)
    assert E.Calibration.from_dict(iso.to_dict()) == iso


def test_same_seed_same_model():
    x, y = _data(5000, 7)
    kw = dict(config={"hidden": [8], "dropout": 0.1}, epochs=2, batch_size=256, progress=False)
    m1, h1 = TE.train_efficiency(x, y, seed=3, **kw)
    m2, h2 = TE.train_efficiency(x, y, seed=3, **kw)
    m3, _ = TE.train_efficiency(x, y, seed=4, **kw)
    grid = np.linspace(0, 100, 50)[:, None]
    np.testing.assert_array_equal(E.predict_proba(m1, grid), E.predict_proba(m2, grid))
    assert h1["val_loss"] == h2["val_loss"] and m1.config == m2.config
    assert not np.array_equal(E.predict_proba(m1, grid), E.predict_proba(m3, grid))
    with pytest.raises(ValueError, match="calibration"):
        TE.calibrate(m1, x, y, "beta")


def test_binned_input_learns_an_acceptance_edge_that_the_plain_mlp_smooths():
    """Efficiency 0.3 below |eta| 2.3, 0.01 above: with the piecewise-linear encoding of the
    column (edges at quantiles of the reconstructed rows) the step is kept; without it the
    MLP spreads it over its neighbours (the check below fails: 0.14 at 2.35, 0.19 at 2.2)."""
    from flashsim_coffea.train import sources

    rng = np.random.default_rng(0)
    n = 60_000
    x = rng.uniform(0, 2.5, n)
    y = (rng.uniform(size=n) < np.where(x < 2.3, 0.3, 0.01)).astype(np.float64)
    X = np.stack([x, rng.normal(size=n)], 1)
    grid = np.stack([np.array([2.0, 2.1, 2.2, 2.35, 2.4, 2.45]), np.zeros(6)], 1)
    got = {}
    for binned in ((), ("abs_eta",)):
        bins = sources.efficiency_bins(X, y, ["abs_eta", "noise"], binned)
        assert bool(bins) == bool(binned)
        model, _ = TE.train_efficiency(X, y, {"hidden": [32, 32], "bins": bins}, seed=1, epochs=15, batch_size=512,
                                        progress=False)
        got[binned] = E.predict_proba(model, grid)
        rebuilt = E.build_classifier(model.config)
        rebuilt.load_state_dict(model.state_dict())
        np.testing.assert_allclose(E.predict_proba(rebuilt, grid), got[binned], rtol=1e-6)
    inside, outside = got[("abs_eta",)][:3], got[("abs_eta",)][3:]
    np.testing.assert_array_less(np.abs(inside - 0.3), 0.05)
    np.testing.assert_array_less(outside, 0.06)
    assert got[()][3] > 0.1 and got[()][2] < 0.25  # the plain MLP: the same check fails


def test_training_options_must_name_conditioning_columns():
    from flashsim_coffea.specs.source import Source

    kw = dict(collection="Tau", name="jetfake", candidates="GenJetFake", conditioning=["log_pt", "eta"], targets={})
    assert Source(**kw, efficiency_bins=("eta",)).efficiency_bins == ("eta",)
    with pytest.raises(ValueError, match=r"Tau_jetfake: efficiency_bins names \['abs_eta'\]"):
        Source(**kw, efficiency_bins=("abs_eta",))
    with pytest.raises(ValueError, match=r"Tau_jetfake: oversample names \['flag:isPrompt'\]"):
        Source(**kw, oversample={"flag:isPrompt": 4.0})
