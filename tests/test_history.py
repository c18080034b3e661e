"""GenPart status flags, pruning and mother links on real Pythia events."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from flashsim_coffea.nanoaod.status_flags import BITS
from flashsim_coffea.reference import history, pythia, truth


@pytest.fixture(scope="module")
def dy():
    return truth.make_truth(pythia.generate_block("dy", 120, 4242))


@pytest.fixture(scope="module")
def tt():
    return truth.make_truth(pythia.generate_block("ttbar", 60, 4243))


def _bit(flags, name):
    return (flags >> BITS[name]) & 1 == 1


def test_z_decay_leptons_are_prompt_hard_process_last_copies(dy):
    g = dy.GenPart
    z = g[(g.pdgId == 23) & _bit(g.statusFlags, "isLastCopy")]
    assert ak.all(ak.num(z) == 1)  # Pythia writes Z/gamma* as pdgId 23
    # final-state muons whose GenPart ancestor chain reaches the Z
    lep = g[(abs(g.pdgId) == 13) & (g.status == 1) & _bit(g.statusFlags, "fromHardProcess")]
    n_events_with_pair = ak.sum(ak.num(lep) == 2)
    assert n_events_with_pair > 20  # ~1/3 of Z -> ee, mumu, tautau
    flat = ak.flatten(lep)
    assert ak.all(_bit(flat.statusFlags, "isPrompt"))
    assert ak.all(_bit(flat.statusFlags, "isLastCopy"))
    assert not ak.any(_bit(flat.statusFlags, "isTauDecayProduct"))
    pairs = lep[ak.num(lep) == 2]
    px = pairs.pt * np.cos(pairs.phi)
    py = pairs.pt * np.sin(pairs.phi)
    pz = pairs.pt * np.sinh(pairs.eta)
    e = pairs.pt * np.cosh(pairs.eta)
    m = np.sqrt(ak.sum(e, axis=1) ** 2 - ak.sum(px, axis=1) ** 2 - ak.sum(py, axis=1) ** 2 - ak.sum(pz, axis=1) ** 2)
    # FSR lowers some masses, but the bulk sits at the Z pole
    assert 80 < np.median(ak.to_numpy(m)) < 95


def test_mother_links_point_back_in_the_same_event(dy):
    g = dy.GenPart
    mother = g.genPartIdxMother
    assert ak.all(mother < ak.local_index(g, axis=1))
    assert ak.all(mother >= -1)
    assert str(ak.type(g.statusFlags).content.content) == "uint16"
    # a final-state muon's first kept ancestor is a muon copy, a tau, a Z/gamma* or a hadron
    mu = (abs(g.pdgId) == 13) & (g.status == 1) & (mother >= 0)
    mids = ak.flatten(abs(g.pdgId[mother[mu]]))
    assert ak.all((mids == 13) | (mids == 15) | (mids == 23) | (mids == 22) | (mids > 100))


def test_final_particles_link_to_pruned_genpart(tt):
    p = tt.particles
    linked = p[p.genPartIdx >= 0]
    gen_pdg = tt.GenPart.pdgId[linked.genPartIdx]
    assert ak.all(gen_pdg == linked.pdgId)
    assert ak.all(tt.GenPart.status[linked.genPartIdx] == 1)
    # every final-state charged lepton is kept (NanoAOD keeps all e/mu/tau)
    lep = p[(abs(p.pdgId) == 11) | (abs(p.pdgId) == 13)]
    assert ak.all(lep.genPartIdx >= 0)


def test_heavy_hadrons_and_tops(tt):
    g = tt.GenPart
    tops = g[(abs(g.pdgId) == 6) & _bit(g.statusFlags, "isLastCopy")]
    assert ak.all(ak.num(tops) == 2)
    assert ak.all(ak.num(tt.hadrons[tt.hadrons.flavour == 5]) >= 1)
    # weakly decaying b hadrons are in GenPart with CMS status 2
    b = tt.hadrons[tt.hadrons.flavour == 5]
    assert ak.all(g.status[b.genPartIdx] == 2)
    nonprompt_mu = tt.particles[(abs(tt.particles.pdgId) == 13) & ~_bit(tt.particles.statusFlags, "isPrompt")]
    assert ak.sum(ak.num(nonprompt_mu)) > 5  # semileptonic b/c decays
    # displaced: production vertices of non-prompt muons are away from the origin
    r = np.hypot(ak.flatten(nonprompt_mu.vx), ak.flatten(nonprompt_mu.vy))
    assert np.median(ak.to_numpy(r)) > 0.01  # mm


def test_hadron_classification():
    ids = np.array([211, 111, 2212, 2101, 3203, 511, 5122, 421, 4122, 13, 22, 21, 130, 310])
    hadron = [True, True, True, False, False, True, True, True, True, False, False, False, True, True]
    assert history.is_hadron(ids).tolist() == hadron
    assert history.heavy_flavour(ids).tolist() == [0, 0, 0, 0, 0, 5, 5, 4, 4, 0, 0, 0, 0, 0]
