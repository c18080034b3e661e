"""Conditioning features: nearest-neighbour ΔR/pT with self-exclusion, lepton flavours apart."""

import awkward as ak
import numpy as np
import pytest

from flashsim_coffea.sim import candidates, features


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


def test_parton_flavour_features_on_real_genjets(v12_file):
    import uproot

    with uproot.open(v12_file) as f:
        gen = ak.zip({"GenJet": f["Events"].arrays(filter_name="GenJet_*", entry_stop=200, how="zip")["GenJet"]},
                     depth_limit=1)
    jets = candidates.select(gen, "GenJetFake")
    f = features.compute(gen, jets, ["parton_charge", "parton_none", "parton_g"])
    pf = ak.to_numpy(ak.flatten(jets.partonFlavour))
    q = ak.to_numpy(ak.flatten(f["parton_charge"]))
    assert len(q) > 500
    expect = {1: -1 / 3, 2: 2 / 3, 3: -1 / 3, 4: 2 / 3, 5: -1 / 3, -1: 1 / 3, -2: -2 / 3, -5: 1 / 3, 21: 0.0, 0: 0.0}
    for flav, charge in expect.items():
        if (pf == flav).any():
            np.testing.assert_allclose(q[pf == flav], charge)
    assert {5, -5, 21}.issubset(set(pf.tolist()))  # ttbar: b, anti-b and gluon jets present
    none = ak.to_numpy(ak.flatten(f["parton_none"]))
    np.testing.assert_array_equal(none, (pf == 0).astype(float))
    assert ak.to_numpy(ak.flatten(f["parton_g"]))[pf == 21].min() == 1.0


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


def test_event_context_jet_covariance():
    """One 20 GeV jet along x (|η| 0), one 40 GeV jet at 45° (|η| 1.5), a 10 GeV jet below
    the covariance threshold; GenMET along y."""
    jets = ak.Array([[{"pt": 20.0, "eta": 0.0, "phi": 0.0, "partonFlavour": 21, "hadronFlavour": 0},
                      {"pt": 40.0, "eta": 1.5, "phi": np.pi / 4, "partonFlavour": -5, "hadronFlavour": 5},
                      {"pt": 10.0, "eta": 0.0, "phi": 1.0, "partonFlavour": 2, "hadronFlavour": 0}]])
    part = ak.Array([[{"pt": 25.0, "eta": 2.6, "phi": np.pi / 2 + 0.5, "pdgId": 13, "status": 1, "statusFlags": 1},
                      {"pt": 50.0, "eta": 2.3, "phi": 0.0, "pdgId": -13, "status": 1, "statusFlags": 1},
                      {"pt": 10.0, "eta": -3.0, "phi": 0.0, "pdgId": 11, "status": 1, "statusFlags": 1}]])
    gen = ak.zip({"GenJet": jets, "GenPart": part, "GenMET": ak.zip({"pt": [30.0], "phi": [np.pi / 2]}),
                  "Pileup": ak.zip({"nTrueInt": [35.0], "nPU": [31]})}, depth_limit=1)
    ctx = features.event_context(gen)
    assert set(ctx) == set(features.EVENT_FEATURES)
    # σ_pT² = 2² + S² pT + (0.045 pT)², S = 0.85 below |η| 1.3, 1.3 below 2.5; σ_⊥ = 0.05 pT
    a_par, a_perp = 4 + 0.85**2 * 20 + (0.045 * 20) ** 2, (0.05 * 20) ** 2
    b_par, b_perp = 4 + 1.3**2 * 40 + (0.045 * 40) ** 2, (0.05 * 40) ** 2
    assert ctx["jet_cxx"][0] == pytest.approx(np.sqrt(a_par + (b_par + b_perp) / 2))
    assert ctx["jet_cyy"][0] == pytest.approx(np.sqrt(a_perp + (b_par + b_perp) / 2))
    assert ctx["jet_cxy"][0] == pytest.approx(np.sqrt((b_par - b_perp) / 2))
    # GenMET along y: the first jet is across it, the 45° jet half and half
    assert ctx["jet_cpar"][0] == pytest.approx(np.sqrt(a_perp + (b_par + b_perp) / 2))
    assert ctx["jet_cperp"][0] == pytest.approx(np.sqrt(a_par + (b_par + b_perp) / 2))
    assert ctx["HT"][0] == pytest.approx(40.0) and ctx["nGenJet"][0] == 1.0
    assert ctx["nPU"][0] == 31.0
    # GenJets above 10 GeV (the 10 GeV one is not), |η| < 2.5 for the central count
    assert ctx["nGenJet10"][0] == 2.0 and ctx["nGenJet10_central"][0] == 2.0
    # only the muon beyond |η| = 2.4 counts, 0.5 rad off GenMET
    assert ctx["fwdmu_par"][0] == pytest.approx(25 * np.cos(0.5))
    assert ctx["fwdmu_perp"][0] == pytest.approx(25 * np.sin(0.5))
    # PV-score terms: the 50 GeV muon in the tracker (the other two beyond |η| 2.5); the three GenJets
    assert ctx["log_lep_sumpt2"][0] == pytest.approx(np.log1p(50.0**2))
    assert ctx["log_jet_sumpt2"][0] == pytest.approx(np.log1p(20.0**2 + 40.0**2 + 10.0**2))
    # central GenJets above 10 GeV by flavour: the 20 GeV gluon and the 40 GeV b jet (the 10 GeV quark is not)
    assert [ctx[f"logpt_{k}"][0] for k in features.TRACK_FLAVOURS] == pytest.approx([np.log(8.0), np.log(4.0), 0, 0])


