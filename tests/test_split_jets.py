"""Split jets (``Jet_split``): the reco jets no GenJet claims that sit beside a GenJet; bhadron jets
(``Jet_bhadron``): those left next to a b hadron outside every GenJet.

On a real CMS ttbar file and a reference ttbar sample, the extraction partitions every event's jets
into genuine, split, bhadron and pileup ones; a pileup model is refused beside a split model it was
not trained without.
"""

from __future__ import annotations

import json
import shutil

import awkward as ak
import numpy as np
import pytest

from flashsim_coffea.nanoaod.angles import delta_phi
from flashsim_coffea.sim import cards
from flashsim_coffea.sim.engine import FlashSim, load_source
from flashsim_coffea.specs import jet
from flashsim_coffea.train import extract


@pytest.fixture(scope="module")
def events(v12_file):
    return extract.read([v12_file], entry_stop=200)


@pytest.mark.parametrize("sample", ["v12", "reference"])
def test_every_jet_is_genuine_split_bhadron_or_pileup_once(sample, events, tt_sample):
    events = events if sample == "v12" else extract.read([tt_sample])
    shared: dict = {}
    n = {s.name: extract.tables(events, s, shared) for s in jet.SOURCES}
    n = {k: int(t["label"].sum() if "label" in t else t["count"].sum()) for k, t in n.items()}
    assert sum(n.values()) == int(ak.sum(ak.num(events.Jet)))
    assert n["split"] > 20 and n["pileup"] > 50  # both kinds are there to take
    if sample == "reference":  # 400 ttbar events: 56 b hadrons outside every GenJet, 2 of them with a jet
        assert n["bhadron"] >= 1
    # the jets no GenJet claims (genJetIdx -1 in the file, as the genuine matching by link sees them)
    assert n["split"] + n["bhadron"] + n["pileup"] == int(ak.sum(events.Jet.genJetIdx < 0))


