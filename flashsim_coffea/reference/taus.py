"""Hadronic taus of the reference detector (NanoAOD ``Tau`` collection, HPS + DeepTau v2.5-like).

:func:`reconstruct_taus` makes two kinds of reco taus:

genuine (``genPartFlav`` 5, ``genPartIdx`` -> **GenVisTau**, NanoAOD convention)
    every GenVisTau is reconstructed with probability ``plateau[gen decay mode] x
    turn-on(visible pT)`` (HPS decay-mode finding); the reco decay mode migrates with
    the matrix ``MIGRATION``; visible pT x response (Gaussian core, DM-dependent width,
    exponential low tail, plus part of the hidden neutral activity inside the signal
    cone); DeepTau VSjet score drawn from the genuine-tau quantile table, pulled down
    by the hidden isolation (truth pT of non-tau particles within dR < 0.5);
    ``dxy``/``dz`` from the truth vertex of the leading charged descendant (tau flight)
    plus track impact-parameter resolution.
jet fakes (``genPartFlav`` 0, ``genPartIdx`` -1)
    reco jets with pT > 20 GeV and abs(eta) < 2.3, away from GenVisTau and prompt
    leptons, fake a tau with a probability depending on flavour (quark > gluon, b), pT
    and the hidden leading-charged-hadron fraction of the jet; the fake's pT is the
    truth charged+photon pT in the jet core (dR < 0.1) x response; the DeepTau score
    is drawn from the fake quantile table, higher for collimated jets.

NanoAOD selection (``finalTaus``): pT > 18 GeV, abs(eta) < 2.3, decay mode in
{0, 1, 2, 10, 11}, ``idDeepTau2018v2p5VSjet`` >= 1 (VVVLoose). ``idDeepTau2018v2p5VSjet``
= number of v2.5 VSjet working points passed (notes section 10). Electrons/muons
faking taus (``genPartFlav`` 1-4) are not simulated. Collection pT-descending,
``jetIdx`` = closest reco jet within dR < 0.4, cast with ``schema.cast("Tau", ...)``.

Then, per final tau (:func:`_new_fields`; the draws come after all of the above, so those
fields do not depend on them):

isolation (``chargedIso``, ``neutralIso``, ``puCorr``, ``rawIso``, ``rawIsodR03``)
    HPS sums over the :mod:`.isolation` particles (hard event + pileup): charged from the
    PV (dz < 0.2 cm) with pT > 1 GeV and photons with E_T > 1.5 GeV within dR < 0.5
    (0.3), charged PU (dz > 0.2 cm) with pT > 0.5 GeV within dR < 0.8; signal
    constituents are left out (a genuine tau's own descendants; a fake's 1 or 3 hardest
    charged in the signal cone; photons in the dynamic strip window). ``rawIso`` =
    chargedIso + max(0, neutralIso - 0.2 puCorr), ``rawIsodR03`` the 0.3-cone sums with
    0.072 (:mod:`flashsim_coffea.nanoaod.tau_id`).
``photonsOutsideSignalCone``
    signal photons (own photons of a genuine tau, strip photons) beyond the signal cone
    clip(3 / pT, 0.05, 0.1).
``leadTkPtOverTauPt``, ``leadTkDeltaEta``, ``leadTkDeltaPhi``
    the leading charged particle (truth, pT smeared by the track resolution) as a
    MiniAOD PackedCandidate (eta, phi on the int16 grid, pT as float16) relative to the
    tau; a decay-mode-0 tau is its track plus the strip photons outside the cone.
``rawDeepTau2018v2p5VSe`` / ``VSmu`` and their ids
    latent Gaussians correlated with the VSjet latent, shifted by the decay mode, the
    ECAL crack, a true electron / muon as leading track, a reco lepton among the signal
    constituents and hadron punch-through, through the genuine-tau quantile tables
    (WP targets of CMS-TAU-20-001); ids = thresholds reached by the stored raw score.
``eleIdx``, ``muIdx``, ``idAntiMu``, ``idDecayModeOldDMs``
    derived from the final collections (:mod:`flashsim_coffea.nanoaod.tau_links`,
    :mod:`flashsim_coffea.nanoaod.tau_id`): the first lepton in the signal cone, the
    againstMuon3 working points from the muons within 0.3, decay mode in {0, 1, 2, 10}.

Example:
    A Z -> tautau event (without pileup) with two hadronic taus, one-prong + pi0 (decay
    mode 1) and three-prong (10): both are reconstructed, genuine (``genPartFlav`` 5),
    linked to their ``GenVisTau`` and to a jet.

    >>> from flashsim_coffea.reference.genlevel import gen_collections
    >>> from flashsim_coffea.reference.jets import reconstruct_jets
    >>> from flashsim_coffea.reference.pileup import simulate_pileup
    >>> from flashsim_coffea.reference.pythia import generate_block
    >>> from flashsim_coffea.reference.truth import make_truth
    >>> truth = make_truth(generate_block("dy", n=2, seed=23))
    >>> gen = gen_collections(truth)
    >>> pu = simulate_pileup(np.zeros(2, np.int64), np.random.default_rng(0))  # no pileup
    >>> jets = reconstruct_jets(truth, pu, gen["GenJet"], np.full(2, 4.0), np.random.default_rng(1))
    >>> gen["GenVisTau"].pt, gen["GenVisTau"].status.tolist()
    (<Array [[61.8, 19.9], []] type='2 * var * float32'>, [[1, 10], []])
    >>> tau = reconstruct_taus(truth, gen["GenVisTau"], jets, np.random.default_rng(2))
    >>> tau.pt
    <Array [[63.2, 19.4], []] type='2 * var * float32'>
    >>> tau.decayMode.tolist(), tau.genPartFlav.tolist(), tau.genPartIdx.tolist(), tau.jetIdx.tolist()
    ([[1, 10], []], [[5, 5], []], [[0, 1], []], [[0, 2], []])
    >>> tau.idDeepTau2018v2p5VSjet.tolist()  # working points passed, of 8
    [[8, 7], []]
    >>> tau.idDeepTau2018v2p5VSe.tolist(), tau.idDeepTau2018v2p5VSmu.tolist(), tau.idAntiMu.tolist()
    ([[6, 8], []], [[4, 4], []], [[2, 2], []])
    >>> tau.leadTkPtOverTauPt.tolist(), tau.photonsOutsideSignalCone.tolist(), tau.puCorr.tolist()  # no pileup
    ([[0.8792868852615356, 0.613725483417511], []], [[5.15177059173584, 0.0], []], [[0.0, 0.0], []])

References:
    CMS, "Performance of reconstruction and identification of tau leptons decaying to
    hadrons and nu_tau in pp collisions at sqrt(s) = 13 TeV", JINST 13 (2018) P10005,
    arXiv:1809.02816; CMS, "Identification of hadronic tau lepton decays using a deep
    neural network", JINST 17 (2022) P07023, arXiv:2201.08458.
"""