def test_event_context_pv_score_terms():
    """The lepton and jet terms of the PV score: prompt e/μ (or from a prompt τ) above 3 GeV in
    |η| < 2.5 count in ``log_lep_sumpt2`` and leave the GenJet they sit in; a non-prompt muon
    stays in its jet; GenJets beyond the tracker do not count."""
    tau_prompt = 1 << 5  # isDirectPromptTauDecayProduct
    part = ak.Array([[
        {"pt": 45.0, "eta": 0.05, "phi": 0.0, "pdgId": 13, "status": 1, "statusFlags": 1},  # in the 50 GeV jet
        {"pt": 8.0, "eta": 1.0, "phi": 2.1, "pdgId": -13, "status": 1, "statusFlags": 0},  # non-prompt, in a jet
        {"pt": 20.0, "eta": -1.0, "phi": -2.0, "pdgId": 11, "status": 1, "statusFlags": tau_prompt},
        {"pt": 25.0, "eta": 2.6, "phi": 1.0, "pdgId": 13, "status": 1, "statusFlags": 1},  # beyond the tracker
        {"pt": 2.0, "eta": 0.5, "phi": 1.0, "pdgId": 13, "status": 1, "statusFlags": 1},  # below 3 GeV
        {"pt": 60.0, "eta": 0.5, "phi": 1.0, "pdgId": 13, "status": 62, "statusFlags": 1},  # not final-state
    ], []])
    jets = ak.Array([[{"pt": 50.0, "eta": 0.0, "phi": 0.0}, {"pt": 30.0, "eta": 1.0, "phi": 2.0},
                      {"pt": 100.0, "eta": 3.0, "phi": -1.0}], []])
    jets = ak.with_field(ak.with_field(jets, 0, "partonFlavour"), 0, "hadronFlavour")
    gen = ak.zip({"GenJet": jets, "GenPart": part, "GenMET": ak.zip({"pt": [30.0, 5.0], "phi": [0.0, 0.0]}),
                  "Pileup": ak.zip({"nTrueInt": [35.0, 20.0], "nPU": [31, 19]})}, depth_limit=1)
    ctx = features.event_context(gen)
    assert ctx["log_lep_sumpt2"].tolist() == pytest.approx([np.log1p(45.0**2 + 20.0**2), 0.0])
    assert ctx["log_jet_sumpt2"].tolist() == pytest.approx([np.log1p(5.0**2 + 30.0**2), 0.0])


