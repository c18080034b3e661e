"""Target transforms: round trips (float32 for continuous, exact for discrete), phi wrapping,
snapping, clipping, spikes, serialisation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from flashsim_coffea.sim import transforms as T

N = 20_000


def _gen(rng):
    return {
        "pt": rng.uniform(15, 500, N),
        "eta": rng.uniform(-4.7, 4.7, N),
        "phi": rng.uniform(-np.pi, np.pi, N),
        "charge": rng.choice([-1.0, 1.0], N),
    }


def _continuous(kind, rng, gen):
    """(spec, reco values) for every continuous kind."""
    if kind == "plain":
        return {"kind": "plain"}, rng.normal(3, 2, N)
    if kind == "ratio":
        return {"kind": "ratio", "gen": "pt"}, gen["pt"] * rng.normal(1, 0.15, N)
    if kind == "diff":
        return {"kind": "diff", "gen": "eta"}, gen["eta"] + rng.normal(0, 0.02, N)
    if kind == "dphi":
        return {"kind": "dphi", "gen": "phi"}, T.wrap(gen["phi"] + rng.normal(0, 0.05, N))
    if kind == "log":
        return {"kind": "log", "offset": 1e-3}, rng.exponential(2.0, N)
    if kind == "asinh":
        return {"kind": "asinh", "scale": 0.002}, rng.standard_cauchy(N) * 0.003
    if kind == "logit":
        return {"kind": "logit", "lo": 0.0, "hi": 1.0}, rng.beta(0.5, 2.0, N).clip(1e-5, 1 - 1e-5)
    if kind == "quantile":  # a pile beside long tails (tunepRelPt-like after its grid spreads it)
        return {"kind": "quantile"}, np.where(rng.random(N) < 0.8, rng.uniform(0.996, 1.008, N), rng.lognormal(0, 0.5, N))
    if kind == "logit_pm1":
        return {"kind": "logit", "lo": -1.0, "hi": 1.0}, rng.uniform(-0.999, 0.999, N)
    raise AssertionError(kind)


CONTINUOUS = ["plain", "ratio", "diff", "dphi", "log", "asinh", "quantile", "logit", "logit_pm1"]


@pytest.mark.parametrize("kind", CONTINUOUS)
def test_continuous_round_trip(kind):
    rng = np.random.default_rng(1)
    gen = _gen(rng)
    spec, x = _continuous(kind, rng, gen)
    t = T.make(spec).fit(x, gen.get(spec.get("gen")))
    g = gen.get(spec.get("gen"))
    # float64 round trip of the transform alone
    y = t.forward(x, g)
    assert y.dtype == np.float64 and np.isfinite(y).all()
    np.testing.assert_allclose(t.inverse(y, g), x, rtol=1e-9, atol=1e-12 * np.abs(x).max())
    # through the pipeline's float32 matrix: float32 round-off of the standardised value
    pipe = T.Pipeline.from_specs({"v": spec}).fit({"v": x}, gen)
    z = pipe.forward({"v": x}, gen)
    assert z.dtype == np.float32 and z.shape == (N, 1)
    assert abs(z.mean()) < 1e-3 and abs(z.std() - 1) < 1e-3
    back = pipe.inverse(z, gen)["v"]
    if kind == "dphi":
        diff = T.wrap(back - x)
        assert np.abs(diff).max() < 1e-6
    else:
        np.testing.assert_allclose(back, x, rtol=2e-6, atol=1e-6 * np.abs(x).std())
    assert not np.allclose(z[:, 0], x)  # the transform did something


def test_phi_wrap_near_pi():
    assert T.wrap(np.array([np.pi]))[0] == -np.pi
    w = T.wrap(np.linspace(-20, 20, 10_001))
    assert w.min() >= -np.pi and w.max() < np.pi
    t = T.make({"kind": "dphi", "gen": "phi"})
    reco = np.array([np.pi - 0.01, -np.pi + 0.01, 3.0, -3.1, 0.0])
    gen = np.array([-np.pi + 0.01, np.pi - 0.01, -3.0, 3.1, 0.0])
    y = t.forward(reco, gen)
    np.testing.assert_allclose(y, [-0.02, 0.02, 6.0 - 2 * np.pi, 2 * np.pi - 6.2, 0.0], atol=1e-12)
    t.fit(reco, gen)
    back = t.inverse(y, gen)
    np.testing.assert_allclose(back, reco, atol=1e-12)
    assert back.min() >= -np.pi and back.max() < np.pi
    # a residual that crosses ±pi after adding gen back is re-wrapped
    t2 = T.make({"kind": "dphi", "gen": "phi", "clip": False})
    np.testing.assert_allclose(t2.inverse(np.array([0.3]), np.array([3.0])), [3.3 - 2 * np.pi], atol=1e-12)


def test_dequantised_integers_exact_and_snapped():
    rng = np.random.default_rng(2)
    cols = {
        "jetId": rng.choice([0, 2, 6], N, p=[0.05, 0.15, 0.8]),
        "hadronFlavour": rng.choice([0, 4, 5], N),
        "nConstituents": rng.poisson(20, N),
        "flag": rng.uniform(size=N) < 0.3,
        "valued": rng.choice([1, 3, 10], N),
    }
    specs = {
        "jetId": {"kind": "integer"},
        "hadronFlavour": {"kind": "integer", "values": [0, 4, 5]},
        "nConstituents": {"kind": "integer"},
        "flag": {"kind": "flag"},
        "valued": {"kind": "integer", "rank": False},
    }
    pipe = T.Pipeline.from_specs(specs).fit(cols, rng=np.random.default_rng(3))
    z = pipe.forward(cols, rng=np.random.default_rng(4))
    back = pipe.inverse(z)
    for k in cols:
        np.testing.assert_array_equal(back[k], cols[k].astype(np.int64), err_msg=k)
        assert back[k].dtype == np.int64
    # the dequantised codes are continuous: noise fills the whole cell
    jet = pipe.columns[0][1]
    assert jet.values == [0, 2, 6]
    y = jet.forward(cols["jetId"], rng=np.random.default_rng(5))
    assert len(np.unique(y)) == N and y.min() > -0.5 and y.max() < 2.5
    # arbitrary samples snap to the seen values
    np.testing.assert_array_equal(jet.inverse(np.array([-3.0, 0.49, 0.51, 1.2, 1.6, 9.0])), [0, 0, 2, 2, 6, 6])
    valued = pipe.columns[4][1]
    np.testing.assert_array_equal(valued.inverse(np.array([0.0, 1.9, 2.1, 6.4, 6.6, 40.0])), [1, 1, 3, 3, 10, 10])
    flag = pipe.columns[3][1]
    np.testing.assert_array_equal(flag.inverse(np.array([-1.0, 0.49, 0.5, 3.0])), [0, 0, 1, 1])


def test_bits_decomposition():
    rng = np.random.default_rng(6)
    pu = rng.choice([0, 4, 6, 7], N)
    t = T.make({"kind": "bits", "bits": [4, 2, 1]}).fit(pu)
    assert t.values == [0, 4, 6, 7] and t.dims == 3
    y = t.forward(pu, rng=rng)
    assert y.shape == (N, 3)
    np.testing.assert_array_equal(np.floor(y[:, 0] + 0.5), pu >= 4)
    np.testing.assert_array_equal(t.inverse(y), pu)
    # a pattern never seen in training (medium without loose = 2) snaps to the nearest seen one
    unseen = np.array([[0.3, 0.9, 0.1], [0.1, 0.6, -0.2], [0.0, 0.0, 0.9]])
    np.testing.assert_array_equal(t.inverse(unseen), [6, 0, 0])
    # through a pipeline with other columns
    pipe = T.Pipeline.from_specs([("pt", {"kind": "plain"}), ("puId", {"kind": "bits", "bits": [4, 2, 1]})])
    cols = {"pt": rng.uniform(0, 1, N), "puId": pu}
    pipe.fit(cols, rng=rng)
    assert pipe.dims == 4 and pipe.names == ["pt", "puId:4", "puId:2", "puId:1"]
    np.testing.assert_array_equal(pipe.inverse(pipe.forward(cols, rng=rng))["puId"], pu)


def test_onehot_categories():
    rng = np.random.default_rng(16)
    dm = rng.choice([0, 1, 2, 10, 11], N, p=[0.14, 0.25, 0.02, 0.39, 0.20])
    t = T.make({"kind": "onehot", "values": [0, 1, 2, 10, 11]}).fit(dm)
    assert t.dims == 5
    y = t.forward(dm, rng=rng)
    assert y.shape == (N, 5)
    np.testing.assert_array_equal(np.argmax(y, axis=1), np.searchsorted([0, 1, 2, 10, 11], dm))
    np.testing.assert_array_equal(t.inverse(y), dm)
    # a sample between categories goes to its largest dimension
    np.testing.assert_array_equal(t.inverse(np.array([[0.4, 0.45, 0.3, 0.0, 0.0], [0.0, 0.0, 0.2, 0.1, 0.3]])), [1, 11])
    pipe = T.Pipeline.from_specs([("pt", {"kind": "plain"}), ("decayMode", {"kind": "onehot", "values": [0, 1, 2, 10, 11]})])
    cols = {"pt": rng.uniform(0, 1, N), "decayMode": dm}
    pipe.fit(cols, rng=rng)
    assert pipe.dims == 6 and pipe.names[1:] == ["decayMode:0", "decayMode:1", "decayMode:2", "decayMode:10", "decayMode:11"]
    back = T.Pipeline.from_dict(json.loads(json.dumps(pipe.to_dict()))).inverse(pipe.forward(cols, rng=rng))
    np.testing.assert_array_equal(back["decayMode"], dm)
    # a training value that was not declared is named
    with pytest.raises(ValueError, match="value 5 is not one of"):
        t.fit(np.array([0, 5, 10]))
    with pytest.raises(ValueError, match="two or more distinct"):
        T.make({"kind": "onehot", "values": [1, 1]})


def test_sign_with_and_without_gen():
    rng = np.random.default_rng(7)
    gq = rng.choice([-1, 1], N)
    flip = rng.uniform(size=N) < 0.02
    q = np.where(flip, -gq, gq)
    t = T.make({"kind": "sign", "gen": "charge"}).fit(q, gq)
    y = t.forward(q, gq, rng)
    np.testing.assert_array_equal(np.floor(y + 0.5) == 0, flip)  # the flow learns the flip
    np.testing.assert_array_equal(t.inverse(y, gq), q)
    free = T.make({"kind": "sign", "gen": None})
    np.testing.assert_array_equal(free.inverse(free.forward(q, rng=rng)), q)
    with pytest.raises(ValueError, match="gen"):
        t.inverse(y)


def test_spike_round_trip_and_separation():
    rng = np.random.default_rng(8)
    x = rng.beta(2, 5, N)
    x[rng.uniform(size=N) < 0.3] = 0.0
    t = T.make({"kind": "spike", "value": 0.0, "then": {"kind": "logit", "lo": 0.0, "hi": 1.0}})
    t.fit(x, rng=rng)
    y = t.forward(x, rng=rng)
    zero = x == 0
    assert y[zero].max() < t.threshold < y[~zero].min()
    assert y[zero].std() > 0  # noise, not a point mass
    back = t.inverse(y)
    np.testing.assert_array_equal(back[zero], 0.0)
    np.testing.assert_allclose(back[~zero], x[~zero], rtol=1e-9)
    # -1 defaults with a plain continuous part, through the float32 pipeline
    s = rng.normal(0.5, 0.2, N)
    s[:3000] = -1.0
    pipe = T.Pipeline.from_specs({"s": {"kind": "spike", "value": -1.0}}).fit({"s": s}, rng=rng)
    back = pipe.inverse(pipe.forward({"s": s}, rng=rng))["s"]
    np.testing.assert_array_equal(back[:3000], -1.0)
    np.testing.assert_allclose(back[3000:], s[3000:], rtol=1e-6, atol=1e-6)
    # a spike with a gen-relative continuous part
    gpt = rng.uniform(20, 100, N)
    r = gpt * rng.normal(1, 0.1, N)
    r[:100] = 0.0
    ts = T.make({"kind": "spike", "value": 0.0, "then": {"kind": "ratio", "gen": "pt"}})
    ts.fit(r, gpt, rng)
    np.testing.assert_allclose(ts.inverse(ts.forward(r, gpt, rng), gpt), r, rtol=1e-12)


def test_spike_at_the_top_and_at_both_ends():
    # neHEF-like: point masses at 0 and at 1 around a continuous fraction
    rng = np.random.default_rng(18)
    x = rng.beta(5, 2, N)
    u = rng.uniform(size=N)
    x[u < 0.1] = 0.0
    x[u > 0.75] = 1.0
    t = T.make({"kind": "spike", "value": 0.0, "then": {
        "kind": "spike", "value": 1.0, "side": "high", "then": {"kind": "logit", "lo": 0.0, "hi": 1.0}}})
    t.fit(x, rng=rng)
    y = t.forward(x, rng=rng)
    top, bottom, mid = x == 1.0, x == 0.0, (x > 0) & (x < 1)
    inner = t.then
    assert y[mid].max() < inner.threshold < y[top].min()  # the top spike sits above the continuous part
    assert y[bottom].max() < t.threshold < y[mid].min()
    back = t.inverse(y)
    np.testing.assert_array_equal(back[top], 1.0)
    np.testing.assert_array_equal(back[bottom], 0.0)
    np.testing.assert_allclose(back[mid], x[mid], rtol=1e-9)
    # the fitted constants survive serialisation
    again = T.from_dict(t.to_dict())
    np.testing.assert_array_equal(again.inverse(y), back)
    with pytest.raises(ValueError, match="side"):
        T.make({"kind": "spike", "value": 1.0, "side": "top"})


def test_spike_inside_the_continuous_range():
    # the fake-tau mass: the pion mass for one-prong modes, a clipped template whose lower
    # edge (0.8 GeV) holds a point mass *inside* the range of the other modes' masses
    rng = np.random.default_rng(19)
    x = np.clip(rng.normal(1.0, 0.3, N), 0.3, 1.6)
    u = rng.uniform(size=N)
    x[u < 0.15] = 0.13957
    x[(u > 0.5) & (u < 0.55)] = 0.8
    t = T.make({"kind": "spike", "value": 0.13957, "atol": 2e-4, "then": {
        "kind": "spike", "value": 0.8, "atol": 5e-4, "then": {"kind": "log", "offset": 0.01}}})
    t.fit(x, rng=rng)
    y = t.forward(x, rng=rng)
    pion, edge = x == 0.13957, np.abs(x - 0.8) <= 5e-4  # continuous values inside atol join the spike
    cont = ~pion & ~edge
    assert (edge & (x != 0.8)).sum() < 1e-3 * N
    # three separate regions: pion-mass code < edge code < the continuous masses
    assert y[pion].max() < t.threshold < y[edge].min()
    assert y[edge].max() < t.then.threshold < y[cont].min()
    back = t.inverse(y)
    np.testing.assert_array_equal(back[pion], 0.13957)
    np.testing.assert_array_equal(back[edge], 0.8)
    np.testing.assert_allclose(back[cont], x[cont], rtol=1e-9)
    np.testing.assert_array_equal(T.from_dict(t.to_dict()).inverse(y), back)


def test_inverse_clips_to_training_range():
    rng = np.random.default_rng(9)
    gpt = rng.uniform(20, 100, N)
    ratio = rng.uniform(0.5, 1.5, N)
    t = T.make({"kind": "ratio", "gen": "pt"}).fit(gpt * ratio, gpt)
    out = t.inverse(np.array([0.1, 1.0, 7.0]), np.array([10.0, 10.0, 10.0]))
    np.testing.assert_allclose(out, [10 * ratio.min(), 10.0, 10 * ratio.max()])
    off = T.make({"kind": "ratio", "gen": "pt", "clip": False}).fit(gpt * ratio, gpt)
    np.testing.assert_allclose(off.inverse(np.array([7.0]), np.array([10.0])), [70.0])
    lg = T.make({"kind": "log", "offset": 1.0}).fit(rng.uniform(0, 10, N))
    assert 0 <= lg.inverse(np.array([-50.0]))[0] < 1e-3 and lg.inverse(np.array([50.0]))[0] <= 10


JET_SPECS = {
    "pt": {"kind": "ratio", "gen": "pt"},
    "eta": {"kind": "diff", "gen": "eta"},
    "phi": {"kind": "dphi", "gen": "phi"},
    "btagDeepFlavB": {"kind": "logit", "lo": 0.0, "hi": 1.0},
    "muEF": {"kind": "spike", "value": 0.0, "then": {"kind": "logit", "lo": 0.0, "hi": 1.0}},
    "jetId": {"kind": "integer"},
    "puId": {"kind": "bits", "bits": [4, 2, 1]},
    "charge": {"kind": "sign", "gen": "charge"},
}


def _jets(rng):
    gen = _gen(rng)
    mu = rng.beta(1, 20, N)
    mu[rng.uniform(size=N) < 0.8] = 0.0
    cols = {
        "pt": gen["pt"] * rng.normal(1, 0.1, N),
        "eta": gen["eta"] + rng.normal(0, 0.01, N),
        "phi": T.wrap(gen["phi"] + rng.normal(0, 0.01, N)),
        "btagDeepFlavB": rng.uniform(0.001, 0.999, N),
        "muEF": mu,
        "jetId": rng.choice([0, 2, 6], N),
        "puId": rng.choice([0, 4, 6, 7], N),
        "charge": gen["charge"] * np.where(rng.uniform(size=N) < 0.1, -1, 1),
    }
    return cols, gen


def test_serialisation_round_trip_gives_identical_output():
    rng = np.random.default_rng(10)
    cols, gen = _jets(rng)
    pipe = T.Pipeline.from_specs(JET_SPECS).fit(cols, gen, np.random.default_rng(11))
    text = json.dumps(pipe.to_dict())
    again = T.Pipeline.from_dict(json.loads(text))
    assert again.to_dict() == pipe.to_dict()
    z1 = pipe.forward(cols, gen, np.random.default_rng(12))
    z2 = again.forward(cols, gen, np.random.default_rng(12))
    np.testing.assert_array_equal(z1, z2)
    b1, b2 = pipe.inverse(z1, gen), again.inverse(z1, gen)
    for k in JET_SPECS:
        np.testing.assert_array_equal(b1[k], b2[k])
    # gen columns may also come as gen_<name> among the columns (extract's ``pairs``)
    pairs = {**cols, **{f"gen_{k}": v for k, v in gen.items()}}
    np.testing.assert_array_equal(again.forward(pairs, rng=np.random.default_rng(12)), z1)
    # and the full round trip: discrete exact, continuous to float32 round-off
    for k in ("jetId", "puId", "charge"):
        np.testing.assert_array_equal(b1[k], cols[k])
    np.testing.assert_array_equal(b1["muEF"] == 0, cols["muEF"] == 0)
    for k in ("pt", "eta", "btagDeepFlavB", "muEF"):
        np.testing.assert_allclose(b1[k], cols[k], rtol=2e-6, atol=1e-6 * cols[k].std(), err_msg=k)
    assert np.abs(T.wrap(b1["phi"] - cols["phi"])).max() < 1e-6
    # each transform on its own round-trips through JSON too
    for _, t in pipe.columns:
        assert T.from_dict(json.loads(json.dumps(t.to_dict()))).to_dict() == t.to_dict()


def test_errors():
    with pytest.raises(ValueError, match="unknown transform kind"):
        T.make({"kind": "nope"})
    t = T.make({"kind": "integer"}).fit(np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="Generator"):
        t.forward(np.array([1, 2]))
    pipe = T.Pipeline.from_specs({"pt": {"kind": "ratio", "gen": "pt"}})
    with pytest.raises(KeyError, match="gen column"):
        pipe.fit({"pt": np.ones(3)})


def test_every_collection_spec_builds():
    from flashsim_coffea.nanoaod.storage_precision import PRECISION
    from flashsim_coffea.specs import COLLECTIONS, EVENT_SOURCES

    sources = [s for srcs in COLLECTIONS.values() for s in srcs] + list(EVENT_SOURCES)
    grids = 0
    for src in sources:
        pipe = T.Pipeline.from_specs(src.targets)
        assert pipe.dims >= len(src.targets), src.key
        for name, t in pipe.columns:  # a grid spreads over the cells of the field's stored precision
            while isinstance(t, T.Spike):
                t = t.then
            if isinstance(t, T.Grid):
                grids += 1
                assert t.bits == PRECISION[src.collection][name], (src.key, name)
    assert grids >= 2  # Muon tunepRelPt, genuine and fake


def test_logit_without_bounds_fits_them_to_the_training_range():
    rng = np.random.default_rng(4)
    x = 0.97 - rng.exponential(0.03, 50_000).clip(0, 0.77)  # r9-like: piled against 0.97
    t = T.make({"kind": "logit"}).fit(x)
    width = x.max() - x.min()
    assert t.lo == pytest.approx(x.min() - 0.01 * width) and t.hi == pytest.approx(x.max() + 0.01 * width)
    y = t.forward(x)
    assert np.isfinite(y).all() and y.max() < 10  # the edge is a finite tail, not clipped at eps
    np.testing.assert_allclose(t.inverse(y), x, rtol=0, atol=1e-9)
    again = T.from_dict(t.to_dict())
    assert (again.lo, again.hi) == (t.lo, t.hi)
    half = T.make({"kind": "logit", "hi": 1.0}).fit(x)
    assert half.hi == 1.0 and half.lo == pytest.approx(x.min() - 0.01 * width)
    with pytest.raises(ValueError, match="no bounds given"):
        T.make({"kind": "logit"}).fit(np.array([np.nan]))


def test_dequantisation_half_width_is_the_pipelines_and_survives_its_card():
    """A pipeline's half-width sets the spread of its discrete columns (0.25: uniform in ±0.25 around the
    integer), rounds back exactly, travels through to_dict/from_dict, and leaves other pipelines at 0.15."""
    rng = np.random.default_rng(3)
    x = {"n": rng.integers(0, 5, 4000).astype(np.float64)}
    wide = T.Pipeline.from_specs({"n": {"kind": "integer"}}, half_width=0.25).fit(x, rng=rng)
    back = T.Pipeline.from_dict(json.loads(json.dumps(wide.to_dict())))
    assert back.half_width == 0.25 and wide.to_dict()["half_width"] == 0.25
    y = wide.scale.inverse(wide.forward(x, rng=rng).astype(np.float64))[:, 0]
    assert 0.24 < np.max(np.abs(y - x["n"])) <= 0.25
    assert np.array_equal(back.inverse(wide.forward(x, rng=rng))["n"], x["n"])
    plain = T.Pipeline.from_specs({"n": {"kind": "integer"}}).fit(x, rng=rng)
    y = plain.scale.inverse(plain.forward(x, rng=rng).astype(np.float64))[:, 0]
    assert 0.14 < np.max(np.abs(y - x["n"])) <= 0.15 and "half_width" not in plain.to_dict()
    with pytest.raises(ValueError, match="half-width must be in"):
        T.Pipeline.from_specs({"n": {"kind": "integer"}}, half_width=0.5)


def test_excess_keeps_a_target_above_the_one_it_exceeds():
    """pfRelIso03_all = chg + max(0, neutral - PU): learnt as its excess over chg (spec order either way),
    the sampled values never fall below chg, and the clip (all == chg with chg > 0) comes back exactly."""
    rng = np.random.default_rng(20)
    chg = np.where(rng.random(N) < 0.4, 0.0, rng.exponential(0.1, N))
    neutral = np.maximum(rng.normal(0.02, 0.05, N), 0.0)  # clipped at 0 for ~35 % of the rows
    cols = {"all": chg + neutral, "chg": chg}
    iso = {"kind": "spike", "value": 0.0, "then": {"kind": "log", "offset": 1e-3}}
    pipe = T.Pipeline.from_specs([("all", {"kind": "excess", "over": "chg", "then": iso}), ("chg", iso)])
    pipe.fit(cols, rng=np.random.default_rng(21))
    y = pipe.forward(cols, rng=np.random.default_rng(22))
    back = pipe.inverse(y)
    assert list(back) == ["all", "chg"]
    np.testing.assert_allclose(back["all"], cols["all"], rtol=2e-6, atol=1e-7)
    np.testing.assert_array_equal(back["all"] == back["chg"], neutral == 0)
    # any point of flow space: all >= chg, and a quarter or more of the rows exactly on it
    noise = T.Pipeline.from_dict(json.loads(json.dumps(pipe.to_dict()))).inverse(
        np.random.default_rng(23).standard_normal((N, 2)).astype(np.float32))
    assert np.all(noise["all"] >= noise["chg"])
    assert 0.1 < np.mean(noise["all"] == noise["chg"]) < 0.9
    with pytest.raises(ValueError, match="excess over 'nope'"):
        T.Pipeline.from_specs([("all", {"kind": "excess", "over": "nope"})])
    with pytest.raises(ValueError, match="gen column"):
        T.make({"kind": "excess", "over": "chg", "then": {"kind": "ratio", "gen": "pt"}})


def test_signed_excess_keeps_the_tie_and_both_sides():
    """Muon tkRelIso from pfRelIso03_chg / tunepRelPt (spec order either way): the signed difference through quantiles
    gives back the rows on the bound exactly, above and below it in their shares, from any point of flow space."""
    rng = np.random.default_rng(30)
    chg = np.where(rng.random(N) < 0.5, 0.0, rng.exponential(0.1, N))
    tunep = np.where(rng.random(N) < 0.8, 1.0, rng.normal(1.0, 0.02, N))
    shift = np.where(rng.random(N) < 0.1, rng.exponential(0.05, N), 0.0) - np.where(rng.random(N) < 0.03, 0.01, 0.0)
    cols = {"tk": chg / tunep + shift, "chg": chg, "tunep": tunep}
    pipe = T.Pipeline.from_specs([
        ("tk", {"kind": "excess", "over": "chg", "per": "tunep", "signed": True, "then": {"kind": "quantile"}}),
        ("chg", {"kind": "quantile"}), ("tunep", {"kind": "quantile"})])
    pipe.fit(cols, rng=np.random.default_rng(31))
    back = pipe.inverse(pipe.forward(cols, rng=np.random.default_rng(32)))
    np.testing.assert_allclose(back["tk"], cols["tk"], rtol=1e-5, atol=1e-7)
    noise = T.Pipeline.from_dict(json.loads(json.dumps(pipe.to_dict()))).inverse(
        np.random.default_rng(33).standard_normal((N, 3)).astype(np.float32))
    d = noise["tk"] - noise["chg"] / noise["tunep"]
    for got, want in ((d == 0, shift == 0), (d < 0, shift < 0), (d > 0, shift > 0)):
        assert abs(np.mean(got) - np.mean(want)) < 0.02
    with pytest.raises(ValueError, match="either 'signed' or 'below'"):
        T.make({"kind": "excess", "over": "chg", "signed": True, "below": True})


def test_a_log_ratio_excess_inside_a_default_keeps_the_groomed_mass_peak_at_the_jet_mass():
    """A fat jet's msoftdrop: -1 by rule without soft drop, else a fraction of its mass with a peak at 1.00-1.015
    (nothing groomed away). Learnt as its log-ratio to ``mass`` inside the ``default``, the pipeline gives the
    values back, and any point of flow space lands at or above 0 with the peak's share kept."""
    rng = np.random.default_rng(40)
    mass = np.exp(rng.normal(4.0, 0.6, N))
    whole = rng.random(N) < 0.2
    frac = np.where(whole, rng.uniform(1.0, 1.015, N), rng.beta(1.2, 2.0, N))
    msd = np.where(rng.random(N) < 0.07, -1.0, mass * frac)
    cols = {"msoftdrop": msd, "mass": mass}
    spec = {"kind": "default", "value": -1.0,
            "then": {"kind": "excess", "over": "mass", "log": 1.0, "floor": 0.0, "then": {"kind": "quantile"}}}
    pipe = T.Pipeline.from_specs([("msoftdrop", spec), ("mass", {"kind": "log"})])
    pipe.fit(cols, rng=np.random.default_rng(41))
    back = pipe.inverse(pipe.forward(cols, rng=np.random.default_rng(42)))
    ok = msd >= 0
    np.testing.assert_allclose(back["msoftdrop"][ok], msd[ok], rtol=1e-6, atol=1e-6)
    noise = T.Pipeline.from_dict(json.loads(json.dumps(pipe.to_dict()))).inverse(
        np.random.default_rng(43).standard_normal((N, 2)).astype(np.float32))
    r = noise["msoftdrop"] / noise["mass"]
    assert noise["msoftdrop"].min() >= 0.0
    in_peak = np.mean((r > 0.999) & (r < 1.016))
    assert abs(in_peak - np.mean(whole[ok])) < 0.03, in_peak
    assert T.relative(pipe.columns[0][1]).refs == ("mass",)
    with pytest.raises(ValueError, match="log-ratio"):
        T.make({"kind": "excess", "over": "mass", "log": 1.0, "below": True})


