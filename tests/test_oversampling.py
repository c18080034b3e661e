"""Oversampled fill vs a brute-force loop; K=1 vs hist's own fill; merging; awkward input."""

from __future__ import annotations

from collections import defaultdict

import awkward as ak
import hist
import numpy as np
import pytest

from flashsim_coffea.oversampling import fill_oversampled

CATS = [0, 11, 13]


def make_hist(growth: bool = False) -> hist.Hist:
    """Regular with flow, Variable without underflow (with overflow), category axis."""
    cat = (
        hist.axis.StrCategory([], growth=True, name="c")
        if growth
        else hist.axis.IntCategory(CATS, name="c")  # has an overflow bin for unknown ids
    )
    return hist.Hist(
        hist.axis.Regular(5, -1.0, 1.0, name="x"),
        hist.axis.Variable([0.0, 0.5, 1.5, 3.0], underflow=False, name="y"),
        cat,
        storage=hist.storage.Weight(),
    )


def random_inputs(rng: np.random.Generator, n_gen: int, k: int, growth: bool = False) -> dict[str, np.ndarray]:
    """K replicas of n_gen gen events, replicas of one event near each other, flow values and NaN."""
    gen = np.repeat(np.arange(n_gen) * 7 + 3, k)  # sparse, non-contiguous ids
    x = np.repeat(rng.normal(0.0, 0.8, n_gen), k) + rng.normal(0.0, 0.2, n_gen * k)
    y = np.repeat(rng.uniform(-0.5, 3.5, n_gen), k) + rng.normal(0.0, 0.3, n_gen * k)  # y<0 is dropped
    x[rng.random(x.size) < 0.02] = np.nan
    y[rng.random(y.size) < 0.02] = np.inf
    if growth:
        c = rng.choice(np.array(["e", "mu", "tau"]), n_gen * k)
    else:
        c = rng.choice(np.array([0, 11, 13, 22]), n_gen * k)  # 22 is unknown -> overflow
    w = np.repeat(rng.normal(0.5, 1.0, n_gen), k) * rng.uniform(0.5, 1.5, n_gen * k)  # incl. negative
    order = rng.permutation(n_gen * k)  # replicas need not be contiguous
    return {"x": x[order], "y": y[order], "c": c[order], "gen_event": gen[order], "weight": w[order]}


def brute_force(h: hist.Hist, inp: dict[str, np.ndarray], k: int) -> np.ndarray:
    """Python loop: bin of each entry from a one-entry hist fill, dict keyed by (gen event, bin)."""
    ref = h.copy()
    if any(ax.traits.growth for ax in ref.axes):
        ref.fill(x=inp["x"], y=inp["y"], c=inp["c"], weight=np.zeros(len(inp["x"])))
    probe = ref.copy()
    per_key: dict[tuple, float] = defaultdict(float)
    for x, y, c, g, w in zip(inp["x"], inp["y"], inp["c"], inp["gen_event"], inp["weight"]):
        probe.reset()
        probe.fill(x=[x], y=[y], c=[c])
        hit = np.argwhere(probe.view(flow=True)["value"] != 0)
        assert len(hit) <= 1
        if len(hit):
            per_key[(int(g), tuple(int(i) for i in hit[0]))] += w / k
    out = ref.view(flow=True).copy()
    value, variance = np.array(out["value"]), np.array(out["variance"])
    for (_, b), s in per_key.items():
        value[b] += s
        variance[b] += s * s
    out["value"], out["variance"] = value, variance
    return out