def test_hadronic_jet_covariance_leaves_out_electron_and_photon_genjets():
    """A GenJet that is a 29 GeV electron (97% of its 30 GeV) is in ``jet_c*`` but not in
    ``hadjet_c*``; a GenJet with a 10 GeV photon inside (33%) is in both."""
    def ctx(extra_jet, extra_part):
        jets = ak.Array([[{"pt": 20.0, "eta": 0.0, "phi": 0.0}, *extra_jet]])
        jets = ak.with_field(ak.with_field(jets, 0, "partonFlavour"), 0, "hadronFlavour")
        part = ak.Array([[{"pt": 5.0, "eta": -1.0, "phi": 3.0, "pdgId": 211, "status": 1, "statusFlags": 0},
                          *extra_part]])
        gen = ak.zip({"GenJet": jets, "GenPart": part, "GenMET": ak.zip({"pt": [30.0], "phi": [np.pi / 2]}),
                      "Pileup": ak.zip({"nTrueInt": [35.0], "nPU": [31]})}, depth_limit=1)
        return features.event_context(gen)

    v_par, v_perp = 4 + 0.85**2 * 30 + (0.045 * 30) ** 2, (0.05 * 30) ** 2
    extra = v_par * np.cos(2.0) ** 2 + v_perp * np.sin(2.0) ** 2  # a 30 GeV jet at φ = 2, |η| 0.5
    alone = ctx([], [])
    assert alone["hadjet_cxx"][0] == pytest.approx(alone["jet_cxx"][0])
    electron = ctx([{"pt": 30.0, "eta": 0.5, "phi": 2.0}], [{"pt": 29.0, "eta": 0.52, "phi": 2.01, "pdgId": 11,
                                                              "status": 1, "statusFlags": 1}])
    for k in ("cxx", "cxy", "cyy"):
        assert electron[f"hadjet_{k}"][0] == pytest.approx(alone[f"jet_{k}"][0])
    assert electron["jet_cxx"][0] == pytest.approx(np.sqrt(alone["jet_cxx"][0] ** 2 + extra))
    jet = ctx([{"pt": 30.0, "eta": 0.5, "phi": 2.0}], [{"pt": 10.0, "eta": 0.6, "phi": 2.1, "pdgId": 22, "status": 1,
                                                         "statusFlags": 1}])
    assert jet["hadjet_cxx"][0] == pytest.approx(np.sqrt(alone["jet_cxx"][0] ** 2 + extra))


def test_logdr_is_log_of_dr_floored():
    gen = _gen()
    jets = candidates.select(gen, "GenJet")
    f = features.compute(gen, jets, ["mu_dr", "mu_logdr", "other_logdr", "pho_ptrel"])
    assert ak.to_list(f["pho_ptrel"]) == [[0.0], [0.0]]
    # the jet on the muon: ΔR 0 -> the floor
    assert f["mu_logdr"][0][0] == pytest.approx(np.log(features.MIN_DR))
    assert f["mu_logdr"][1][0] == pytest.approx(np.log(np.hypot(3.0, 3.0)))
    assert f["other_logdr"][0][0] == pytest.approx(np.log(features.NO_NEIGHBOUR_DR))


def test_lepiso03_sums_other_leptons_inside_the_cone():
    """Event 0: a photon 0.2 from a 30 GeV muon and 0.5 from a 12 GeV electron; a second muon
    0.25 from the first; a 2 GeV muon (below 3 GeV) next to the photon. Event 1: one muon."""
    part = ak.Array([[
        {"pt": 15.0, "eta": 0.0, "phi": 0.0, "pdgId": 22, "status": 1, "statusFlags": 0},
        {"pt": 30.0, "eta": 0.2, "phi": 0.0, "pdgId": 13, "status": 1, "statusFlags": 0},
        {"pt": 12.0, "eta": -0.5, "phi": 0.0, "pdgId": 11, "status": 1, "statusFlags": 0},
        {"pt": 8.0, "eta": 0.45, "phi": 0.0, "pdgId": -13, "status": 1, "statusFlags": 0},
        {"pt": 2.0, "eta": 0.0, "phi": 0.1, "pdgId": 13, "status": 1, "statusFlags": 0},
    ], [
        {"pt": 25.0, "eta": 1.0, "phi": 1.0, "pdgId": 13, "status": 1, "statusFlags": 0},
    ]])
    gen = ak.zip({"GenPart": part}, depth_limit=1)
    pho = candidates.select(gen, "GenPhoton")
    assert features.compute(gen, pho, ["lepiso03"])["lepiso03"][0][0] == pytest.approx(30 / 15)
    # the photon is alone among photons: no other photon neighbour
    assert features.compute(gen, pho, ["pho_logdr"])["pho_logdr"][0][0] == pytest.approx(np.log(features.NO_NEIGHBOUR_DR))
    mu = candidates.select(gen, "GenMuon")
    # each muon sees the other (ΔR 0.25), never itself
    iso = features.compute(gen, mu, ["lepiso03"])["lepiso03"][0]
    assert ak.to_list(iso) == pytest.approx([8 / 30, 30 / 8])
    # a lone muon in an event of its own (events of different lengths)
    assert ak.to_list(features.compute(gen, mu, ["lepiso03"])["lepiso03"][1]) == [0.0]