def test_the_groomed_mass_piles_drawn_first_keep_their_spread_and_the_rest_its_log_ratio():
    """The fat jets' msoftdrop as the spec learns it (``specs/fatjet.py`` ``_MSOFTDROP``): -1 by rule, 0, an electron's
    pile (1e-4-1e-3 GeV) and a muon's (0.09-0.13 GeV), each a ``spread`` spike, then the log-ratio to ``mass``. Round
    trip exact; every point of flow space decodes onto one of them or the continuum; a drawn pile (``place_point``,
    as the categories-first engine) lands inside its window with the training pile's spread, never on one value."""
    from flashsim_coffea.sim.categories import labels
    from flashsim_coffea.specs.fatjet import FATJET

    rng = np.random.default_rng(50)
    mass = np.exp(rng.normal(4.0, 0.6, N))
    kind = rng.choice(5, N, p=[0.07, 0.03, 0.1, 0.25, 0.55])  # -1, 0, electron, muon, groomed
    msd = np.select([kind == 0, kind == 1, kind == 2, kind == 3],
                    [-1.0, 0.0, rng.uniform(4e-4, 7e-4, N), rng.normal(0.109, 0.005, N)], mass * rng.beta(1.2, 2.0, N))
    cols = {"msoftdrop": msd, "mass": mass}
    pipe = T.Pipeline.from_specs([("msoftdrop", FATJET.targets["msoftdrop"]), ("mass", {"kind": "log"})])
    pipe.fit(cols, rng=np.random.default_rng(51))
    pipe = T.Pipeline.from_dict(json.loads(json.dumps(pipe.to_dict())))
    back = pipe.inverse(pipe.forward(cols, rng=np.random.default_rng(52)))
    ok = msd >= 0
    np.testing.assert_allclose(back["msoftdrop"][ok], msd[ok], rtol=1e-5, atol=1e-9)
    k = labels(cols, ["msoftdrop:point"], pipe)["msoftdrop:point"]
    assert [round(float(np.mean(k == j)), 2) for j in range(4)] == [round(float(np.mean((kind == 0) | (kind == 4))), 2),
                                                                    0.03, 0.1, 0.25]
    # the engine draws the pile first: a row drawn onto the muon's pile lands in its window whatever the flow gave
    y = np.random.default_rng(53).standard_normal((N, 2)).astype(np.float32)
    drawn = np.where(rng.random(N) < 0.3, 3, 0)
    free = pipe.inverse(y)["msoftdrop"][drawn == 3]
    out = pipe.inverse(y, points={"msoftdrop": drawn})["msoftdrop"][drawn == 3]
    assert np.all((out >= 0.08) & (out <= 0.15))
    inside = (free >= 0.08) & (free <= 0.15)  # the flow's value where it decoded inside the pile, else its median
    assert 0 < inside.sum() < len(out) and np.array_equal(out[inside], free[inside])
    np.testing.assert_allclose(out[~inside], np.median(msd[kind == 3]), rtol=0.01)
    # rows the flow put inside a pile keep their position there; each pile's quantiles come back
    mu = pipe.inverse(pipe.forward(cols, rng=np.random.default_rng(54)), points={"msoftdrop": k})["msoftdrop"][k == 3]
    np.testing.assert_allclose(np.quantile(mu, [0.1, 0.5, 0.9]), np.quantile(msd[k == 3], [0.1, 0.5, 0.9]), rtol=1e-5)