def assert_views_equal(a: np.ndarray, b: np.ndarray) -> None:
    np.testing.assert_allclose(a["value"], b["value"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a["variance"], b["variance"], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k", [1, 3, 10])
@pytest.mark.parametrize("growth", [False, True])
def test_matches_brute_force(k: int, growth: bool) -> None:
    rng = np.random.default_rng(100 * k + growth)
    inp = random_inputs(rng, 300, k, growth)
    h = make_hist(growth)
    expected = brute_force(h, inp, k)
    out = fill_oversampled(h, x=inp["x"], y=inp["y"], c=inp["c"], gen_event=inp["gen_event"], replicas=k,
                           weight=inp["weight"])
    assert out is h
    got = h.view(flow=True)
    assert got.shape == expected.shape
    assert_views_equal(got, expected)
    # flow bins are filled: x under/overflow and NaN, y overflow and inf, unknown category
    v = got["value"]
    assert np.any(v[0] != 0) and np.any(v[-1] != 0) and np.any(v[:, -1] != 0)
    if not growth:
        assert np.any(v[:, :, -1] != 0)
    # same values as a plain fill with w/K; variance above its per-entry sum of (w/K)^2 when K > 1
    naive = make_hist(growth).fill(x=inp["x"], y=inp["y"], c=inp["c"], weight=inp["weight"] / k)
    naive_view = naive.view(flow=True)
    np.testing.assert_allclose(got["value"], naive_view["value"], rtol=1e-12, atol=1e-12)
    if k == 1:
        np.testing.assert_allclose(got["variance"], naive_view["variance"], rtol=1e-12)
    else:
        assert np.all(got["variance"] >= naive_view["variance"] * (1 - 1e-12))
        assert got["variance"].sum() > 1.05 * naive_view["variance"].sum()


def test_k1_unique_gen_events_equals_hist_fill() -> None:
    rng = np.random.default_rng(1)
    inp = random_inputs(rng, 2000, 1)
    ref = make_hist()
    ref.fill(x=inp["x"], y=inp["y"], c=inp["c"], weight=inp["weight"])
    h = fill_oversampled(make_hist(), x=inp["x"], y=inp["y"], c=inp["c"], gen_event=inp["gen_event"],
                         replicas=1, weight=inp["weight"])
    assert_views_equal(h.view(flow=True), ref.view(flow=True))
    assert ref.view(flow=True)["variance"].sum() > 0


def test_positional_scalar_weight_and_broadcast_category() -> None:
    rng = np.random.default_rng(2)
    inp = random_inputs(rng, 200, 4)
    a = fill_oversampled(make_hist(), inp["x"], inp["y"], 11, gen_event=inp["gen_event"], replicas=4, weight=2.5)
    b = fill_oversampled(make_hist(), x=inp["x"], y=inp["y"], c=np.full(len(inp["x"]), 11),
                         gen_event=inp["gen_event"], replicas=4, weight=np.full(len(inp["x"]), 2.5))
    assert_views_equal(a.view(flow=True), b.view(flow=True))
    assert a.view(flow=True)["value"].sum() == pytest.approx(2.5 * len(inp["x"]) / 4 - 2.5 / 4 * np.sum(inp["y"] < 0))


def test_no_flow_axis_drops_outside_values() -> None:
    h = hist.Hist(hist.axis.Regular(2, 0.0, 1.0, flow=False, name="x"), storage=hist.storage.Weight())
    fill_oversampled(h, x=np.array([-1.0, 0.2, 0.3, 5.0, np.nan]), gen_event=np.array([0, 0, 0, 1, 1]), replicas=2)
    np.testing.assert_allclose(h.view(flow=True)["value"], [1.0, 0.0])
    np.testing.assert_allclose(h.view(flow=True)["variance"], [1.0, 0.0])  # (0.5 + 0.5)^2


@pytest.mark.parametrize("k", [1, 5])
def test_merging_chunks_is_exact(k: int) -> None:
    rng = np.random.default_rng(3 + k)
    inp = random_inputs(rng, 600, k)
    cols = ("x", "y", "c", "gen_event", "weight")
    in_a = inp["gen_event"] < np.median(inp["gen_event"])  # chunks split by gen event, never within one
    a = {c: inp[c][in_a] for c in cols}
    b = {c: inp[c][~in_a] for c in cols}

    def fill(h: hist.Hist, d: dict[str, np.ndarray]) -> hist.Hist:
        return fill_oversampled(h, x=d["x"], y=d["y"], c=d["c"], gen_event=d["gen_event"], replicas=k,
                                weight=d["weight"])

    whole = fill(make_hist(), inp)
    summed = fill(make_hist(), a) + fill(make_hist(), b)
    assert_views_equal(summed.view(flow=True), whole.view(flow=True))
    twice = fill(fill(make_hist(), a), b)  # two fills into one histogram
    assert_views_equal(twice.view(flow=True), whole.view(flow=True))
    if k > 1:  # splitting a gen event's replicas across calls under-estimates the variance
        half = np.arange(len(inp["x"])) % 2 == 0
        split = fill(make_hist(), {c: inp[c][half] for c in cols}) + fill(make_hist(), {c: inp[c][~half] for c in cols})
        assert split.view(flow=True)["variance"].sum() < 0.95 * whole.view(flow=True)["variance"].sum()


def test_merging_with_coffea_accumulate() -> None:
    processor = pytest.importorskip("coffea.processor")
    rng = np.random.default_rng(4)
    parts = []
    whole = make_hist()
    for chunk in range(3):
        inp = random_inputs(rng, 200, 10)
        kw = dict(x=inp["x"], y=inp["y"], c=inp["c"], gen_event=inp["gen_event"], replicas=10, weight=inp["weight"])
        parts.append({"h": fill_oversampled(make_hist(), **kw)})
        inp2 = dict(kw, gen_event=inp["gen_event"] + 10_000_000 * chunk)  # chunk-local ids made distinct
        fill_oversampled(whole, **inp2)
    total = processor.accumulate(parts)["h"]
    assert_views_equal(total.view(flow=True), whole.view(flow=True))


def test_jagged_awkward_input() -> None:
    rng = np.random.default_rng(5)
    n_events, k = 400, 3
    counts = rng.poisson(2.0, n_events)
    pt = ak.unflatten(rng.exponential(40.0, counts.sum()), counts)
    flav = ak.unflatten(rng.choice(np.array([0, 11, 13]), counts.sum()), counts)
    gen = np.arange(n_events) // k  # k consecutive flash events per gen event
    w = rng.normal(1.0, 0.5, n_events)

    def new() -> hist.Hist:
        return hist.Hist(hist.axis.Regular(10, 0, 150, name="pt"), hist.axis.IntCategory(CATS, name="c"),
                         storage=hist.storage.Weight())

    h = fill_oversampled(new(), pt=pt, c=flav, gen_event=gen, replicas=k, weight=w)
    ref = fill_oversampled(new(), pt=ak.to_numpy(ak.flatten(pt)), c=ak.to_numpy(ak.flatten(flav)),
                           gen_event=np.repeat(gen, counts), replicas=k, weight=np.repeat(w, counts))
    assert_views_equal(h.view(flow=True), ref.view(flow=True))
    inp = {"x": ak.to_numpy(ak.flatten(pt)), "gen_event": np.repeat(gen, counts), "weight": np.repeat(w, counts)}
    # brute-force check of the jagged fill on the pt axis alone
    h1 = fill_oversampled(hist.Hist(hist.axis.Regular(10, 0, 150, name="pt"), storage=hist.storage.Weight()),
                          pt=pt, gen_event=gen, replicas=k, weight=w)
    per_key: dict[tuple[int, int], float] = defaultdict(float)
    for x, g, wi in zip(inp["x"], inp["gen_event"], inp["weight"]):
        per_key[(int(g), int(h1.axes[0].index(x)) + 1)] += wi / k
    var = np.zeros(12)
    for (_, b), s in per_key.items():
        var[b] += s * s
    np.testing.assert_allclose(h1.view(flow=True)["variance"], var, rtol=1e-12)

    # one entry per event (awkward, flat) and missing values are skipped
    first = ak.firsts(pt)
    h2 = fill_oversampled(hist.Hist(hist.axis.Regular(10, 0, 150, name="pt"), storage=hist.storage.Weight()),
                          pt=first, gen_event=gen, replicas=k, weight=w)
    has = counts > 0
    h3 = fill_oversampled(hist.Hist(hist.axis.Regular(10, 0, 150, name="pt"), storage=hist.storage.Weight()),
                          pt=ak.to_numpy(first[has]), gen_event=gen[has], replicas=k, weight=w[has])
    assert_views_equal(h2.view(flow=True), h3.view(flow=True))


def test_errors() -> None:
    gen = np.array([0, 0, 1])
    with pytest.raises(TypeError, match="Weight storage"):
        fill_oversampled(hist.Hist.new.Reg(3, 0, 1, name="x").Double(), x=[0.1, 0.2, 0.3], gen_event=gen, replicas=2)
    h = make_hist()
    with pytest.raises(ValueError, match="replicas"):
        fill_oversampled(h, x=[0.1] * 3, y=[1.0] * 3, c=[0] * 3, gen_event=gen, replicas=0)
    with pytest.raises(TypeError, match="missing"):
        fill_oversampled(h, x=[0.1] * 3, y=[1.0] * 3, gen_event=gen, replicas=2)
    with pytest.raises(ValueError):
        fill_oversampled(h, x=[0.1] * 2, y=[1.0] * 3, c=[0] * 3, gen_event=gen, replicas=2)
    with pytest.raises(TypeError, match="integers"):
        fill_oversampled(h, x=[0.1] * 3, y=[1.0] * 3, c=[0] * 3, gen_event=gen.astype(float), replicas=2)
    assert h.view(flow=True)["value"].sum() == 0


def test_growing_regular_axis_matches_hist() -> None:
    rng = np.random.default_rng(6)
    x = rng.normal(0.0, 3.0, 500)
    w = rng.normal(1.0, 1.0, 500)

    def new() -> hist.Hist:
        return hist.Hist(hist.axis.Regular(4, -1.0, 1.0, growth=True, name="x"), storage=hist.storage.Weight())

    h = fill_oversampled(new(), x=x, gen_event=np.arange(500), replicas=1, weight=w)
    ref = new().fill(x=x, weight=w)
    assert h.axes[0] == ref.axes[0] and h.axes[0].size > 4
    assert_views_equal(h.view(flow=True), ref.view(flow=True))