def _chain_gen():
    """Event 0: Z -> mu (prompt); B+ (p = 20 GeV) -> D0 (p = 10 GeV) -> mu;
    B0 -> B0bar (mixing copy) -> mu; tau (p = 30 GeV) -> its visible tau (GenVisTau)."""
    part = ak.Array([[
        {"pt": 90.0, "eta": 0.0, "phi": 0.0, "pdgId": 23, "status": 62, "statusFlags": 0, "genPartIdxMother": -1},
        {"pt": 40.0, "eta": 0.0, "phi": 0.0, "pdgId": 13, "status": 1, "statusFlags": 1, "genPartIdxMother": 0},
        {"pt": 20.0, "eta": 0.0, "phi": 1.0, "pdgId": 521, "status": 2, "statusFlags": 0, "genPartIdxMother": -1},
        {"pt": 10.0, "eta": 0.0, "phi": 1.0, "pdgId": -421, "status": 2, "statusFlags": 0, "genPartIdxMother": 2},
        {"pt": 5.0, "eta": 0.0, "phi": 1.0, "pdgId": 13, "status": 1, "statusFlags": 0, "genPartIdxMother": 3},
        {"pt": 30.0, "eta": 0.0, "phi": 2.0, "pdgId": 511, "status": 2, "statusFlags": 0, "genPartIdxMother": -1},
        {"pt": 30.0, "eta": 0.0, "phi": 2.0, "pdgId": -511, "status": 2, "statusFlags": 0, "genPartIdxMother": 5},
        {"pt": 6.0, "eta": 0.0, "phi": 2.0, "pdgId": -13, "status": 1, "statusFlags": 0, "genPartIdxMother": 6},
        {"pt": 30.0, "eta": 0.0, "phi": -2.0, "pdgId": 15, "status": 2, "statusFlags": 1, "genPartIdxMother": 0},
    ]])
    vis = ak.Array([[{"pt": 20.0, "eta": 0.0, "phi": -2.0, "mass": 1.0, "charge": -1, "status": 0,
                      "genPartIdxMother": 8}]])
    return ak.zip({"GenPart": part, "GenVisTau": vis}, depth_limit=1)


def test_ancestor_flight_sums_long_lived_ancestors_once():
    gen = _chain_gen()
    mu = candidates.select(gen, "GenMuon")
    f = features.compute(gen, mu, ["anc_ctau", "anc_flight"])
    ctau = {k: v[0] for k, v in features.CTAU_MM.items()}
    mass = {k: v[1] for k, v in features.CTAU_MM.items()}
    floor = features.PROMPT_FLIGHT_MM
    expect_ctau = [floor, floor + ctau[521] + ctau[421], floor + ctau[511]]
    expect_flight = [floor, floor + ctau[521] * 20 / mass[521] + ctau[421] * 10 / mass[421],
                     floor + ctau[511] * 30 / mass[511]]
    assert ak.to_list(f["anc_ctau"][0]) == pytest.approx(np.log10(expect_ctau))
    assert ak.to_list(f["anc_flight"][0]) == pytest.approx(np.log10(expect_flight))
    tau = candidates.select(gen, "GenVisTau")
    ft = features.compute(gen, tau, ["anc_ctau", "anc_flight"])
    assert ft["anc_ctau"][0][0] == pytest.approx(np.log10(floor + ctau[15]))
    assert ft["anc_flight"][0][0] == pytest.approx(np.log10(floor + ctau[15] * 30 / mass[15]))