def test_excess_per_bounds_the_photon_isolation_by_its_charged_sum_over_pt(tt_sample):
    """A reference photon's pfRelIso03_all = (pfChargedIsoPFPV + max(0, neutral - rho EA)) / pt: learnt as its
    excess over pfChargedIsoPFPV / pt (``per``), the photons come back to NanoAOD's precision, and any point of
    flow space decodes at or above the charged bound, a share of them exactly on it (the neutral clip)."""
    import awkward as ak
    import uproot

    names = ["pt", "pfRelIso03_all", "pfChargedIsoPFPV"]
    arrays = uproot.open(tt_sample)["Events"].arrays([f"Photon_{n}" for n in names])
    cols = {n: ak.to_numpy(ak.flatten(arrays[f"Photon_{n}"])).astype(np.float64) for n in names}
    bound = cols["pfChargedIsoPFPV"] / cols["pt"]
    on = np.abs(cols["pfRelIso03_all"] - bound) <= 1e-3 * np.maximum(bound, 1e-3)
    assert len(bound) > 50 and 0.1 < np.mean(on) < 0.9 and np.all(cols["pfRelIso03_all"] > bound - 1e-3 * bound - 1e-6)
    iso = {"kind": "spike", "value": 0.0, "then": {"kind": "log", "offset": 1e-3}}
    spec = {"pfRelIso03_all": {"kind": "excess", "over": "pfChargedIsoPFPV", "per": "pt", "then": iso},
            "pfChargedIsoPFPV": iso, "pt": {"kind": "log", "offset": 0.0}}
    pipe = T.Pipeline.from_specs(spec).fit(cols, rng=np.random.default_rng(24))
    back = pipe.inverse(pipe.forward(cols, rng=np.random.default_rng(25)))
    np.testing.assert_allclose(back["pfRelIso03_all"], np.maximum(cols["pfRelIso03_all"], bound), rtol=1e-5, atol=1e-7)
    noise = T.Pipeline.from_dict(json.loads(json.dumps(pipe.to_dict()))).inverse(
        np.random.default_rng(26).standard_normal((N, 3)).astype(np.float32))
    low = noise["pfChargedIsoPFPV"] / noise["pt"]
    assert np.all(noise["pfRelIso03_all"] >= low) and 0.05 < np.mean(noise["pfRelIso03_all"] == low) < 0.9
    with pytest.raises(ValueError, match="excess per 'pt'"):
        T.Pipeline.from_specs({"a": spec["pfRelIso03_all"], "pfChargedIsoPFPV": iso})
    with pytest.raises(KeyError, match=r"\['pt'\]"):
        pipe.fit({k: v for k, v in cols.items() if k != "pt"})


