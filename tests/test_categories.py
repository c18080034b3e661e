"""Categorical targets drawn by a classifier before the flow (``sim/categories.py``): class shares calibrated,
the engine's flavours of a source with categories come from its classifier and its flow is given them, model
sets that drew them after the flow are refused, as a folder without the classifier."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import awkward as ak
import numpy as np
import pytest
import torch

from flashsim_coffea.sim import cards, categories
from flashsim_coffea.sim.cards import DEFAULT_MODELS
from flashsim_coffea.sim.engine import FlashSim, draw, load_source
from flashsim_coffea.sim.transforms import Pipeline
from flashsim_coffea.specs import jet
from flashsim_coffea.train.count import train_count


def test_drawn_shares_follow_the_conditional_probabilities():
    """Three classes whose probabilities move with x (softmax of 0, 1.5 x, -x): the shares drawn by the trained
    classifier in three x bins match the true ones within 0.02 (20k rows a bin)."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(60_000, 1))
    logits = np.stack([np.zeros(len(x)), 1.5 * x[:, 0], -x[:, 0]], axis=1)
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = (rng.random(len(x))[:, None] > np.cumsum(p, axis=1)).sum(1)
    classes, index = categories.encode({"hadronFlavour": np.array([0, 4, 5])[y]}, ["hadronFlavour"])
    assert classes[:, 0].tolist() == [0, 4, 5] and (index == y).all()
    model, _ = train_count(x, index, seed=1, quantile=1.0, progress=False, epochs=15)
    drawn = categories.decode(classes, categories.pick(model, x, rng.normal(size=len(x))), ["hadronFlavour"])
    for lo, hi in ((-9, -0.5), (-0.5, 0.5), (0.5, 9)):
        inside = (x[:, 0] >= lo) & (x[:, 0] < hi)
        for k, value in enumerate((0, 4, 5)):
            assert abs((drawn["hadronFlavour"][inside] == value).mean() - p[inside, k].mean()) < 0.02