from __future__ import annotations

import awkward as ak
import numba
import numpy as np
from scipy.special import ndtr, ndtri

from flashsim_coffea.nanoaod import schema, tau_id, tau_links
from flashsim_coffea.nanoaod.derived import EB_MAX, EE_MIN, WP_VSJET
from flashsim_coffea.nanoaod.status_flags import BITS
from flashsim_coffea.reference import genlevel, isolation

#: statusFlags of a prompt lepton or a direct decay product of a prompt tau (fake-tau veto)
_PROMPT_OR_PROMPT_TAU = (1 << BITS["isPrompt"]) | (1 << BITS["isDirectPromptTauDecayProduct"])

PARAMS: dict = {
    "pt_min": 18.0,  # NanoAOD Tau pt > 18 [notes section 10, nTau doc]
    "eta_max": 2.3,  # CMS tau_h acceptance (tracker, HPS) [mem, TAU-16-003]
    # HPS decay-mode-finding plateau per gen decay mode [mem: CMS TAU-16-003, JINST 13 (2018) P10005];
    # the mode-averaged plateau 0.75 x Medium (0.80 relative) = 0.60 = Delphes tau-tag efficiency [card]
    "plateau": {0: 0.85, 1: 0.80, 2: 0.75, 10: 0.72, 11: 0.62, 15: 0.40},
    "turnon_pt50": 15.0,  # GeV, visible pT at half plateau [design]
    "turnon_width": 5.0,  # GeV, logistic width [design]
    # visible-pT response: Gaussian core width per reco DM [notes section 12: N(1, 0.05-0.1), mem]
    "resp_sigma": {0: 0.05, 1: 0.08, 2: 0.09, 10: 0.05, 11: 0.08},
    "resp_tail_prob": 0.15,  # fraction with a low tail (lost neutrals / tracks) [design]
    "resp_tail_mean": 0.10,  # mean of the exponential tail (relative) [design]
    "resp_core_activity": 0.5,  # fraction of non-tau truth pT in dR<0.1 added to the tau [design]
    "lost_pi0_scale": 0.93,  # response when a gen pi0 is not reconstructed [design]
    "pos_sigma": 0.004,  # eta / phi resolution [design, HPS signal cone constituents]
    "charge_flip": {1: 0.005, 3: 0.02},  # 1-prong / 3-prong [mem: TAU-16-003, ~1% overall]
    "m_pi": 0.13957,  # GeV, DM0 mass = charged pion [PDG]
    "mass_sigma": 0.08,  # relative smearing of the visible mass [design]
    # track impact-parameter resolution sigma = a + b / pT (um) [arXiv 1405.6569: d0 25-90 um at
    # 1-10 GeV, 10 um at 100 GeV; z0 45-150 um, 30 um]
    "d0_res": (10.0, 80.0),
    "z0_res": (30.0, 120.0),
    "iso_dr": 0.5,  # DeepTau isolation region [mem, arXiv 2201.08458]
    "core_dr": 0.1,  # HPS signal cone max (3/pT clipped to 0.05-0.1) [mem]
    "iso_beta": 1.5,  # score shift -beta x (iso_rel - iso_ref), latent Gaussian units [design]
    "iso_ref": 0.1,  # typical iso_rel of Z -> tau tau taus (median 0.095 measured here) [design]
    # jet fakes (NanoAOD VVVLoose-level, before the pT > 18 cut on the tau) [notes section 10/12: Delphes 1%
    # mistag at analysis WP; design: 3-6% of light-quark jets at VVVLoose]
    "fake_jet_pt_min": 20.0,
    "fake_rate": {"quark": 0.06, "gluon": 0.03, "c": 0.04, "b": 0.025},
    "fake_pt_slope": -0.3,  # rate x (pT/30)^slope [design]
    "fake_zlead_ref": 0.25,  # rate x clip(z_lead / ref, 0.1, 3), z_lead = leading charged pT / jet pT [design]
    "fake_zlead_gamma": 1.5,  # score shift gamma x (z_lead - score_ref) [design]
    "fake_score_zref": 0.35,  # [design: tuned so that ~10% of stored fakes pass Medium]
    "fake_veto_dr": 0.4,  # jets near a GenVisTau or prompt e/mu do not make jet fakes
    "fake_lep_pt": 10.0,  # prompt e/mu veto threshold (GeV)
    "fake_resp_sigma": 0.08,  # fake pT = core truth pT x N(1, sigma) [design]
    "fake_pos_sigma": 0.02,  # fake axis vs jet axis [design]
    "jet_dr": 0.4,  # Tau_jetIdx matching cone
    # ---- isolation, strips, leading track, DeepTau VSe / VSmu (fields added for issue 22)
    # HPS isolation candidates: charged pT > 1 GeV within dz 0.2 cm of the PV, photons E_T > 1.5 GeV
    # [code: cms-sw/cmssw RecoTauTag/RecoTau/python/PFRecoTauQualityCuts_cfi.py isolationQualityCuts];
    # the hard-event and PU categories are those of :mod:`.isolation` (PU tracks beyond 2 mm in z = "PU")
    "iso_ch_pt": 1.0,
    "iso_ph_et": 1.5,  # [code: PFRecoTauQualityCuts_cfi.py isolationQualityCuts minGammaEt]
    "iso_dr05": 0.5,  # chargedIso / neutralIso cone [code: HPSPFTaus_cff.py hpsPFTauBasicDiscriminators customOuterCone]
    "iso_dr03": 0.3,  # rawIsodR03 cone [code: hpsPFTauBasicDiscriminatorsdR03]
    # puCorr: PU charged sum in 0.8 with pT > 0.5 [code: HPSPFTaus_cff.py isoConeSizeForDeltaBeta,
    # deltaBetaPUTrackPtCutOverride_val]
    "pu_dr": 0.8,
    "pu_pt": 0.5,  # [code: deltaBetaPUTrackPtCutOverride_val]
    "sig_gamma_et": 0.5,  # strip photons E_T > 0.5 GeV [code: PFRecoTauQualityCuts_cfi.py signalQualityCuts minGammaEt]
    "sig_track_pt": 0.5,  # signal tracks pT > 0.5 GeV [code: same, signalQualityCuts minTrackPt]
    # dynamic strip window around the tau axis: d_eta = f(pT_gamma) + f(pT_strip), f = 0.20 pT^-0.66, in
    # [0.05, 0.15]; d_phi = g(pT_gamma) + g(pT_strip), g = 0.35 pT^-0.71, in [0.05, 0.30] [CMS JINST 13 (2018)
    # P10005, sect. 3.1]; pT_strip = tau pT - leading-track pT [design]
    "strip_eta": (0.20, 0.66, 0.05, 0.15),  # f coefficient, power, window min, max [JINST 13 P10005]
    "strip_phi": (0.35, 0.71, 0.05, 0.30),  # g coefficient, power, window min, max [JINST 13 P10005]
    # charged-hadron track resolution sigma/pT = a (+) b pT [arXiv 1405.6569: 1.5% at 1-10 GeV, 2.8% at 100 GeV]
    "trk_res": (0.015, 2.4e-4),
    # MiniAOD PackedCandidate storage of the leading track: eta, phi as int16 of eta/6, phi/3.2; pT as float16
    # [code: cms-sw/cmssw DataFormats/PatCandidates/src/PackedCandidate.cc pack()]
    "pack_eta": 6.0,
    "pack_phi": 3.2,  # [code: PackedCandidate.cc]
    # DeepTau VSe / VSmu raw scores: latent Gaussian z = rho z_jet + sqrt(1 - rho^2) N(0, 1) + shift, score = the
    # genuine-tau quantile table at Phi(z) (SCORE_CDF_E / SCORE_CDF_MU); z_jet = the latent of the VSjet score
    # (the three are p_tau / (p_tau + p_x) of one softmax, so they move together) [design, arXiv 2201.08458]
    "vse_rho": 0.3,
    "vsmu_rho": 0.2,  # [design]
    # VSe shift per reco decay mode: 1-prong modes look most like electrons (e -> tau fakes are DM 0/1), the
    # mixture of Z -> tau tau modes averages ~0 so the WP efficiencies stay at their targets [design,
    # arXiv 2201.08458 fig. 6 (D_e per pT range)]
    "vse_dm_shift": {0: -0.2, 1: 0.0, 2: 0.0, 10: 0.75, 11: 0.55},
    "vse_crack": -0.8,  # ECAL barrel-endcap gap (1.4442 < abs(eta) < 1.566): weaker e rejection [design, TAU-16-003]
    "vse_ele_match": -0.5,  # a reco electron is a signal constituent (eleIdx >= 0) [design]
    "vse_lead_e": -2.5,  # the leading track is a true electron (jet fakes: conversions, semileptonic decays) [design]
    "vse_fake": -0.3,  # jet fakes carry more EM energy than tau_h [design]
    "vsmu_lead_mu": -3.0,  # the leading track is a true muon [design]
    "vsmu_mu_match": -1.0,  # a reco muon is a signal constituent (muIdx >= 0) [design]
    "vsmu_mu_near": -0.5,  # a matched muon within 0.3 (idAntiMu < 2) [design]
    "vsmu_punch": -0.3,  # x log(1 + p_lead / 100 GeV): hadron punch-through grows with momentum [design]
}