def test_calibration_learns_the_reference_jet_correction_as_a_residual():
    """Fat jets calibrated by the reference's L2L3 table (rawFactor = 1 - R(pT_raw, abs(eta)), a function
    of the corrected jet alone): the fitted table gives 99 % of unseen jets' rawFactor to 5e-3 of its value
    (NanoAOD keeps 6 mantissa bits: 2^-7 = 7.8e-3), the pipeline inverts the calibration after the pt and eta it reads
    (spec order either way), and any flow-space point decodes to the table at the decoded jet."""
    from flashsim_coffea.reference.jets import l2l3_response

    def jets(seed, n=20000):
        r = np.random.default_rng(seed)
        pt_raw, eta = 170 * np.exp(r.exponential(0.6, n)), r.uniform(-4.5, 4.5, n)
        resp = l2l3_response(pt_raw, np.abs(eta))
        gen = {"pt": pt_raw * r.normal(1.0, 0.05, n), "eta": eta + r.normal(0, 0.01, n)}
        return {"rawFactor": 1 - resp, "pt": pt_raw / resp, "eta": eta}, gen

    cols, gen = jets(30)
    specs = [("rawFactor", {"kind": "calibration", "edges": [0.0, 1.3, 2.5, 3.0, 5.0]}),
             ("pt", {"kind": "ratio", "gen": "pt"}), ("eta", {"kind": "diff", "gen": "eta"})]
    pipe = T.Pipeline.from_specs(specs).fit(cols, gen, np.random.default_rng(31))
    calib = pipe.columns[0][1]
    held, _ = jets(32)
    err = np.abs(calib._predict((held["pt"], held["eta"])) - held["rawFactor"]) / held["rawFactor"]
    assert np.quantile(err, 0.99) < 5e-3, np.quantile(err, [0.5, 0.99])
    back = pipe.inverse(pipe.forward(cols, gen, np.random.default_rng(33)), gen)
    np.testing.assert_allclose(back["rawFactor"], cols["rawFactor"], rtol=1e-5)
    same = T.Pipeline.from_dict(json.loads(json.dumps(pipe.to_dict())))
    noise = same.inverse(np.random.default_rng(34).standard_normal((N, 3)).astype(np.float32),
                         {k: v[:N] for k, v in gen.items()})
    np.testing.assert_allclose(noise["rawFactor"] - calib._predict((noise["pt"], noise["eta"])),
                               same.columns[0][1].then.inverse(same.scale.inverse(
                                   np.random.default_rng(34).standard_normal((N, 3)))[:, 0]), atol=1e-9)
    with pytest.raises(ValueError, match="calibration read at 'pt'"):
        T.Pipeline.from_specs([("rawFactor", {"kind": "calibration", "edges": [0.0, 5.0]}), ("eta", {"kind": "plain"})])
    with pytest.raises(ValueError, match="ascending .eta. edges from 0"):
        T.make({"kind": "calibration", "edges": [1.3, 5.0]})