def test_hf_flight_sums_heavy_hadrons_inside_the_jet_once():
    """Jets on the B+ -> D0 chain (phi 1), on the mixing B0 -> B0bar (phi 2), on the tau (phi -2)."""
    gen = _chain_gen()
    # an excited b baryon beyond the cτ table (|pdgId| 5334) next to the tau: not weakly decaying
    extra = ak.Array([[{"pt": 30.0, "eta": 0.0, "phi": -2.0, "pdgId": 5334, "status": 2, "statusFlags": 0,
                        "genPartIdxMother": -1}]])
    gen = ak.with_field(gen, ak.concatenate([gen.GenPart, extra], axis=1), "GenPart")
    jets = ak.Array([[{"pt": 25.0, "eta": 0.0, "phi": p, "mass": 5.0} for p in (1.1, 2.0, -2.0)]])
    gen = ak.with_field(gen, jets, "GenJet")
    f = features.compute(gen, gen.GenJet, ["hf_flight"])["hf_flight"][0]
    ctau = {k: v[0] for k, v in features.CTAU_MM.items()}
    mass = {k: v[1] for k, v in features.CTAU_MM.items()}
    floor = features.PROMPT_FLIGHT_MM
    # both the B+ and its D0 fly inside the cone of the first jet
    expect = [floor + ctau[521] * 20 / mass[521] + ctau[421] * 10 / mass[421],
              floor + ctau[511] * 30 / mass[511],
              floor]
    assert ak.to_list(f) == pytest.approx(np.log10(expect))
    # a cone that misses the hadrons (phi 1.5: 0.5 from the B+, 0.5 from the B0) sees none
    far = ak.Array([[{"pt": 25.0, "eta": 0.0, "phi": 1.5, "mass": 5.0}]])
    assert features.compute(gen, far, ["hf_flight"])["hf_flight"][0][0] == pytest.approx(np.log10(floor))


def test_bhad_sees_the_nearest_weak_b_hadron_not_its_d_or_mixed_copy():
    """The chain event's b hadrons: B+ at phi 1 (20 GeV; its D0 there is a c hadron), B0 at phi 2 (30 GeV; its
    mixed copy is not a first copy). GenJets at phi 1.4, 2.5 and -2.0 (the last 2π - 4 from the B0)."""
    gen = _chain_gen()
    jets = ak.Array([[{"pt": 40.0, "eta": 0.0, "phi": p, "mass": 5.0} for p in (1.4, 2.5, -2.0)]])
    f = features.compute(gen, jets, ["bhad_dr", "bhad_ptrel"])
    assert ak.to_list(f["bhad_dr"][0]) == pytest.approx([0.4, 0.5, 2 * np.pi - 4.0])
    assert ak.to_list(f["bhad_ptrel"][0]) == pytest.approx([20 / 40, 30 / 40, 30 / 40])
    assert ak.to_list(abs(gen.GenPart.pdgId[features._b_hadrons(gen).idx])) == [[521, 511]]
    d = features.compute(gen, jets, ["bhad_deta", "bhad_dphi"])
    assert ak.to_list(d["bhad_deta"][0]) == pytest.approx([0.0, 0.0, 0.0])
    assert ak.to_list(d["bhad_dphi"][0]) == pytest.approx([-0.4, -0.5, 4.0 - 2 * np.pi])  # the last across ±π
    # heavy-hadron candidates (B+, D0, B0): the B+ sees the B0, not itself; the D0 the B+ on it; the B0 the B+
    fb = features.compute(gen, candidates.select(gen, "GenHeavyHadron"), ["bhad_dr"])["bhad_dr"][0]
    assert ak.to_list(fb) == pytest.approx([1.0, 0.0, 1.0])


def test_photon_sees_its_pi0_partner_not_itself():
    """Two photons 0.1 apart (a π0 pair), 20 and 12 GeV; a 30 GeV electron 1.0 away."""
    part = ak.Array([[
        {"pt": 20.0, "eta": 0.0, "phi": 0.0, "pdgId": 22, "status": 1, "statusFlags": 0},
        {"pt": 12.0, "eta": 0.1, "phi": 0.0, "pdgId": 22, "status": 1, "statusFlags": 0},
        {"pt": 30.0, "eta": 1.0, "phi": 0.0, "pdgId": 11, "status": 1, "statusFlags": 0},
    ]])
    gen = ak.zip({"GenPart": part}, depth_limit=1)
    f = features.compute(gen, candidates.select(gen, "GenPhoton"), ["pho_logdr", "pho_ptrel"])
    assert ak.to_list(f["pho_logdr"][0]) == pytest.approx([np.log(0.1), np.log(0.1)])
    assert ak.to_list(f["pho_ptrel"][0]) == pytest.approx([12 / 20, 20 / 12])
    fe = features.compute(gen, candidates.select(gen, "GenElectron"), ["pho_ptrel"])
    assert fe["pho_ptrel"][0][0] == pytest.approx(12 / 30)