def test_draw_weights_move_the_shares_to_the_weighted_ones():
    """Class 1 in 30 % of the rows, weighted 3x (the pileup jets' inverse-probability weights, train/apart.py):
    the classifier's share of it is the weighted one, 0.9 / 1.6 = 0.5625, not 0.3."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(20_000, 1))
    y = (rng.random(len(x)) < 0.3).astype(np.int64)
    share, val = {}, {}
    for name, w in (("plain", None), ("weighted", np.where(y == 1, 3.0, 1.0))):
        model, h = train_count(x, y, seed=1, quantile=1.0, progress=False, epochs=10, weights=w)
        share[name] = float(np.mean(categories.pick(model, x, rng.normal(size=len(x))) == 1))
        val[name] = min(h["val_loss"])
    assert abs(share["plain"] - 0.3) < 0.02 and abs(share["weighted"] - 0.5625) < 0.02
    # the validation loss is that of the weighted rows (entropy of 0.5625: 0.685; unweighted rows at the
    # weighted shares 0.751, at their own 0.611): early stopping watches what the batches learn
    assert abs(val["weighted"] - 0.685) < 0.02 and abs(val["plain"] - 0.611) < 0.02


def _fixed_class(m, k: int) -> None:
    """Make a categories classifier certain of class ``k`` whatever its input."""
    last = m.categories.mlp[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(-50.0)
        last.bias[k] = 50.0


def test_a_sparse_sources_region_classifier_gets_its_steps_and_its_shares(tmp_path):
    """600 objects (the apart fake electrons of 100k events: 930) in three eta regions, 60 / 30 / 10 % with the
    second region's share rising with x: the categories classifier gets a budget of MIN_CATEGORY_STEPS steps
    (40 epochs of one batch gave 40; early stopping ends it before) and draws the regions at their shares, in
    each half of x."""
    from flashsim_coffea.sim.count import build_count
    from flashsim_coffea.specs.source import Source
    from flashsim_coffea.train.sources import MIN_CATEGORY_STEPS, _train_categories

    rng = np.random.default_rng(8)
    n = 600
    x = rng.normal(size=n)
    p1 = 0.3 + 0.2 * np.tanh(x)
    u = rng.random(n)
    region = np.where(u < 0.1, 2, np.where(u < 0.1 + p1, 1, 0))
    eta = np.array([-0.5, 1.5, 2.5])[region] + rng.uniform(-0.4, 0.4, n)
    src = Source("Electron", "toy", candidates=None, conditioning=["x"],
                 targets={"eta": {"kind": "regions", "edges": [1.0, 2.0]}}, categories=("eta:region",))
    pipe = Pipeline.from_specs(src.flow_targets).fit({"eta": eta}, rng=np.random.default_rng(0))
    classes, index = _train_categories(src, {"cond_x": x, "eta": eta}, pipe, 3, tmp_path, {"source": src.key}, False)
    assert classes[:, 0].tolist() == [0, 1, 2] and np.array_equal(index, region)
    card, state = cards.load(tmp_path / "categories.json")
    assert 200 < card["history"]["steps"] <= MIN_CATEGORY_STEPS + 4
    net = build_count(card["network"])
    net.load_state_dict(state)
    for half in (x < 0, x >= 0):
        drawn = categories.pick(net, x[half, None], rng.normal(size=half.sum()))
        want = [np.mean(1 - p1[half] - 0.1), np.mean(p1[half]), 0.1]
        np.testing.assert_allclose(np.bincount(drawn, minlength=3) / half.sum(), want, atol=0.06)


def test_a_point_mass_drawn_first_has_its_share_and_its_value(tmp_path):
    """A jet-like ``chHEF``: a point mass at 0 (share 0.2 + 0.15 tanh x, the jets without charged hadrons) and one at
    1 (5 %) beside a continuous part. As the category ``chHEF:point`` its membership is a class of the categories
    classifier, drawn at its share in each half of x; placed after the flow, the drawn points sit exactly on their
    value and the rows drawn off every point leave it even where the flow decoded one (to the continuous part's end
    next to it)."""
    from flashsim_coffea.sim.count import build_count
    from flashsim_coffea.specs.source import Source
    from flashsim_coffea.train.sources import _train_categories

    rng = np.random.default_rng(9)
    n = 20_000
    x = rng.normal(size=n)
    p0 = 0.2 + 0.15 * np.tanh(x)
    u = rng.random(n)
    point = np.where(u < p0, 1, np.where(u < p0 + 0.05, 2, 0))
    chhef = np.where(point == 1, 0.0, np.where(point == 2, 1.0, rng.uniform(0.05, 0.95, n)))
    spec = {"kind": "spike", "value": 0.0, "then": {"kind": "spike", "value": 1.0, "side": "high",
                                                     "then": {"kind": "logit"}}}
    src = Source("Jet", "toy", candidates=None, conditioning=["x"], targets={"chHEF": spec},
                 categories=("chHEF:point",))
    assert list(src.flow_targets) == ["chHEF"]  # the flow still learns the value off the points
    pipe = Pipeline.from_specs(src.flow_targets).fit({"chHEF": chhef}, rng=rng)
    classes, index = _train_categories(src, {"cond_x": x, "chHEF": chhef}, pipe, 3, tmp_path, {"source": src.key},
                                       False)
    assert classes[:, 0].tolist() == [0, 1, 2] and np.array_equal(index, point)
    card, state = cards.load(tmp_path / "categories.json")
    net = build_count(card["network"])
    net.load_state_dict(state)
    for half in (x < 0, x >= 0):
        drawn = categories.pick(net, x[half, None], rng.normal(size=half.sum()))
        want = [np.mean(0.95 - p0[half]), np.mean(p0[half]), 0.05]
        np.testing.assert_allclose(np.bincount(drawn, minlength=3) / half.sum(), want, atol=0.02)
    flow = np.array([0.0, 0.0, 0.5, 1.0, 0.3, 1.0])  # what a flow decoded, and the classes drawn:
    k = np.array([1, 0, 1, 0, 2, 2])
    regions, points, rest = categories.split({"chHEF:point": k, "other": k})
    assert (regions, list(points), list(rest)) == ({}, ["chHEF"], ["other"])
    placed = pipe.inverse(pipe.forward({"chHEF": flow}, rng=rng), points=points)["chHEF"]
    np.testing.assert_allclose(pipe.inverse(pipe.forward({"chHEF": flow}, rng=rng))["chHEF"], flow, atol=1e-6)
    assert placed[[0, 2]].tolist() == [0.0, 0.0] and placed[[4, 5]].tolist() == [1.0, 1.0]
    assert 0.04 < placed[1] < 0.06 and 0.94 < placed[3] < 0.96  # off the points: the continuous part's ends


def test_a_tie_drawn_first_holds_an_excess_on_its_placed_bound():
    """A muon-like tracker isolation equal to its charged PF isolation for 80 % (an ``excess`` with a spike at 0, the
    tie) whose bound is itself a spike target at 0: both point masses drawn as categories. The labels are the tie and
    the zero; the pipeline's inverse given them puts every drawn tie exactly on the bound after the bound's own zero
    was placed (the bound read after placing), every row drawn off the tie above it, and none below."""
    rng = np.random.default_rng(4)
    n = 4000
    chg = np.where(rng.random(n) < 0.5, 0.0, rng.exponential(0.05, n))
    tie = rng.random(n) < 0.8
    iso = chg + np.where(tie, 0.0, rng.exponential(0.02, n))
    targets = {"chg": {"kind": "spike", "value": 0.0, "then": {"kind": "log", "offset": 1e-3}},
               "iso": {"kind": "excess", "over": "chg", "then": {"kind": "spike", "value": 0.0,
                                                                   "then": {"kind": "log", "offset": 1e-3}}}}
    pipe = Pipeline.from_specs(targets).fit({"chg": chg, "iso": iso}, rng=rng)
    cols = categories.labels({"chg": chg, "iso": iso}, ["chg:point", "iso:point"], pipe)
    assert np.array_equal(cols["chg:point"], (chg == 0).astype(int)) and np.array_equal(cols["iso:point"], tie)
    y = pipe.forward({"chg": chg, "iso": iso}, rng=rng) + rng.normal(0, 0.3, (n, 2)).astype(np.float32)  # a blurred flow
    plain = pipe.inverse(y)
    assert np.sum((plain["iso"] == plain["chg"]) != tie) > 100 and np.sum((plain["chg"] == 0) != (chg == 0)) > 100
    _, points, _ = categories.split(cols)
    out = pipe.inverse(y, points={k: points[k] for k in ("chg", "iso")})
    assert np.array_equal(out["chg"] == 0, chg == 0)  # the zero where drawn, off it elsewhere
    assert np.array_equal(out["iso"] == out["chg"], tie)  # the tie where drawn, on the placed bound
    assert np.all(out["iso"] >= out["chg"])


def test_a_point_category_needs_a_spike_without_gen_columns():
    from flashsim_coffea.specs.source import Source

    for spec in ({"kind": "logit"}, {"kind": "spike", "value": 0.0, "then": {"kind": "ratio", "gen": "pt"}},
                 {"kind": "spike", "value": "max"}):
        with pytest.raises(ValueError, match="point mass of a spike target"):
            Source("Jet", "toy", candidates=None, conditioning=["x"], targets={"f": spec}, categories=("f:point",))


def test_the_engine_takes_a_sources_categories_from_its_classifier(tiny_models, tt_gen):
    m = load_source(tiny_models, jet.PILEUP)
    assert m.source.categories == ("hadronFlavour", "partonFlavour", "eta:region") and m.categories is not None
    assert "hadronFlavour" not in m.source.constants and m.noise_dim == m.flow.dim + 1
    assert m.cards["flow"]["categories"] == ["hadronFlavour", "partonFlavour", "eta:region"]
    assert "partonFlavour" not in m.cards["flow"]["targets"]  # the flow does not learn them
    k = int(np.flatnonzero((m.classes[:, 0] == 4) & (m.classes[:, 1] == 21))[0])  # a c hadron, a gluon parton
    _fixed_class(m, k)
    jets = FlashSim({"Jet_pileup": m}, "midpoint", 2).simulate(tt_gen[:50], seed=2).Jet
    assert len(ak.flatten(jets.pt)) > 50
    assert set(ak.flatten(jets.hadronFlavour).tolist()) == {4} and set(ak.flatten(jets.partonFlavour).tolist()) == {21}


def test_a_drawn_region_holds_every_jet_of_its_class(tiny_models, tt_gen):
    """The pileup jets' calorimeter region of eta is a category: given one class (flavour and region), every
    flash jet lies in that region of |eta| (both sides), its position inside still the flow's; the region is
    no field of the output."""
    m = load_source(tiny_models, jet.PILEUP)
    edges = np.asarray(jet.PILEUP.targets["eta"]["edges"])
    regions = m.classes[:, 2]
    assert set(regions.tolist()) == set(range(len(edges) + 1))  # every region seen in the 400 ttbar events
    for r in (5, 8):  # |eta| < 1.3, 2.6 < eta < 2.7
        k = int(np.flatnonzero((m.classes[:, 0] == 0) & (m.classes[:, 1] == 0) & (regions == r))[0])
        _fixed_class(m, k)
        jets = FlashSim({"Jet_pileup": m}, "midpoint", 2).simulate(tt_gen[:50], seed=2).Jet
        eta = np.asarray(ak.flatten(jets.eta), np.float64)
        assert len(eta) > 30 and "eta:region" not in jets.fields
        assert np.all((eta >= edges[r - 1] - 1e-3) & (eta < edges[r] + 1e-3)), r  # stored precision
        assert np.ptp(eta) > 0.5 * (edges[r] - edges[r - 1])  # spread inside the region


def _pt_given_class(models, tt_gen, hadron: int, parton: int) -> tuple[np.ndarray, np.ndarray]:
    m = load_source(models, jet.PILEUP)
    _fixed_class(m, int(np.flatnonzero((m.classes[:, 0] == hadron) & (m.classes[:, 1] == parton))[0]))
    jets = FlashSim({"Jet_pileup": m}, "midpoint", 2).simulate(tt_gen[:50], seed=2).Jet
    return np.asarray(ak.flatten(jets.pt)), np.asarray(ak.flatten(jets.hadronFlavour))


def test_the_flow_is_given_the_drawn_combination(tiny_models, tt_gen):
    m = load_source(tiny_models, jet.PILEUP)
    assert m.cards["flow"]["categories_first"] and m.cards["categories"]["first"]
    assert m.flow.context_dim == len(m.source.conditioning) + len(m.classes)
    (pt_c, had_c), (pt_g, had_g) = _pt_given_class(tiny_models, tt_gen, 4, 21), _pt_given_class(tiny_models, tt_gen, 0, 21)
    assert set(had_c.tolist()) == {4} and set(had_g.tolist()) == {0}
    # same events, seed and noise: the jets differ only through the class the flow was given
    assert len(pt_c) == len(pt_g) and not np.allclose(pt_c, pt_g)


def test_the_pileup_classifier_reads_only_the_pileup(tiny_models, tt_gen):
    m = load_source(tiny_models, jet.PILEUP)
    assert m.cards["categories"]["inputs"] == ["nTrueInt", "nPU"] and m.categories.config["input_dim"] == 2
    assert [m.source.conditioning[i] for i in m.category_columns] == ["nTrueInt", "nPU"]
    x = np.arange(2 * len(m.source.conditioning), dtype=np.float32).reshape(2, -1)
    assert m.category_inputs(x).tolist() == [[0.0, 1.0], [7.0, 8.0]]
    # the draw reads those columns alone: other conditioning moves the flow, not the combination drawn
    noise = np.random.default_rng(0).standard_normal((200, m.noise_dim)).astype(np.float32)
    base = np.tile(np.array([[40.0, 40.0, 5, 2, 300.0, 8, 40.0]], np.float32), (200, 1))
    busy = base.copy()
    busy[:, 2:] *= 3
    a, b = (draw(m, c, noise, {}, steps=2) for c in (base, busy))
    assert np.array_equal(a["partonFlavour"], b["partonFlavour"]) and not np.allclose(a["pt"], b["pt"])


def test_a_categories_card_with_inputs_outside_the_conditioning_is_refused(tiny_models, tmp_path):
    d = tmp_path / "models"
    shutil.copytree(tiny_models, d)
    card = d / "Jet_pileup" / "categories.json"
    c = json.loads(card.read_text())
    card.write_text(json.dumps({**c, "inputs": ["nTrueInt", "rho"]}))
    with pytest.raises(cards.ModelCardError, match=r"categories\.json: inputs \['nTrueInt', 'rho'\] are not 2 of"):
        load_source(d, jet.PILEUP)


def test_categories_conditioning_names_conditioning_features():
    with pytest.raises(ValueError, match="categories_conditioning names \\['rho'\\]"):
        replace(jet.PILEUP, categories_conditioning=("nPU", "rho"))
    with pytest.raises(ValueError, match="categories_conditioning without categories"):
        replace(jet.PILEUP, categories=(), categories_conditioning=("nPU",))


def test_a_card_with_the_categories_after_the_flow_is_refused(tiny_models, tmp_path):
    d = tmp_path / "models"
    shutil.copytree(tiny_models, d)
    card = d / "Jet_pileup" / "flow.json"
    c = json.loads(card.read_text())
    del c["categories_first"]  # as the sets before the twentieth wrote it
    card.write_text(json.dumps(c))
    with pytest.raises(cards.ModelCardError, match=r"Jet_pileup/flow\.json: trained with its categories .* retrain"):
        load_source(d, jet.PILEUP)
    assert load_source(tiny_models, jet.PILEUP).categories_first


def test_a_flow_trained_with_categories_needs_its_classifier(tiny_models, tmp_path):
    shutil.copytree(tiny_models / "Jet_pileup", tmp_path / "Jet_pileup")
    (tmp_path / "Jet_pileup" / "categories.json").unlink()
    with pytest.raises(cards.ModelCardError, match=r"flow.json: trained with a categories model for \['hadronFlavour', "
                                                   r"'partonFlavour', 'eta:region'\], which .*categories.json"):
        load_source(tmp_path, jet.PILEUP)
    card = json.loads((tiny_models / "Jet_pileup" / "categories.json").read_text())
    (tmp_path / "Jet_pileup" / "categories.json").write_text(json.dumps({**card, "classes": card["classes"][:-1]}))
    shutil.copy(tiny_models / "Jet_pileup" / "categories.safetensors", tmp_path / "Jet_pileup")
    with pytest.raises(cards.ModelCardError, match="its fields and classes do not fit"):
        load_source(tmp_path, jet.PILEUP)


def test_no_rows_draw_no_combinations(tiny_models):
    for models in (tiny_models, DEFAULT_MODELS):  # the tiny set and the shipped pileup jets (278 combinations)
        m = load_source(models, jet.PILEUP)
        width = len(m.source.conditioning)
        out = draw(m, np.zeros((0, width), np.float32), np.zeros((0, m.noise_dim), np.float32), {}, steps=2)
        assert set(out) >= {"hadronFlavour", "partonFlavour", "pt"}
        assert all(len(v) == 0 for v in out.values())