def test_a_bhadron_jet_holds_its_b_hadron_outside_every_genjet(tt_sample):
    events = extract.read([tt_sample])
    shared: dict = {}
    split = extract._fake_assignment(events, jet.SPLIT, extract.claims(events, "Jet", shared), shared)[1]
    hadrons, reco = extract._fake_assignment(events, jet.BHADRON, extract.claims(events, "Jet", shared), shared)
    took = reco >= 0
    jets = events.Jet[ak.where(took, reco, 0)][took]
    h = hadrons[took]
    assert len(ak.flatten(h.pt)) >= 1
    dr = np.hypot(ak.to_numpy(ak.flatten(jets.eta - h.eta)), delta_phi(ak.to_numpy(ak.flatten(jets.phi)),
                                                                       ak.to_numpy(ak.flatten(h.phi))))
    assert dr.max() < jet.BHADRON.match_dr
    assert set(ak.flatten(jets.hadronFlavour).tolist()) == {5}
    assert not ak.any(reco[took][:, :, None] == split[:, None, :])  # no jet taken twice: the split jets go first
    # every candidate is a b hadron (meson 5xx, baryon 5xxx) outside every GenJet
    gh = ak.cartesian({"h": hadrons, "g": events.GenJet}, axis=1, nested=True)
    dr_gen = ak.fill_none(ak.min(np.hypot(gh.h.eta - gh.g.eta, delta_phi(gh.h.phi, gh.g.phi)), axis=2), 9.0)
    a = ak.flatten(abs(hadrons.pdgId))
    assert ak.min(dr_gen) > 0.4 and ak.all((a // 100 % 10 == 5) | (a // 1000 == 5))
    # the flash bhadron jet's partonFlavour (copied from the candidate): its b quark's, +5 in a B- or a Lambda_b
    pdg, pf = ak.to_numpy(ak.flatten(hadrons.pdgId)), ak.to_numpy(ak.flatten(hadrons.partonFlavour))
    assert np.array_equal(pf, np.where((pdg == -521) | (pdg == -511) | (pdg == -531) | (pdg == 5122), 5,
                                       np.where(np.isin(pdg, [521, 511, 531, -5122]), -5, pf)))
    assert set(pf.tolist()) <= {-5, 5} and jet.BHADRON.copy == {"partonFlavour": "partonFlavour"}


def test_a_split_jet_sits_within_0p8_of_its_genjet(events):
    t = extract.tables(events, jet.SPLIT)
    p = t["pairs"]
    dr = np.hypot(p["eta"] - p["gen_eta"], delta_phi(p["phi"], p["gen_phi"]))
    assert dr.max() < jet.SPLIT.match_dr
    assert np.median(dr) > 0.3  # beside the GenJet, not on it: the GenJet's own jet is the genuine one
    # one per GenJet: a candidate has one label, and the rows are the labelled candidates
    assert len(dr) == int(t["label"].sum())


def test_a_pileup_model_and_the_split_model_load_only_as_trained_together(tmp_path):
    models = tmp_path / "models"
    shutil.copytree(cards.DEFAULT_MODELS, models)
    count = models / "Jet_pileup" / "count.json"
    card = json.loads(count.read_text())
    assert card["excludes"] == ["Jet_split", "Jet_bhadron"]
    assert {"Jet_split", "Jet_bhadron"} <= set(FlashSim.load(models, collections=["Jet"]).models)
    # a pileup model from before the split and bhadron jets (the jets beside the GenJets among its own)
    count.write_text(json.dumps({**card, "excludes": []}))
    with pytest.raises(cards.ModelCardError,
                       match=r"Jet_pileup was trained with the objects of \['Jet_bhadron', 'Jet_split'\]"):
        FlashSim.load(models, collections=["Jet"])
    # ... runs, without those models
    index = json.loads((models / cards.INDEX).read_text())
    drop = ("Jet_split", "Jet_bhadron")
    steps = {k: n for k, n in index.get("source_steps", {}).items() if k not in drop}
    (models / cards.INDEX).write_text(json.dumps({**index, "sources": [k for k in index["sources"] if k not in drop],
                                                  "source_steps": steps}))
    sim = FlashSim.load(models, collections=["Jet"])
    assert "Jet_split" not in sim.models and sim.models["Jet_pileup"].source.apart_from == ()
    # the shipped pileup model without the models it was trained beside: their jets would be lost
    count.write_text(json.dumps(card))
    with pytest.raises(cards.ModelCardError, match=r"trained without the objects of \['Jet_bhadron', 'Jet_split'\]"):
        FlashSim.load(models, collections=["Jet"])


def _free_jet_dr(events: ak.Array) -> np.ndarray:
    """ΔR from every jet without a GenJet to the nearest GenJet of its event."""
    jets, genjets = events.Jet[events.Jet.genJetIdx < 0], events.GenJet
    pair = ak.cartesian({"j": jets, "g": genjets}, axis=1, nested=True)
    dr = np.hypot(pair.j.eta - pair.g.eta, delta_phi(pair.j.phi, pair.g.phi))
    return ak.to_numpy(ak.flatten(ak.fill_none(ak.min(dr, axis=2), 9.0)))


def test_flash_pileup_jets_keep_apart_from_the_genjets_as_their_training_jets_do(tt_sample):
    from dataclasses import replace

    gen = extract.read([tt_sample], entry_stop=300)
    pileup = load_source(cards.DEFAULT_MODELS, jet.PILEUP)
    # its card excludes the split and bhadron jets
    assert pileup.source.apart_from == (("GenJet", jet.SPLIT.match_dr), ("GenBHadronOutside", 0.4))
    apart = FlashSim({"Jet_pileup": pileup}, "midpoint", 4).simulate(gen, seed=3, replicas=2)
    anywhere = FlashSim({"Jet_pileup": replace(pileup, source=replace(pileup.source, apart_from=()))},
                        "midpoint", 4).simulate(gen, seed=3, replicas=2)
    gen2 = gen[np.repeat(np.arange(len(gen)), 2)]
    dr_apart = _free_jet_dr(ak.zip({"Jet": apart.Jet, "GenJet": gen2.GenJet}, depth_limit=1))
    dr_anywhere = _free_jet_dr(ak.zip({"Jet": anywhere.Jet, "GenJet": gen2.GenJet}, depth_limit=1))
    assert len(dr_apart) > 1000 and dr_apart.min() > jet.SPLIT.match_dr
    assert (dr_anywhere < jet.SPLIT.match_dr).mean() > 0.05  # without the cut a tenth would land beside one
    assert abs(len(dr_apart) - len(dr_anywhere)) < 0.02 * len(dr_anywhere)  # drawn again, not dropped


def test_a_fake_source_too_sparse_to_train_leaves_its_objects_to_no_model(tiny_models):
    """400 ttbar events hold 2 bhadron jets (fewer than the fixture's 5): the source is skipped, and the
    pileup model, trained without those 2 jets, loads without it."""
    card = json.loads((tiny_models / "Jet_pileup" / "count.json").read_text())
    assert not (tiny_models / "Jet_bhadron").exists()
    assert card["excludes"] == ["Jet_split"] and card["left_out"] == ["Jet_bhadron"]
    assert "Jet_pileup" in FlashSim.load(tiny_models, collections=["Jet"]).models


def test_shipped_pileup_jets_have_no_point_mass_at_plus_minus_pi_or_15_gev(tt_gen):
    """The shipped pileup flow's phi beyond +-pi is wrapped (transform ``angle``), not clipped: clipped, 3.5 % of
    its zh_llbb jets sat at exactly +-pi. No flash jet of 400 ttbar events x 3 replicas lies within 1e-4 of it,
    where a flat density puts 0.003 % of them. Its pT below 15 GeV is drawn again, not clipped to 15 GeV (where
    the clip had put 0.6 % of all zh_llbb jets; FullSim 0.04 %)."""
    import awkward as ak
    import numpy as np

    from flashsim_coffea.sim.cards import DEFAULT_MODELS
    from flashsim_coffea.sim.engine import FlashSim

    jets = FlashSim.load(DEFAULT_MODELS, collections=["Jet"]).simulate(tt_gen, seed=2, replicas=3).Jet
    phi = ak.to_numpy(ak.flatten(jets.phi)).astype(np.float64)
    assert len(phi) > 5000 and np.all(np.abs(phi) <= np.pi)
    assert np.sum(np.abs(phi) > np.pi - 1e-4) <= 1
    pt = ak.to_numpy(ak.flatten(jets.pt)).astype(np.float64)
    assert pt.min() >= 15.0 and np.mean(pt == 15.0) < 0.001