def test_flat_features_equal_the_public_pair_functions(tt_gen):
    """compute_flat's cached flat inputs (candidate sides, neighbour collections flattened once a chunk)
    give what nearest() and cone_sum() give on the jagged collections: ΔR and pT of the nearest GenJet,
    muon and other candidate, the lepton isolation sum, the heavy-flavour flight in the jet cone."""
    from flashsim_coffea.sim import candidates

    gen = tt_gen[:150]
    shared: dict = {}
    for kind in ("GenMuon", "GenJet"):
        cand = candidates.select(gen, kind)
        names = ["genjet_dr", "genjet_ptrel", "mu_logdr", "other_dr", "other_ptrel", "lepiso03", "hf_flight"]
        flat = features.compute_flat(gen, cand, names, shared=shared)
        ids = cand.idx if "pdgId" in cand.fields else None
        pt = ak.to_numpy(ak.flatten(cand.pt)).astype(np.float64)
        jets = features._genjets(gen)
        dr, jpt = features.nearest(cand, jets, obj_ids=ids)
        mu_dr, _ = features.nearest(cand, features._muons(gen), obj_ids=ids, other_ids=features._muons(gen).idx)
        o_dr, o_pt = features.nearest(cand, cand, exclude_self=True)
        lep = features._leptons(gen)
        iso = features.cone_sum(cand, lep, 0.3, obj_ids=ids, other_ids=lep.idx)
        hf = features.cone_sum(cand, features.heavy_hadrons(gen), features.HF_CONE)
        f = lambda a: ak.to_numpy(ak.flatten(a)).astype(np.float64)
        assert np.array_equal(flat["genjet_dr"], f(dr)) and np.allclose(flat["genjet_ptrel"], f(jpt) / pt)
        assert np.array_equal(flat["mu_logdr"], np.log(np.maximum(f(mu_dr), features.MIN_DR)))
        assert np.array_equal(flat["other_dr"], f(o_dr)) and np.allclose(flat["other_ptrel"], f(o_pt) / pt)
        assert np.allclose(flat["lepiso03"], f(iso) / pt) and (flat["lepiso03"] > 0).any()
        assert np.allclose(flat["hf_flight"], np.log10(features.PROMPT_FLIGHT_MM + f(hf)))
        assert (f(o_dr) < features.NO_NEIGHBOUR_DR).any() and len(pt) > 50


def test_a_visible_tau_carries_its_tau_leptons_prompt_flag(nanoaod_dir):
    """Real CMS 2015 ttbar (200 events, 38 GenVisTau): ``flag:isPrompt`` of a GenVisTau is its tau lepton's
    statusFlags bit, 0 exactly for the taus whose first ancestor other than a tau copy is a hadron (a D_s and
    a B+ here), 1 for the W's."""
    import uproot

    from flashsim_coffea.nanoaod.genevents import branch_names, from_branches

    tree = uproot.open(nanoaod_dir / "nanoAOD_2015_CMS_Open_Data_ttbar.root")["Events"]
    gen = from_branches(tree.arrays(filter_name=branch_names(optional=True)))
    taus = candidates.select(gen, "GenVisTau")
    flag = features.compute_flat(gen, taus, ["flag:isPrompt"])["flag:isPrompt"]
    mother = ak.to_list(gen.GenPart.genPartIdxMother)
    pdg = ak.to_list(gen.GenPart.pdgId)
    first = []
    for i, idx in enumerate(ak.to_list(taus.genPartIdxMother)):
        for k in idx:
            while abs(pdg[i][k]) == 15:
                k = mother[i][k]
            first.append(abs(pdg[i][k]))
    first = np.array(first)
    assert len(flag) == 38 and sorted(first[flag == 0].tolist()) == [431, 521]
    assert set(first[flag == 1].tolist()) == {24}