def _scores(rng, n=N):
    """Electron-like scores with the reference detector's relation between them (float32, a third of the isolated
    score saturated at -1) and an isolation above its charged part."""
    chg = np.where(rng.random(n) < 0.4, 0.0, rng.exponential(0.2, n))
    iso = chg + np.maximum(rng.normal(0.05, 0.2, n), 0.0)
    noiso = np.tanh(rng.normal(0.5, 4.0, n)).astype(np.float32)
    mva = np.tanh(np.arctanh(np.clip(noiso.astype(np.float64), -T._ATANH_EDGE, T._ATANH_EDGE))
                  - 7.2 * np.minimum(iso, 2.0)).astype(np.float32)
    return {"mvaIso": mva, "mvaNoIso": noiso, "iso": iso, "chg": chg}


REL = {"kind": "relation", "link": "atanh", "then": {"kind": "quantile"},
       "terms": [{"of": "mvaNoIso", "link": "atanh"}, {"of": "iso", "max": 2.0}]}


def test_relation_learns_a_score_as_its_residual_to_the_others(tt_sample):
    """mvaIso = tanh(atanh(mvaNoIso) - 7.2 min(iso, 2)) on every reference electron: learnt as a relation (read
    before the targets it reads in the spec, one of them an excess), the fit finds the coefficients, the round trip
    is exact, and any flow-space point decodes onto the relation, saturation at -1 included."""
    import uproot

    rng = np.random.default_rng(40)
    cols = _scores(rng)
    specs = [("mvaIso", REL), ("iso", {"kind": "excess", "over": "chg", "then": {"kind": "log", "offset": 1e-3}}),
             ("mvaNoIso", {"kind": "quantile"}), ("chg", {"kind": "log", "offset": 1e-3})]
    pipe = T.Pipeline.from_specs(specs).fit(cols, rng=np.random.default_rng(41))
    rel = pipe.columns[0][1]
    np.testing.assert_allclose(rel.coef, [1.0, -7.2, 0.0], atol=1e-4)
    back = pipe.inverse(pipe.forward(cols, rng=np.random.default_rng(42)))
    np.testing.assert_allclose(back["mvaIso"], cols["mvaIso"], rtol=0, atol=3e-6)  # through float32 flow space
    same = T.Pipeline.from_dict(json.loads(json.dumps(pipe.to_dict())))
    noise = same.inverse(np.random.default_rng(43).standard_normal((N, 4)).astype(np.float32))
    expect = np.tanh(np.arctanh(np.clip(noise["mvaNoIso"], -T._ATANH_EDGE, T._ATANH_EDGE))
                     - 7.2 * np.minimum(noise["iso"], 2.0)).astype(np.float32)
    got = noise["mvaIso"].astype(np.float32)
    assert np.all(noise["iso"] >= noise["chg"])
    assert np.mean(np.abs(got - expect) < 1e-4) > 0.99
    assert 0.03 < np.mean(got == -1) < 0.6 and np.array_equal(got == -1, expect == -1)
    # learnt apart, the same flow-space points miss the relation: the scores' quantiles are independent there
    apart = T.Pipeline.from_specs([("mvaIso", {"kind": "quantile"}), *specs[1:]]).fit(cols, rng=np.random.default_rng(41))
    loose = apart.inverse(np.random.default_rng(43).standard_normal((N, 4)).astype(np.float32))
    assert np.mean(np.abs(loose["mvaIso"] - expect) < 1e-4) < 0.5
    # the reference detector's electrons: the same relation, fitted from a few hundred
    t = uproot.open(tt_sample)["Events"]
    ref = {f: np.concatenate(t[f"Electron_{f}"].array(library="np")) for f in ("mvaIso", "mvaNoIso", "pfRelIso03_all")}
    assert len(ref["mvaIso"]) > 100
    t = T.make({**REL, "terms": [REL["terms"][0], {"of": "pfRelIso03_all", "max": 2.0}]})
    y = t.fit(ref["mvaIso"], (ref["mvaNoIso"], ref["pfRelIso03_all"]), rng).forward(
        ref["mvaIso"], (ref["mvaNoIso"], ref["pfRelIso03_all"]), rng)
    np.testing.assert_allclose(t.coef, [1.0, -7.2, 0.0], atol=1e-3)
    predicted = np.tanh(t._predicted((ref["mvaNoIso"], ref["pfRelIso03_all"])))
    # to the float32 rounding of the written mvaNoIso (the reference relates the unrounded ones)
    assert np.mean(np.abs(predicted - ref["mvaIso"]) < 1e-5) > 0.99
    assert np.array_equal(t.inverse(y, (ref["mvaNoIso"], ref["pfRelIso03_all"])).astype(np.float32), ref["mvaIso"])