#: Quantile tables (score, CDF) of the raw VSjet score. Genuine: CDF at the WPs = 1 - target
#: efficiency 98, 95, 90, 85, 80, 70, 60, 50% [notes section 10, TAU-20-001]. Fakes (given a
#: DMF candidate passing VVVLoose): ~7% pass Medium, ~2% VVTight [design; v2.5 jet misID ~1e-3
#: at Medium vs few 1e-2 at VVVLoose, arXiv 2201.08458 / CMS-PAS-TAU-24-001].
SCORE_CDF = {
    "genuine": (np.r_[0.0, WP_VSJET, 1.0], np.r_[0.0, 0.02, 0.05, 0.10, 0.15, 0.20, 0.30, 0.40, 0.50, 1.0]),
    "fake": (np.r_[0.0, WP_VSJET, 1.0], np.r_[0.0, 0.0, 0.45, 0.70, 0.85, 0.93, 0.955, 0.97, 0.98, 1.0]),
}
#: Genuine-tau quantile table (score, CDF) of the raw VSe score: CDF at the v2.5 WPs = 1 - target efficiency
#: 99.5, 99, 98, 95, 90, 80, 70, 60% (VVVLoose..VVTight) [mem: CMS-TAU-20-001, JINST 17 (2022) P07023, WP
#: definitions; thresholds tau_id.WP_VSE].
SCORE_CDF_E = (np.r_[0.0, tau_id.WP_VSE, 1.0], np.r_[0.0, 0.005, 0.01, 0.02, 0.05, 0.10, 0.20, 0.30, 0.40, 1.0])
#: Genuine-tau quantile table of the raw VSmu score: CDF at the WPs = 1 - 99.8, 99.5, 99, 98% (VLoose..Tight)
#: [mem: CMS-TAU-20-001]; above Tight the score piles up below 1 (0.99, 0.999 points) [design].
SCORE_CDF_MU = (np.r_[0.0, tau_id.WP_VSMU, 0.99, 0.999, 1.0], np.r_[0.0, 0.002, 0.005, 0.01, 0.02, 0.06, 0.25, 1.0])

