"""Conditioning features: nearest-neighbour ΔR/pT with self-exclusion, lepton flavours apart."""

import awkward as ak
import numpy as np
import pytest

from flashsim_coffea import candidates, features


def _gen():
    """Event 0: μ- (40 GeV) and μ+ (20 GeV) ΔR = 0.5 apart, an e- (10 GeV), a GenJet on the μ-.
    Event 1: one μ (30 GeV), no electron, a GenJet far away."""
    part = ak.Array([
        [
            {"pt": 40.0, "eta": 0.0, "phi": 0.0, "pdgId": 13, "status": 1, "statusFlags": 1},
            {"pt": 20.0, "eta": 0.3, "phi": 0.4, "pdgId": -13, "status": 1, "statusFlags": 1},
            {"pt": 10.0, "eta": -1.0, "phi": 2.0, "pdgId": 11, "status": 1, "statusFlags": 1},
            {"pt": 50.0, "eta": 0.0, "phi": 0.0, "pdgId": 23, "status": 62, "statusFlags": 1},
        ],
        [{"pt": 30.0, "eta": 1.0, "phi": -1.0, "pdgId": 13, "status": 1, "statusFlags": 1}],
    ])
    jets = ak.Array([
        [{"pt": 40.0, "eta": 0.0, "phi": 0.0, "mass": 0.1, "hadronFlavour": 0, "partonFlavour": 0}],
        [{"pt": 60.0, "eta": -2.0, "phi": 2.0, "mass": 5.0, "hadronFlavour": 5, "partonFlavour": 5}],
    ])
    return ak.zip({"GenPart": part, "GenJet": jets}, depth_limit=1)


def test_lepton_candidate_sees_its_nearest_other_lepton_not_itself():
    gen = _gen()
    mu = candidates.select(gen, "GenMuon")
    f = features.compute(gen, mu, ["mu_dr", "mu_ptrel", "ele_dr", "ele_ptrel"])
    assert ak.to_list(f["mu_dr"][0]) == pytest.approx([0.5, 0.5])
    assert ak.to_list(f["mu_ptrel"][0]) == pytest.approx([20 / 40, 40 / 20])
    # the lone muon of event 1 has no other muon and no electron
    assert ak.to_list(f["mu_dr"][1]) == [features.NO_NEIGHBOUR_DR]
    assert ak.to_list(f["mu_ptrel"][1]) == [0.0]
    assert ak.to_list(f["ele_dr"][1]) == [features.NO_NEIGHBOUR_DR]
    d = np.hypot(1.0, 2.0)
    assert f["ele_dr"][0][0] == pytest.approx(d)
    assert f["ele_ptrel"][0][0] == pytest.approx(10 / 40)


def test_jet_that_is_a_muon_has_mu_ptrel_one_and_no_electron_nearby():
    gen = _gen()
    jets = candidates.select(gen, "GenJet")
    f = features.compute(gen, jets, ["mu_dr", "mu_ptrel", "ele_dr", "other_dr"])
    # a GenJet is not a GenPart: the muon it coincides with is its neighbour at ΔR 0
    assert f["mu_dr"][0][0] == pytest.approx(0.0)
    assert f["mu_ptrel"][0][0] == pytest.approx(1.0)
    assert f["ele_dr"][0][0] == pytest.approx(np.hypot(1.0, 2.0))
    assert f["other_dr"][0][0] == features.NO_NEIGHBOUR_DR
    assert f["mu_dr"][1][0] == pytest.approx(np.hypot(3.0, 3.0))


def test_nearest_ids_and_exclude_self_agree():
    gen = _gen()
    mu = candidates.select(gen, "GenMuon")
    by_ids = features.nearest(mu, mu, obj_ids=mu.idx, other_ids=mu.idx)
    by_self = features.nearest(mu, mu, exclude_self=True)
    for a, b in zip(by_ids, by_self):
        assert ak.to_list(a) == ak.to_list(b)
    # without ids, each muon finds itself at ΔR 0
    assert ak.to_list(features.nearest(mu, mu)[0][0]) == [0.0, 0.0]


def test_unknown_feature_is_named():
    gen = _gen()
    with pytest.raises(KeyError, match="lep_dr"):
        features.compute(gen, candidates.select(gen, "GenMuon"), ["lep_dr"])


def test_event_context_jet_tensor():
    """One 20 GeV jet along x, one 40 GeV jet at 45°, a 10 GeV jet below the tensor threshold;
    GenMET along y."""
    jets = ak.Array([[{"pt": 20.0, "eta": 0.0, "phi": 0.0}, {"pt": 40.0, "eta": 1.0, "phi": np.pi / 4},
                      {"pt": 10.0, "eta": 0.0, "phi": 1.0}]])
    part = ak.Array([[{"pt": 25.0, "eta": 2.6, "phi": np.pi / 2 + 0.5, "pdgId": 13, "status": 1},
                      {"pt": 50.0, "eta": 2.3, "phi": 0.0, "pdgId": -13, "status": 1},
                      {"pt": 10.0, "eta": -3.0, "phi": 0.0, "pdgId": 11, "status": 1}]])
    gen = ak.zip({"GenJet": jets, "GenPart": part, "GenMET": ak.zip({"pt": [30.0], "phi": [np.pi / 2]}),
                  "Pileup": ak.zip({"nTrueInt": [35.0]})}, depth_limit=1)
    ctx = features.event_context(gen)
    assert set(ctx) == set(features.EVENT_FEATURES)
    assert ctx["jet_txx"][0] == pytest.approx(np.sqrt(400 + 800))
    assert ctx["jet_txy"][0] == pytest.approx(np.sqrt(800))
    assert ctx["jet_tyy"][0] == pytest.approx(np.sqrt(800))
    assert ctx["jet_tpar"][0] == pytest.approx(np.sqrt(800))  # along y: only the 45° jet
    assert ctx["jet_tperp"][0] == pytest.approx(np.sqrt(400 + 800))
    assert ctx["HT"][0] == pytest.approx(40.0) and ctx["nGenJet"][0] == 1.0
    # only the muon beyond |η| = 2.4 counts, 0.5 rad off GenMET
    assert ctx["fwdmu_par"][0] == pytest.approx(25 * np.cos(0.5))
    assert ctx["fwdmu_perp"][0] == pytest.approx(25 * np.sin(0.5))