def test_relation_errors_name_the_problem():
    with pytest.raises(ValueError, match="relation reading 'mvaNoIso', which must be a target"):
        T.Pipeline.from_specs([("mvaIso", REL), ("iso", {"kind": "plain"})])
    with pytest.raises(ValueError, match="not a relation itself"):
        T.Pipeline.from_specs([("mvaIso", REL), ("mvaNoIso", {**REL, "terms": [{"of": "iso"}]}), ("iso", {"kind": "plain"})])
    with pytest.raises(ValueError, match="unknown link 'logit'"):
        T.make({**REL, "link": "logit"})
    with pytest.raises(ValueError, match="needs the target it reads"):
        T.make({**REL, "terms": [{"link": "atanh"}]})
    with pytest.raises(KeyError, match="read by a relation"):
        pipe = T.Pipeline.from_specs([("mvaIso", REL), ("mvaNoIso", {"kind": "plain"}), ("iso", {"kind": "plain"})])
        pipe.fit({"mvaIso": np.zeros(10), "mvaNoIso": np.zeros(10)})
    with pytest.raises(ValueError, match="gen column"):
        T.make({**REL, "then": {"kind": "ratio", "gen": "pt"}})

def test_grid_spreads_stored_values_over_their_cells():
    """A 6-bit stored comb (tunepRelPt-like) spread uniformly over the values CMSSW's rounding maps to each
    stored value: rounding gives every value back, none stays on the comb, the cell of 1.0 is [1, 1 + 2^-7)
    and that of 1 - 2^-7 is [1 - 2^-7, 1) (truncated below a power of two)."""
    from flashsim_coffea.nanoaod.storage_precision import reduce_mantissa

    rng = np.random.default_rng(30)
    raw = np.where(rng.random(N) < 0.8, 1.0, 1.0 + rng.normal(0, 0.02, N) * np.where(rng.random(N) < 0.05, 20, 1))
    x = reduce_mantissa(np.clip(raw, 0.2, 3.0), 6).astype(np.float64)
    t = T.make({"kind": "grid", "bits": 6, "then": {"kind": "asinh", "offset": 1.0, "scale": 2**-7}})
    t.fit(x, rng=np.random.default_rng(31))
    spread = t.spread(x, np.random.default_rng(32))
    np.testing.assert_array_equal(reduce_mantissa(spread, 6), x.astype(np.float32))
    assert np.all(spread != x)
    one = spread[x == 1.0]
    assert one.min() >= 1.0 and one.max() < 1 + 2**-7 and abs(np.mean(one < 1 + 2**-8) - 0.5) < 0.02
    below = spread[x == 1 - 2**-7]
    assert below.min() >= 1 - 2**-7 and below.max() < 1.0
    # through the flow space and back: the stored comb itself, not values near it
    back = t.inverse(t.forward(x, rng=np.random.default_rng(33)))
    np.testing.assert_array_equal(back, x)
    assert T.from_dict(json.loads(json.dumps(t.to_dict()))).to_dict() == t.to_dict()
    with pytest.raises(ValueError, match="Generator"):
        t.forward(x)