#: Reco decay-mode migration P(reco | gen) over (0, 1, 2, 10, 11) [mem: CMS TAU-16-003 fig. 8,
#: DeepTau arXiv 2201.08458; diagonal 65-90%, 1p1pi0 <-> 1p0pi0 ~ 10-15%]. Gen "other" (15)
#: is split by its number of charged hadrons (1 -> "15_1", 3 -> "15_3"; other prong counts are lost).
_DMS = np.array([0, 1, 2, 10, 11])
MIGRATION = {
    0: (0.88, 0.10, 0.01, 0.01, 0.00),
    1: (0.13, 0.75, 0.10, 0.01, 0.01),
    2: (0.04, 0.50, 0.44, 0.00, 0.02),
    10: (0.03, 0.02, 0.00, 0.85, 0.10),
    11: (0.00, 0.05, 0.00, 0.30, 0.65),
    "15_1": (0.20, 0.50, 0.30, 0.00, 0.00),
    "15_3": (0.00, 0.00, 0.00, 0.40, 0.60),
}
#: Fake decay modes by the number of charged hadrons (pT > 1 GeV) in the jet core [design]
FAKE_DM = {1: (0.45, 0.45, 0.10, 0.00, 0.00), 2: (0.30, 0.40, 0.05, 0.20, 0.05), 3: (0.00, 0.15, 0.00, 0.55, 0.30)}
#: Mass templates (mean, sigma, min, max; GeV) per reco DM where no visible mass is known (fakes)
#: [design; PDG rho(770), a1(1260) seen through HPS]
_MASS = {
    1: (0.80, 0.20, 0.30, 1.50),
    2: (0.80, 0.20, 0.30, 1.50),
    10: (1.10, 0.20, 0.80, 1.60),
    11: (1.10, 0.20, 0.80, 1.60),
}


# ---------------------------------------------------------------- numba kernels


@numba.njit(cache=True)
def _cones(obj_off, oeta, ophi, otau, p_off, peta, pphi, ppt, pch, pvis, ptau, core_dr, iso_dr):
    """Per object: truth sums around its axis, skipping particles of its own tau.

    Only particles with ``pvis`` count. Returns core_pt (pT sum within core_dr),
    iso_pt (pT sum within iso_dr), n_ch_core (charged, pT > 1 GeV, within core_dr),
    lead (flat particle index of the hardest charged particle within core_dr, -1),
    q_core (charge sum of charged particles pT > 1 within core_dr).
    """
    n = oeta.shape[0]
    core = np.zeros(n)
    iso = np.zeros(n)
    nch = np.zeros(n, np.int64)
    lead = np.full(n, -1, np.int64)
    qc = np.zeros(n)
    for ev in range(obj_off.shape[0] - 1):
        for o in range(obj_off[ev], obj_off[ev + 1]):
            best = 0.0
            for k in range(p_off[ev], p_off[ev + 1]):
                if not pvis[k] or (otau[o] >= 0 and ptau[k] == otau[o]):
                    continue
                dphi = abs(pphi[k] - ophi[o])
                if dphi > np.pi:
                    dphi = 2 * np.pi - dphi
                dr2 = (peta[k] - oeta[o]) ** 2 + dphi**2
                if dr2 < iso_dr * iso_dr:
                    iso[o] += ppt[k]
                if dr2 < core_dr * core_dr:
                    core[o] += ppt[k]
                    if pch[k] != 0 and ppt[k] > 1.0:
                        nch[o] += 1
                        qc[o] += pch[k]
                        if ppt[k] > best:
                            best = ppt[k]
                            lead[o] = k
    return core, iso, nch, lead, qc


@numba.njit(cache=True)
def _closest(a_off, aeta, aphi, b_off, beta, bphi, dr_max):
    """Per object of ``a``: local index of the closest ``b`` of its event within dr_max, else -1."""
    out = np.full(aeta.shape[0], -1, np.int64)
    for ev in range(a_off.shape[0] - 1):
        for i in range(a_off[ev], a_off[ev + 1]):
            best = dr_max * dr_max
            for j in range(b_off[ev], b_off[ev + 1]):
                dphi = abs(bphi[j] - aphi[i])
                if dphi > np.pi:
                    dphi = 2 * np.pi - dphi
                dr2 = (beta[j] - aeta[i]) ** 2 + dphi**2
                if dr2 < best:
                    best = dr2
                    out[i] = j - b_off[ev]
    return out


