"""Inverse-probability weights of the objects that lie apart from candidates (flashsim_coffea.train.apart)."""

import awkward as ak
import numpy as np

from flashsim_coffea.nanoaod import derived
from flashsim_coffea.sim import candidates, features
from flashsim_coffea.specs import jet
from flashsim_coffea.train import apart
from flashsim_coffea.train.extract import APART_WEIGHT, read, tables


def test_weights_undo_an_exclusion_that_depends_on_eta():
    """Objects flat in eta and phi, those within 0.8 of a candidate dropped, candidates crowded at |eta| < 1.5:
    the survivors' eta shares fall centrally; weighted by 1/a they come back to the flat shares."""
    rng = np.random.default_rng(7)
    n_ev = 4000
    n_obj, n_cand = rng.poisson(6, n_ev), rng.poisson(4, n_ev)
    eta, phi = rng.uniform(-4, 4, n_obj.sum()), rng.uniform(-np.pi, np.pi, n_obj.sum())
    c_eta, c_phi = rng.normal(0, 0.8, n_cand.sum()), rng.uniform(-np.pi, np.pi, n_cand.sum())
    off, c_off = derived.offsets(n_obj), derived.offsets(n_cand)
    near = features.nearest_dr(off, eta, phi, c_off, c_eta, c_phi)
    keep = near > 0.8
    kept = derived.offsets(np.bincount(np.repeat(np.arange(n_ev), n_obj)[keep], minlength=n_ev))
    w = apart.apart_weights(kept, eta[keep], [(c_off, c_eta, c_phi, 0.8)])
    central = np.abs(eta[keep]) < 1.0
    flat_share = 0.25  # |eta| < 1 of a flat density on [-4, 4]
    plain = central.mean()
    weighted = w[central].sum() / w.sum()
    assert plain < flat_share - 0.04  # the exclusion took the central objects
    assert abs(weighted - flat_share) < 0.01
    assert abs(w.mean() * keep.mean() - 1) < 0.03  # the weights restore the dropped objects' count too


def test_pileup_tables_carry_the_weights_of_their_jets(v12_file):
    """On a real CMS ttbar file (its 200 events): one weight per training pileup jet, 1 where no GenJet (or outside b hadron)
    shares its eta band, and 1 / the azimuth fraction apart from the event's GenJets for a jet beside them."""
    ev = read([v12_file])
    t = tables(ev, jet.PILEUP)
    w, eta = t["pairs"][APART_WEIGHT], t["pairs"]["eta"]
    assert len(w) == t["count"].sum() > 100
    assert np.all((w >= 1) & (w <= 1 / apart.MIN_FRACTION))
    genjets = candidates.select(ev, "GenJet")
    off = derived.offsets(t["count"])
    ev_of = np.repeat(np.arange(len(t["count"])), t["count"])
    g_eta = ak.to_list(genjets.eta)
    bhad = ak.to_list(candidates.select(ev, "GenBHadronOutside").eta)
    lone = np.array([min([abs(e - g) for g in g_eta[i]] + [9.0]) > 0.8
                     and min([abs(e - b) for b in bhad[i]] + [9.0]) > 0.4 for e, i in zip(eta, ev_of)])
    assert lone.sum() > 40 and np.all(w[lone] == 1.0)
    assert np.mean(w[~lone] > 1.0) > 0.95
    g_off = derived.offsets(ak.to_numpy(ak.num(genjets, axis=1)))
    only_genjets = apart.away_fraction(off, eta, [(g_off, ak.to_numpy(ak.flatten(genjets.eta)),
                                                   ak.to_numpy(ak.flatten(genjets.phi)), 0.8)])
    # the b hadrons outside the GenJets exclude more of the circle, never less
    assert np.all(w >= 1 / np.maximum(only_genjets, apart.MIN_FRACTION) - 1e-12) and np.median(w[~lone]) > 1.1


def test_a_pileup_training_records_its_weights_in_both_cards(tiny_models):
    """The pileup source's flow and its flavour classifier were drawn with the weights: both cards say so; a
    source without an exclusion (the genuine jets) does not."""
    import json

    cards = {kind: json.loads((tiny_models / "Jet_pileup" / f"{kind}.json").read_text()) for kind in ("flow", "categories")}
    assert all(c["training"].get("weighted_apart") is True for c in cards.values())
    genjet = json.loads((tiny_models / "Jet_genjet" / "flow.json").read_text())
    assert "weighted_apart" not in genjet["training"]


def test_fakes_apart_from_the_jets_are_the_count_sources_objects(tt_sample):
    """``Muon_uefake`` and ``Electron_uefake`` train on the reco objects without a gen link lying farther than 0.4
    from every GenJet above 15 GeV (the jet-fake sources' candidates), each with its apart weight."""
    from flashsim_coffea.nanoaod.angles import delta_phi
    from flashsim_coffea.specs import electron, muon

    ev = read([tt_sample])
    genjets = candidates.select(ev, "GenJetFake")
    found = 0
    for src in (muon.UEFAKE, electron.UEFAKE):
        reco = ev[src.collection]
        pairs = ak.cartesian([reco, genjets], nested=True)
        dr = np.hypot(pairs["0"].eta - pairs["1"].eta, delta_phi(pairs["0"].phi, pairs["1"].phi))
        lone = (reco.genPartIdx < 0) & (ak.fill_none(ak.min(dr, axis=2), 9.0) > 0.4)
        t = tables(ev, src)
        np.testing.assert_array_equal(t["count"], ak.to_numpy(ak.sum(lone, axis=1)))
        np.testing.assert_allclose(t["pairs"]["pt"], ak.to_numpy(ak.flatten(reco.pt[lone])))
        assert np.all(t["pairs"][APART_WEIGHT] >= 1.0) and len(t["pairs"][APART_WEIGHT]) == t["count"].sum()
        found += int(t["count"].sum())
    assert found > 5