def test_an_excess_per_a_grid_target_is_bounded_by_its_stored_value():
    """Muon-like ``tkRelIso`` learnt as its excess over ``pfRelIso03_chg / tunepRelPt`` (specs/muon.py), tunepRelPt
    on a 6-bit grid: from any point of the flow space, the inverse puts tunepRelPt on the stored comb and
    tkRelIso x tunepRelPt at or above the charged sum with exactly that value (with the unrounded tunepRelPt in
    the bound, up to 2^-6 below once the file rounds tunepRelPt; 4 % of the flash muons were)."""
    from flashsim_coffea.nanoaod.storage_precision import reduce_mantissa

    rng = np.random.default_rng(34)
    tp = reduce_mantissa(np.where(rng.random(N) < 0.8, 1.0, rng.uniform(0.9, 1.1, N)), 6).astype(np.float64)
    chg = rng.exponential(0.05, N) * (rng.random(N) < 0.6)
    tk = chg / tp + rng.exponential(0.02, N) * (rng.random(N) < 0.2)
    pipe = T.Pipeline.from_specs({"chg": {"kind": "plain"}, "tunepRelPt": {"kind": "grid", "bits": 6, "then": {
        "kind": "quantile"}}, "tkRelIso": {"kind": "excess", "over": "chg", "per": "tunepRelPt", "then": {
            "kind": "spike", "value": 0.0, "then": {"kind": "log", "offset": 1e-4}}}})
    pipe.fit({"chg": chg, "tunepRelPt": tp, "tkRelIso": tk}, rng=rng)
    out = pipe.inverse(rng.normal(0, 1.2, (N, pipe.dims)))
    np.testing.assert_array_equal(reduce_mantissa(out["tunepRelPt"], 6), out["tunepRelPt"])
    assert np.all(out["tkRelIso"] * out["tunepRelPt"] >= out["chg"] * (1 - 1e-12))
    assert 0.05 < np.mean(out["tunepRelPt"] != 1.0) < 0.5


def test_regions_keep_the_steps_of_a_density_at_its_edges():
    """Pileup-jet-like eta: a population whose density steps at detector edges. Region and position round-trip;
    from flow space the region of each value is its dequantised integer, so the share of every region (the
    step) comes back from any draw that keeps the first dimension's rounding, whatever the position's."""
    rng = np.random.default_rng(40)
    edges = [-3.0, -2.7, -2.5, 2.5, 2.7, 3.0]
    share = np.array([0.3, 0.1, 0.02, 0.16, 0.02, 0.1, 0.3])  # per region, low to high
    bounds = np.array([-4.7, *edges, 4.7])
    k = rng.choice(7, N, p=share)
    x = bounds[k] + rng.random(N) * (bounds[k + 1] - bounds[k])
    pipe = T.Pipeline.from_specs({"eta": {"kind": "regions", "edges": edges}}).fit({"eta": x}, rng=rng)
    assert pipe.names == ["eta:region", "eta:position"] and pipe.dims == 2
    y = pipe.forward({"eta": x}, rng=np.random.default_rng(41))
    np.testing.assert_allclose(pipe.inverse(y)["eta"], x, atol=1e-5)
    # a flow that gets the positions wrong (noise) but the regions right keeps every step
    y[:, 1] = np.random.default_rng(42).standard_normal(N)
    back = pipe.inverse(y)["eta"]
    fitted = pipe.columns[0][1]._bounds()  # the outer bounds: the training range, padded
    assert fitted[0] < -4.7 and fitted[-1] > 4.7 and np.array_equal(fitted[1:-1], edges)
    got = np.histogram(back, fitted)[0] / N
    np.testing.assert_allclose(got, np.bincount(k, minlength=7) / N, atol=1e-12)
    with pytest.raises(ValueError, match="ascending"):
        T.make({"kind": "regions", "edges": [1.0, 0.0]})


def test_regions_probit_position_makes_a_flat_position_the_flows_base_normal():
    """A position flat inside its region is a standard normal with ``"position": "probit"`` (the logit's is logistic,
    standard deviation pi/sqrt(3)); both round-trip, the option survives the card, old cards read as logit."""
    rng = np.random.default_rng(60)
    x = rng.uniform(-2.4, 2.4, N)
    for position, sd in (("probit", 1.0), ("logit", np.pi / np.sqrt(3))):
        spec = {"kind": "regions", "edges": [-1.5, 1.5], **({"position": position} if position == "probit" else {})}
        t = T.make(spec).fit(x)
        y = t.forward(x, rng=np.random.default_rng(61))
        np.testing.assert_allclose(t.inverse(y), x, atol=1e-6)
        assert abs(y[:, 1].std() - sd) < 0.03 and abs(y[:, 1].mean()) < 0.03, position
        back = T.from_dict(json.loads(json.dumps(t.to_dict())))
        assert back.position == position and np.allclose(back.inverse(y), x, atol=1e-6)
    assert "position" not in T.make({"kind": "regions", "edges": [0.0]}).to_dict()  # the cards before it
    with pytest.raises(ValueError, match="probit"):
        T.make({"kind": "regions", "edges": [0.0], "position": "tanh"})


def test_circle_makes_a_flat_angle_the_flows_base_density():
    """A flat azimuth (pileup jets') in flow space is a standard normal in the plane, after the pipeline's scaling
    too; the inverse wraps any point back, and an isotropic Gaussian draw, a flow that learnt nothing, gives a
    flat angle with no deficit at the edges (the failure of a flow learning the angle on [-pi, pi))."""
    rng = np.random.default_rng(50)
    phi = rng.uniform(-np.pi, np.pi, N)
    pipe = T.Pipeline.from_specs({"phi": {"kind": "circle"}}).fit({"phi": phi}, rng=rng)
    assert pipe.names == ["phi:x", "phi:y"] and pipe.dims == 2
    y = pipe.forward({"phi": phi}, rng=np.random.default_rng(51))
    np.testing.assert_allclose(pipe.inverse(y)["phi"], phi, atol=1e-5)
    assert np.abs(y.mean(0)).max() < 0.02 and np.abs(y.std(0) - 1).max() < 0.02
    assert abs(np.corrcoef(y.T)[0, 1]) < 0.02
    back = pipe.inverse(np.random.default_rng(52).standard_normal((N, 2)))["phi"]
    assert back.min() >= -np.pi and back.max() < np.pi
    share = np.histogram(back, 12, (-np.pi, np.pi))[0] / N * 12
    # bins of 1667 draws: 2.4 % statistical; the edge share within 3 sigma (0.0022)
    assert np.abs(share - 1).max() < 0.1 and abs(np.mean(np.abs(back) > 2.8) - (1 - 2.8 / np.pi)) < 0.007
    # the radius is noise: another generator, other coordinates, the same angle
    y2 = pipe.forward({"phi": phi}, rng=np.random.default_rng(53))
    assert not np.allclose(y, y2) and np.allclose(pipe.inverse(y2)["phi"], phi, atol=1e-5)
    with pytest.raises(ValueError, match="Generator"):
        T.make({"kind": "circle"}).forward(phi)
    assert T.from_dict(json.loads(json.dumps(pipe.columns[0][1].to_dict()))).kind == "circle"