@numba.njit(cache=True)
def _iso_strips(t_off, t_eta, t_phi, t_own, t_fake, t_rsig, t_nprong, t_spt,
                c_off, c_eta, c_phi, c_pt, c_cat, c_owner, p):  # pragma: no cover - numba
    """Per tau: HPS isolation sums and strip photons outside the signal cone.

    Candidates (``c_*``, grouped by event) have the :mod:`.isolation` categories; ``c_owner``
    is the GenPart index of the tau a hard-event particle descends from (-1 none). Signal
    constituents: a genuine tau's own descendants; for a jet fake, the ``t_nprong`` hardest
    charged candidates (pT > ``p[0]``) inside the signal cone ``t_rsig``; every photon
    (E_T > ``p[6]``) in the dynamic strip window (strip pT ``t_spt``) around the tau axis.
    Signal photons beyond ``t_rsig`` make photonsOutsideSignalCone; everything else in the
    cone is isolation.
    ``p`` = (charged pT min, photon E_T min, PU pT min, dR 0.5, dR 0.3, PU dR 0.8, strip E_T min,
    f coefficient, f power, eta window min, max, g coefficient, g power, phi window min, max).
    Returns (n, 6): chargedIso (0.5), neutralIso (0.5), charged (0.3), photons (0.3),
    puCorr (0.8), photonsOutsideSignalCone.
    """
    out = np.zeros((t_eta.shape[0], 6))
    top = np.zeros(3)
    for ev in range(t_off.shape[0] - 1):
        for i in range(t_off[ev], t_off[ev + 1]):
            top[:] = 0.0
            sig = 0.0
            r2 = t_rsig[i] * t_rsig[i]
            for k in range(c_off[ev], c_off[ev + 1]):
                deta = c_eta[k] - t_eta[i]
                if abs(deta) > p[5]:
                    continue
                dphi = (c_phi[k] - t_phi[i] + np.pi) % (2 * np.pi) - np.pi
                dr2 = deta * deta + dphi * dphi
                c = c_cat[k]
                pt = c_pt[k]
                if c == 3:  # PU charged, dz > 0.2 cm
                    if dr2 < p[5] * p[5] and pt > p[2]:
                        out[i, 4] += pt
                    continue
                if dr2 >= p[3] * p[3]:
                    continue
                if c == 0 or c == 4:  # charged from the PV (within 0.2 cm)
                    if t_own[i] >= 0 and c_owner[k] == t_own[i]:
                        continue
                    if pt <= p[0]:
                        continue
                    if t_fake[i] and dr2 < r2:
                        sig += pt
                        if pt > top[2]:
                            top[2] = pt
                            if top[2] > top[1]:
                                top[1], top[2] = top[2], top[1]
                                if top[1] > top[0]:
                                    top[0], top[1] = top[1], top[0]
                        continue
                    out[i, 0] += pt
                    if dr2 < p[4] * p[4]:
                        out[i, 2] += pt
                elif c == 2:  # photons
                    in_strip = t_own[i] >= 0 and c_owner[k] == t_own[i]  # a genuine tau's own photons
                    if not in_strip and pt > p[6]:
                        weta = min(max(p[7] * pt ** (-p[8]) + p[7] * t_spt[i] ** (-p[8]), p[9]), p[10])
                        wphi = min(max(p[11] * pt ** (-p[12]) + p[11] * t_spt[i] ** (-p[12]), p[13]), p[14])
                        in_strip = abs(deta) < weta and abs(dphi) < wphi
                    if in_strip:
                        if dr2 > r2:
                            out[i, 5] += pt
                    elif pt > p[1]:
                        out[i, 1] += pt
                        if dr2 < p[4] * p[4]:
                            out[i, 3] += pt
            if t_fake[i]:
                extra = sig - top[0] - (top[1] + top[2] if t_nprong[i] == 3 else 0.0)
                out[i, 0] += extra
                out[i, 2] += extra
    return out


# ---------------------------------------------------------------- helpers


def _offsets(counts) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(np.asarray(counts, dtype=np.int64))])


def _flat(a: ak.Array, field: str) -> np.ndarray:
    return ak.to_numpy(ak.flatten(a[field]))