def test_muon_tunep_keeps_its_order_in_flow_space():
    """``Muon_tunepRelPt`` of real v12 ttbar muons (90 % exactly 1, the rest on both sides of it): the spec's
    transform keeps the values in order, so the flow sees one contiguous peak with its neighbours, not the point
    mass at 1 moved below the lowest value (a spike's noise), next to the tail it then leaks into."""
    import awkward as ak
    import uproot

    from flashsim_coffea.specs.muon import GENUINE, JETFAKE

    x = np.asarray(ak.flatten(uproot.open("../shared/data/nanoaod/nano_tt_v12.root")["Events"]
                              ["Muon_tunepRelPt"].array()), dtype=np.float64)
    assert np.mean(x == 1.0) > 0.8 and np.any(x < 1.0)
    for src in (GENUINE, JETFAKE):
        t = T.make(src.targets["tunepRelPt"]).fit(x, rng=np.random.default_rng(50))
        y = np.asarray(t.forward(x, rng=np.random.default_rng(51)))
        values = np.unique(x)
        for lo, hi in zip(values[:-1], values[1:]):  # every stored value's cell lies below the next one's
            assert y[x == lo].max() < y[x == hi].min(), (src.key, lo, hi)


def test_a_spike_at_the_fitted_maximum_keeps_a_pile_as_a_point_mass():
    """The b scores of real v12 ttbar jets pile at their top stored value (RobustParT 11 %, DeepJet 3 %, PNet 2 %
    at 0.99951): a spike at the fitted maximum sets that pile apart in flow space, so inverse gives it back
    exactly and nothing else maps onto it or above it (a plain logit's clip makes a flow's overshoot a pile)."""
    import awkward as ak
    import uproot

    events = uproot.open("../shared/data/nanoaod/nano_tt_v12.root")["Events"]
    spec = {"kind": "default", "value": -1.0, "then": {"kind": "spike", "value": "max", "side": "high",
                                                       "then": {"kind": "logit", "lo": 0.0, "hi": 1.0}}}
    for name in ("btagRobustParTAK4B", "btagPNetB", "btagDeepFlavB"):
        x = np.asarray(ak.flatten(events[f"Jet_{name}"].array()), dtype=np.float64)
        x = x[x >= 0]  # where the tagger runs
        top = x == x.max()
        assert top.mean() > 0.02, name
        t = T.make(spec).fit(x, rng=np.random.default_rng(60))
        spike = t.then
        assert spike.value == x.max(), name
        y = np.asarray(t.forward(x, rng=np.random.default_rng(61)))
        assert y[~top].max() < spike.threshold < y[top].min(), name
        back = t.inverse(y)
        np.testing.assert_array_equal(back[top], x.max())
        np.testing.assert_allclose(back[~top], x[~top], rtol=1e-6)
        overshoot = t.inverse(np.linspace(y[~top].max(), spike.threshold, 50)[:-1])  # below the threshold
        assert overshoot.max() < x.max(), name


def test_spike_value_min_or_max_is_fitted_and_kept_on_the_card():
    rng = np.random.default_rng(62)
    x = np.clip(rng.normal(0.3, 0.2, N), 0.05, 0.9)  # piled at both clips
    t = T.make({"kind": "spike", "value": "min", "then": {"kind": "spike", "value": "max", "side": "high",
                                                          "then": {"kind": "logit", "lo": 0.0, "hi": 1.0}}})
    t.fit(x, rng=rng)
    assert (t.value, t.then.value) == (0.05, 0.9)
    again = T.from_dict(json.loads(json.dumps(t.to_dict())))
    assert (again.value, again.then.value) == (0.05, 0.9)
    y = t.forward(x, rng=rng)
    assert np.mean(again.inverse(y) == 0.05) == pytest.approx(np.mean(x == 0.05))
    with pytest.raises(ValueError, match="'top'"):
        T.make({"kind": "spike", "value": "top"})
    with pytest.raises(ValueError, match="no finite training values"):
        T.make({"kind": "spike", "value": "max"}).fit(np.array([np.nan]))


def test_quantile_knots_resolve_the_tails_and_spread_point_masses():
    """Knots even in flow space: a flow sample in the tail maps to the data's tail, not across the last
    1/256 of the values (as knots even in probability, the fit before the twentieth set, did); a value many
    quantiles share is spread over its probabilities in training and comes back exactly."""
    rng = np.random.default_rng(3)
    x = np.where(rng.random(50_000) < 0.3, -1.0, rng.lognormal(0.0, 1.5, 50_000))  # a point mass, a long tail
    new = T.make({"kind": "quantile"}).fit(x)
    old = T.make({"kind": "quantile", "knots": 256, "xs": np.quantile(x, np.linspace(0, 1, 257)).tolist()})
    assert old.zmax is None and new.zmax > 4
    qs = [0.99, 0.995, 0.999]
    q_data = np.quantile(x, qs)
    # a unit-Gaussian flow gives the data's tail back
    assert np.allclose(np.quantile(new.inverse(rng.normal(0.0, 1.0, 200_000)), qs), q_data, rtol=0.05)
    # a flow a little wider (z 2.8 at its 99 %) lands in the data's tail there (its 99.7 %: 56 here); with knots even
    # in probability the last 1/256 of the values is one linear interval, up to the maximum (400 here)
    wide = rng.normal(0.0, 1.2, 200_000)
    q_new, q_old = np.quantile(new.inverse(wide), qs), np.quantile(old.inverse(wide), qs)
    assert np.all(q_new < 3 * q_data) and q_old[0] > 3 * q_new[0]
    y = new.forward(x, rng=rng)
    at = x == -1
    assert abs(float(np.mean(y[at] < 0)) - 1.0) < 1e-9 and np.std(y[at]) > 0.3  # spread over the lower 30 %
    assert abs(float(np.std(y)) - 1.0) < 0.02
    assert np.all(new.inverse(y[at]).astype(np.float32) == -1.0)


def test_quantile_knots_survive_one_extreme_value():
    """One value twelve orders above the rest (the reference's fat-jet lsf3 of 3e11 among values up to 28) leaves
    the knots on the quantiles: the tie climb follows the middle 98 % of the values, not the extreme one."""
    rng = np.random.default_rng(3)
    x = np.concatenate([np.full(8000, -1.0), rng.lognormal(-0.05, 0.3, 32000), [3.0e11]])
    t = T.make({"kind": "quantile"}).fit(x)
    xs = np.asarray(t.xs)
    assert abs(xs[len(xs) // 2] - np.median(x)) < 0.01 and xs[-1] == 3.0e11 and np.all(np.diff(xs) > 0)
    assert t.step < 1e-10
    y = t.forward(x[:-1], rng=rng)
    assert abs(np.std(y) - 1.0) < 0.05
    back = t.inverse(y)
    assert np.all(back[x[:-1] == -1.0] == -1.0)
    assert np.allclose(back[x[:-1] > 0], x[:-1][x[:-1] > 0], rtol=0.02)
    # a card fitted before the step was kept reads as before
    old = T.from_dict({k: v for k, v in t.to_dict().items() if k != "step"})
    assert old.step is None and old._step() == T.Quantile.TIE_STEP * (xs[-1] - xs[0])