def _choice(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One draw per row of ``probs`` (rows sum to 1): index of the chosen column."""
    c = np.cumsum(probs, axis=1)
    u = rng.random(len(probs))[:, None] * c[:, -1:]
    return np.minimum((u > c).sum(axis=1), probs.shape[1] - 1)


def _score(rng: np.random.Generator, kind: str, shift: np.ndarray) -> np.ndarray:
    """Raw VSjet score: quantile table of ``kind`` at u = Phi(N(0,1) + shift)."""
    x, cdf = SCORE_CDF[kind]
    u = ndtr(rng.standard_normal(len(shift)) + shift)
    return np.interp(u, cdf, x)


def _ip(rng: np.random.Generator, idx: np.ndarray, part: dict) -> tuple[np.ndarray, np.ndarray]:
    """(dxy, dz) in cm of the charged particle ``idx`` (flat, -1 = none) w.r.t. (0, 0, 0), smeared."""
    ok = idx >= 0
    i = np.maximum(idx, 0)
    vx, vy, vz = part["vx"][i], part["vy"][i], part["vz"][i]  # mm
    px, py, pz = part["px"][i], part["py"][i], part["pz"][i]
    pt = np.maximum(np.hypot(px, py), 1e-6)
    dxy = np.where(ok, (-vx * py + vy * px) / pt, 0.0)
    dz = np.where(ok, vz - (vx * px + vy * py) / pt * pz / pt, 0.0)
    lead_pt = np.where(ok, pt, 5.0)
    a, b = PARAMS["d0_res"]
    az, bz = PARAMS["z0_res"]
    n = len(idx)
    dxy = dxy + rng.standard_normal(n) * (a + b / lead_pt) * 1e-3  # um -> mm
    dz = dz + rng.standard_normal(n) * (az + bz / lead_pt) * 1e-3
    return dxy / 10.0, dz / 10.0  # mm -> cm


def _mass(rng: np.random.Generator, dm: np.ndarray, m_vis: np.ndarray | None) -> np.ndarray:
    """HPS-like mass: m_pi for DM0, smeared visible mass (genuine) or a template (fakes)."""
    n = len(dm)
    out = np.full(n, PARAMS["m_pi"])
    for mode, (mu, sig, lo, hi) in _MASS.items():
        sel = dm == mode
        out[sel] = np.clip(rng.normal(mu, sig, sel.sum()), lo, hi)
    if m_vis is not None:
        use = (dm != 0) & (m_vis > PARAMS["m_pi"])
        smeared = m_vis * (1 + PARAMS["mass_sigma"] * rng.standard_normal(n))
        out = np.where(use, np.maximum(smeared, PARAMS["m_pi"]), out)
    return out


def _candidates_by_event(cands: dict, tau_of: np.ndarray) -> tuple[np.ndarray, ...]:
    """Hard-event and PU isolation inputs merged per event: (off, eta, phi, pt, cat, owner tau)."""
    hard, pu = cands["hard"], cands["pu"]
    n_ev = len(hard["off"]) - 1
    evt = np.concatenate([np.repeat(np.arange(n_ev), np.diff(hard["off"])),
                          np.repeat(np.arange(n_ev), np.diff(pu["off"]))])
    order = np.argsort(evt, kind="stable")
    owner = np.concatenate([tau_of[hard["src"]].astype(np.int64), np.full(len(pu["pt"]), -1, np.int64)])
    cols = [np.concatenate([hard[k], pu[k]])[order] for k in ("eta", "phi", "pt", "cat")]
    return (_offsets(np.bincount(evt, minlength=n_ev)), *cols, owner[order])


def _new_fields(t: dict, hidden: dict, evt: np.ndarray, t_off: np.ndarray, part: dict, cands: dict,
                muons: ak.Array | None, electrons: ak.Array | None, rng: np.random.Generator) -> dict:
    """Leading-track, isolation, link and DeepTau VSe / VSmu fields of the final (sorted) taus.

    ``hidden``: ``_own`` (GenPart index of a genuine tau, -2 for fakes), ``_lead`` (flat truth
    index of the leading charged particle, -1 none), ``_fake``. Draws (after every draw of the
    existing fields): track pT smearing, then the VSe and the VSmu latent noise.
    """
    P = PARAMS
    n = len(evt)
    pt, eta, phi, dm = t["pt"], t["eta"], t["phi"], t["decayMode"]
    fake, own = hidden["_fake"], hidden["_own"]
    ok = hidden["_lead"] >= 0
    li = np.maximum(hidden["_lead"], 0)
    out: dict[str, np.ndarray] = {}

    # ---- leading track (the PackedCandidate of MiniAOD): DM 0 is the track itself
    a, b = P["trk_res"]
    tpt = np.where(ok, part["pt"][li], 0.0)
    teta = np.where(ok, part["eta"][li], eta)
    tphi = np.where(ok, part["phi"][li], phi)
    lpt = tpt * (1.0 + np.hypot(a, b * tpt) * rng.standard_normal(n))

    # ---- isolation and strips
    c_off, c_eta, c_phi, c_pt, c_cat, c_own = _candidates_by_event(cands, part["tauIdx"].astype(np.int64))
    fe, pe, lo_e, hi_e = P["strip_eta"]
    fp, pp, lo_p, hi_p = P["strip_phi"]
    par = np.array([P["iso_ch_pt"], P["iso_ph_et"], P["pu_pt"], P["iso_dr05"], P["iso_dr03"], P["pu_dr"],
                    P["sig_gamma_et"], fe, pe, lo_e, hi_e, fp, pp, lo_p, hi_p])
    dm0 = dm == 0
    sums = _iso_strips(t_off, eta.astype(np.float64), phi.astype(np.float64), own.astype(np.int64), fake,
                       tau_links.signal_cone(pt), np.where(dm >= 10, 3, 1),
                       np.maximum(pt - np.where(dm0, 0.0, lpt), 1.0), c_off, c_eta, c_phi, c_pt, c_cat, c_own, par)
    out["chargedIso"], out["neutralIso"], out["puCorr"] = sums[:, 0], sums[:, 1], sums[:, 4]
    out["photonsOutsideSignalCone"] = ph_out = sums[:, 5]

    # ---- leading track as stored in MiniAOD (PackedCandidate). An HPS decay mode 0 tau is its
    # track plus the strip photons outside the signal cone (real v12/Run-2 files: pT = track pT +
    # photonsOutsideSignalCone for DM 0): track pT = pT - those photons, along the tau axis when
    # there are none
    dm0_bare = dm0 & (ph_out <= 0.0)
    lpt = np.where(dm0, np.maximum(pt - ph_out, P["sig_track_pt"]), lpt)
    leta, lphi = np.where(dm0_bare, eta, teta), np.where(dm0_bare, phi, tphi)
    big = np.iinfo(np.int16).max
    pk_pt = np.minimum(lpt, 6.0e4).astype(np.float16).astype(np.float64)
    pk_eta = np.round(leta / P["pack_eta"] * big) * P["pack_eta"] / big
    pk_phi = np.round(lphi / P["pack_phi"] * big) * P["pack_phi"] / big
    ratio = pk_pt / np.maximum(pt, 1e-6)
    out["leadTkPtOverTauPt"] = np.where(ok, np.where(dm0_bare, ratio, np.minimum(ratio, 1.0)), 1.0)
    out["leadTkDeltaEta"] = np.where(ok, pk_eta - eta, 0.0)
    out["leadTkDeltaPhi"] = np.where(ok, np.arctan2(np.sin(pk_phi - phi), np.cos(pk_phi - phi)), 0.0)
    out["rawIsodR03"] = tau_id.combined_iso(sums[:, 2], sums[:, 3], sums[:, 4], tau_id.DBETA_DR03)

    # ---- links and discriminators derived from the reco collections
    out["idDecayModeOldDMs"] = tau_id.decay_mode_finding_old(dm)
    out["eleIdx"] = tau_links.lepton_index(electrons, evt, pt, eta, phi)
    out["muIdx"] = tau_links.lepton_index(muons, evt, pt, eta, phi)
    out["idAntiMu"] = tau_links.anti_muon_id(muons, evt, pt, eta, phi, dm)

    # ---- DeepTau VSe / VSmu: latent correlated with the VSjet latent, shifted by the tau's truth
    raw_jet = t["rawDeepTau2018v2p5VSjet"]
    u_jet = np.where(fake, np.interp(raw_jet, *SCORE_CDF["fake"]), np.interp(raw_jet, *SCORE_CDF["genuine"]))
    z_jet = ndtri(np.clip(u_jet, 1e-6, 1.0 - 1e-6))
    lead_pid = np.where(ok, np.abs(part["pdgId"][li]), 0)
    aeta = np.abs(eta)
    s_e = (np.select([dm == k for k in P["vse_dm_shift"]], list(P["vse_dm_shift"].values()), 0.0)
           + P["vse_crack"] * ((aeta > EB_MAX) & (aeta < EE_MIN))
           + P["vse_ele_match"] * (out["eleIdx"] >= 0)
           + P["vse_lead_e"] * (lead_pid == 11)
           + P["vse_fake"] * fake)
    p_lead = tpt * np.cosh(teta)
    s_mu = (P["vsmu_lead_mu"] * (lead_pid == 13)
            + P["vsmu_mu_match"] * (out["muIdx"] >= 0)
            + P["vsmu_mu_near"] * (out["idAntiMu"] < 2)
            + P["vsmu_punch"] * np.log1p(p_lead / 100.0))
    for name, rho, shift, (x, cdf) in (("VSe", P["vse_rho"], s_e, SCORE_CDF_E),
                                       ("VSmu", P["vsmu_rho"], s_mu, SCORE_CDF_MU)):
        z = rho * z_jet + np.sqrt(1.0 - rho * rho) * rng.standard_normal(n) + shift
        out[f"rawDeepTau2018v2p5{name}"] = np.interp(ndtr(z), cdf, x)

    out["rawIso"] = tau_id.combined_iso(out["chargedIso"], out["neutralIso"], out["puCorr"])
    out["idDeepTau2018v2p5VSe"] = tau_id.deeptau_id(out["rawDeepTau2018v2p5VSe"], "e")
    out["idDeepTau2018v2p5VSmu"] = tau_id.deeptau_id(out["rawDeepTau2018v2p5VSmu"], "mu")
    return out


# ---------------------------------------------------------------- main


def reconstruct_taus(
    truth: ak.Array,
    genvistau: ak.Array,
    jets: ak.Array,
    rng: np.random.Generator,
    *,
    pu: ak.Array | None = None,
    iso_cands: dict | None = None,
    muons: ak.Array | None = None,
    electrons: ak.Array | None = None,
) -> ak.Array:
    """NanoAOD ``Tau`` collection (see the module docstring).

    Arguments:
        truth: the truth record (:func:`.truth.make_truth`).
        genvistau: the final (pT-ordered) ``GenVisTau`` collection (:func:`.genlevel.gen_collections`).
        jets: the final reco ``Jet`` collection (pT-ordered).
        rng: the stage's random generator.
        pu: the pileup particles (:func:`.pileup.simulate_pileup`), used when ``iso_cands`` is None;
            without both the isolation sees the hard event only (``puCorr`` 0).
        iso_cands: the isolation inputs (:func:`.isolation.candidates`) shared with the lepton stages.
        muons, electrons: the final reco ``Muon`` / ``Electron`` collections (``eleIdx``, ``muIdx``,
            ``idAntiMu`` and the VSe / VSmu shifts); None: no leptons (links -1, ``idAntiMu`` 2).

    Returns:
        The jagged ``Tau`` records, pT-descending, cast to NanoAOD v12 dtypes. Example in
        the module docstring.
    """
    P = PARAMS
    n_ev = len(truth)
    p = truth.particles
    p_counts = np.asarray(ak.num(p), dtype=np.int64)
    p_off = _offsets(p_counts)
    part = {k: _flat(p, k) for k in ("pt", "eta", "phi", "px", "py", "pz", "vx", "vy", "vz", "charge", "pdgId",
                                     "tauIdx", "statusFlags")}
    apid = np.abs(part["pdgId"])
    pvis = ~((apid == 12) | (apid == 14) | (apid == 16))
    pch = part["charge"].astype(np.float64)
    ptau = part["tauIdx"].astype(np.int64)

    # ---- genuine taus
    g_counts = np.asarray(ak.num(genvistau), dtype=np.int64)
    g_off = _offsets(g_counts)
    g_evt = np.repeat(np.arange(n_ev), g_counts)
    g_local = np.arange(len(g_evt)) - g_off[g_evt]
    g = {k: _flat(genvistau, k).astype(np.float64) for k in ("pt", "eta", "phi", "mass", "charge")}
    g_status = _flat(genvistau, "status").astype(np.int64)
    g_mother = _flat(genvistau, "genPartIdxMother").astype(np.int64)
    # the decay record of each GenVisTau (prong count for "other", leading charged track)
    d = genlevel.tau_decays(truth)
    m = int(max(d["genPartIdx"].max(initial=0), g_mother.max(initial=0))) + 1
    dkey = d["event"] * m + d["genPartIdx"]
    row = np.searchsorted(dkey, g_evt * m + g_mother)
    row = np.minimum(row, max(len(dkey) - 1, 0))
    n_ch = d["n_charged"][row] if len(dkey) else np.zeros(0, np.int64)
    lead = d["lead"][row] if len(dkey) else np.zeros(0, np.int64)
    _, g_iso, _, _, _ = _cones(g_off, g["eta"], g["phi"], g_mother, p_off, part["eta"], part["phi"], part["pt"],
                               pch, pvis, ptau, P["core_dr"], P["iso_dr"])
    g_core, _, _, _, _ = _cones(g_off, g["eta"], g["phi"], g_mother, p_off, part["eta"], part["phi"], part["pt"],
                                pch * 0, pvis & (pch == 0), ptau, P["core_dr"], P["core_dr"])

    ng = len(g_evt)
    plateau = np.array([P["plateau"].get(s, 0.0) for s in range(16)])[np.minimum(g_status, 15)]
    plateau = np.where((g_status == 15) & (n_ch != 1) & (n_ch != 3), 0.0, plateau)
    turnon = 1.0 / (1.0 + np.exp(-(g["pt"] - P["turnon_pt50"]) / P["turnon_width"]))
    found = rng.random(ng) < plateau * turnon
    mig_keys = [0, 1, 2, 10, 11]
    probs = np.zeros((ng, 5))
    for k in mig_keys:
        probs[g_status == k] = MIGRATION[k]
    probs[(g_status == 15) & (n_ch == 1)] = MIGRATION["15_1"]
    probs[(g_status == 15) & (n_ch != 1)] = MIGRATION["15_3"]
    dm = _DMS[_choice(rng, probs)]
    sigma = np.select([dm == k for k in mig_keys], [P["resp_sigma"][k] for k in mig_keys])
    tail = np.where(rng.random(ng) < P["resp_tail_prob"], rng.exponential(P["resp_tail_mean"], ng), 0.0)
    resp = 1.0 + sigma * rng.standard_normal(ng) - tail
    lost_pi0 = ((g_status == 1) | (g_status == 2) | (g_status == 11)) & ((dm == 0) | (dm == 10))
    resp = np.where(lost_pi0, resp * P["lost_pi0_scale"], resp)
    gt_pt = np.maximum(g["pt"] * resp + P["resp_core_activity"] * g_core, 0.1)
    gt_eta = g["eta"] + P["pos_sigma"] * rng.standard_normal(ng)
    gt_phi = g["phi"] + P["pos_sigma"] * rng.standard_normal(ng)
    prongs = np.where(dm >= 10, 3, 1)
    flip = rng.random(ng) < np.where(prongs == 3, P["charge_flip"][3], P["charge_flip"][1])
    gt_q = np.where(flip, -g["charge"], g["charge"])
    gt_q = np.where(gt_q == 0, np.where(rng.random(ng) < 0.5, 1, -1), np.sign(gt_q))
    gt_mass = _mass(rng, dm, g["mass"])
    gt_raw = _score(rng, "genuine", -P["iso_beta"] * (g_iso / np.maximum(g["pt"], 1.0) - P["iso_ref"]))
    gt_dxy, gt_dz = _ip(rng, lead, part)

    # ---- jet fakes
    j_counts = np.asarray(ak.num(jets), dtype=np.int64)
    j_off = _offsets(j_counts)
    j_evt = np.repeat(np.arange(n_ev), j_counts)
    j = {k: _flat(jets, k).astype(np.float64) for k in ("pt", "eta", "phi")}
    j_hf = _flat(jets, "hadronFlavour").astype(np.int64)
    j_pf = np.abs(_flat(jets, "partonFlavour").astype(np.int64))
    nj = len(j_evt)
    no_tau = np.full(nj, -2, np.int64)
    j_core, _, j_nch, j_lead, j_q = _cones(j_off, j["eta"], j["phi"], no_tau, p_off, part["eta"], part["phi"],
                                           part["pt"], pch, pvis & ((pch != 0) | (apid == 22)), ptau,
                                           P["core_dr"], P["core_dr"])
    lead_pt = np.where(j_lead >= 0, part["pt"][np.maximum(j_lead, 0)], 0.0)
    z_lead = lead_pt / np.maximum(j["pt"], 1.0)
    # vetoes: GenVisTau and prompt (or prompt-tau) e/mu near the jet
    veto = _closest(j_off, j["eta"], j["phi"], g_off, g["eta"], g["phi"], P["fake_veto_dr"]) >= 0
    flags = part["statusFlags"].astype(np.int64)
    lep = ((apid == 11) | (apid == 13)) & ((flags & _PROMPT_OR_PROMPT_TAU) != 0) & (part["pt"] > P["fake_lep_pt"])
    l_counts = np.bincount(np.repeat(np.arange(n_ev), p_counts)[lep], minlength=n_ev)
    veto |= _closest(j_off, j["eta"], j["phi"], _offsets(l_counts), part["eta"][lep], part["phi"][lep],
                     P["fake_veto_dr"]) >= 0
    rate = np.select(
        [j_hf == 5, j_hf == 4, (j_pf == 21) | (j_pf == 0)],
        [P["fake_rate"]["b"], P["fake_rate"]["c"], P["fake_rate"]["gluon"]],
        P["fake_rate"]["quark"],
    )
    rate = rate * (j["pt"] / 30.0) ** P["fake_pt_slope"] * np.clip(z_lead / P["fake_zlead_ref"], 0.1, 3.0)
    cand = (j["pt"] > P["fake_jet_pt_min"]) & (np.abs(j["eta"]) < P["eta_max"]) & ~veto & (j_nch > 0)
    fake = cand & (rng.random(nj) < np.minimum(rate, 0.5))
    fprobs = np.array([FAKE_DM[1], FAKE_DM[1], FAKE_DM[2], FAKE_DM[3]])[np.clip(j_nch, 0, 3)]
    f_dm = _DMS[_choice(rng, fprobs)]
    f_pt = j_core * (1.0 + P["fake_resp_sigma"] * rng.standard_normal(nj))
    f_eta = j["eta"] + P["fake_pos_sigma"] * rng.standard_normal(nj)
    f_phi = j["phi"] + P["fake_pos_sigma"] * rng.standard_normal(nj)
    f_q = np.where(j_q != 0, np.sign(j_q), np.where(rng.random(nj) < 0.5, 1.0, -1.0))
    f_mass = _mass(rng, f_dm, None)
    f_raw = _score(rng, "fake", P["fake_zlead_gamma"] * (z_lead - P["fake_score_zref"]))
    f_dxy, f_dz = _ip(rng, j_lead, part)

    # ---- merge, select, sort
    def cat(a, b):
        return np.concatenate([a[found], b[fake]])

    t = {
        "evt": cat(g_evt, j_evt),
        "pt": cat(gt_pt, f_pt),
        "eta": cat(gt_eta, f_eta),
        "phi": cat(gt_phi, f_phi),
        "mass": cat(gt_mass, f_mass),
        "charge": cat(gt_q, f_q),
        "dxy": cat(gt_dxy, f_dxy),
        "dz": cat(gt_dz, f_dz),
        "decayMode": cat(dm, f_dm),
        "rawDeepTau2018v2p5VSjet": cat(gt_raw, f_raw),
        "genPartIdx": cat(g_local, np.full(nj, -1)),
        "genPartFlav": cat(np.full(ng, 5), np.zeros(nj, np.int64)),
        # hidden (not written): the tau's GenPart index (own descendants), leading truth track, origin
        "_own": cat(g_mother, np.full(nj, -2)),
        "_lead": cat(lead, j_lead),
        "_fake": cat(np.zeros(ng, bool), np.ones(nj, bool)),
    }
    t["phi"] = np.arctan2(np.sin(t["phi"]), np.cos(t["phi"]))
    t["idDeepTau2018v2p5VSjet"] = np.searchsorted(WP_VSJET, t["rawDeepTau2018v2p5VSjet"], side="right")
    keep = (t["pt"] > P["pt_min"]) & (np.abs(t["eta"]) < P["eta_max"]) & (t["idDeepTau2018v2p5VSjet"] >= 1)
    t = {k: v[keep] for k, v in t.items()}
    order = np.lexsort((-t["pt"], t["evt"]))
    t = {k: v[order] for k, v in t.items()}
    evt = t.pop("evt")
    counts = np.bincount(evt, minlength=n_ev)
    t_off = _offsets(counts)
    t["jetIdx"] = _closest(t_off, t["eta"], t["phi"], j_off, j["eta"], j["phi"], P["jet_dr"])
    t["idDecayModeNewDMs"] = np.ones(len(t["pt"]), bool)
    if iso_cands is None:
        iso_cands = isolation.candidates(truth, pu)
    hidden = {k: t.pop(k) for k in ("_own", "_lead", "_fake")}
    t.update(_new_fields(t, hidden, evt, t_off, part, iso_cands, muons, electrons, rng))
    return ak.to_packed(schema.cast("Tau", ak.unflatten(ak.zip(t, depth_limit=1), counts)))
