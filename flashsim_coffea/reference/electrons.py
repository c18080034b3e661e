"""Reference-detector electrons (NanoAOD ``Electron``) and the e/gamma superclustering.

:func:`superclusters` groups the hard-event EM particles (e, gamma) into ECAL
superclusters (SC): a greedy window |d eta| < 0.05, |d phi| < 0.15 (mustache-like,
spread in phi by the field) [mem], electrons seeding first, then photons by energy.
A SC collects FSR/brem photons of an electron and both photons of an energetic pi0.

:func:`reconstruct_electrons` makes

* **genuine electrons** from truth electrons seeding a SC (pT > 5, abs(eta) < 2.5):
  efficiency 95% / 85% barrel / endcap [card] x a low-pT turn-on [mem], halved in the
  EB-EE gap (1.444-1.566); energy = SC energy smeared with the card ECAL resolution
  (notes section 6, scaled to the [meas] prompt sigma68 2.5% / 3.7%) and a low-side
  bremsstrahlung tail growing with the tracker material;
* **conversions**: truth photons seeding a SC, converted early and reconstructed as an
  electron with a probability growing with abs(eta) (5-15%) [mem];
* **hadron fakes**: hard-event pi/K with pT > 5 GeV [mem, rates tuned to the 0.84
  unmatched electrons per ttbar event of [meas] nano_tt_v12].

Shower shapes (sieie, r9, H/E) follow from the SC content and the hadronic activity
behind it. The track: the GSF momentum at the vertex loses a Bethe-Heitler fraction in the
material before it (low tail of ``eInvMinusPInv`` = 1/E - 1/p); the track-cluster match
(``dEtaInSeed``, ``dPhiIn``, not written) is a latent mismatch in resolution units, larger
for conversions and fakes. ``vidNestedWPBitmap`` packs, per cut of the RunIIIWinter22-V1
cut flow (cut values read off nano_tt_v12's bitmap), the number of WPs passed, and
``cutBased`` is its minimum (:mod:`flashsim_coffea.nanoaod.egamma_id`); likewise the HEEP
V7.0 bitmap and ``cutBased_HEEP``. ``mvaIso`` is a smooth function of the same quantities,
its WP80/WP90 cuts calibrated on prompt isolated electrons (80/90%); ``mvaNoIso`` the same
without the isolation term (WPs pT/eta-dependent), ``mvaHZZIso`` another weighting.
The detector isolations ``dr03*`` sum tracks, ECAL and HCAL-depth-1 deposits of the hard
event and PU in their cones (Jurassic ECAL veto, ECAL noise), written for pT > 35 GeV as
NanoAOD v12 does. ``seediEtaOriX``/``seediPhiOriY``: the crystal at the SC position (the
track bent to the ECAL); ``seedGain``: the MGPA gain the seed crystal's energy needs.

The seven fields electrons share with muons (:func:`shared_lepton_fields`, the functions of
:mod:`.leptons` and :mod:`.isolation`): ``pfRelIso03_chg`` and ``miniPFRelIso_chg`` (the charged PV
part of the same cones), ``jetRelIso`` / ``jetPtRelv2`` (exact NanoAOD definitions from the written
electron and its jet, ``pfRelIso03_all`` without a jet), ``jetNDauCharged`` (the jet's charged tracks
near the electron, its own GSF track if it passes the track-quality cuts), ``tightCharge`` from the
three charge estimates (:func:`charge_estimates`: the GSF track, the CTF track sharing its inner hits,
the supercluster position against the innermost hit) and the prompt-lepton score ``mvaTTH`` (its
inputs include ``mvaNoIso``).

Example:
    Two Drell-Yan events (Z -> ee, Z -> mumu), without pileup or jets: both electrons
    of event 0 are prompt and pass the WP90 MVA; the leading one radiated most of its
    energy as FSR photons that its supercluster collects, so its track momentum is far
    below the SC energy and it fails the 1/E - 1/p cut beyond the veto WP (cut 6).

    >>> from flashsim_coffea.reference.pythia import generate_block
    >>> from flashsim_coffea.reference.truth import make_truth
    >>> truth = make_truth(generate_block("dy", n=2, seed=1))
    >>> ele = reconstruct_electrons(truth, None, None, np.random.default_rng(1))
    >>> ele.pt
    <Array [[71.3, 25.6], []] type='2 * var * float32'>
    >>> ele.charge.tolist(), ele.genPartFlav.tolist(), ele.cutBased.tolist(), ele.mvaIso_WP90.tolist()
    ([[-1, 1], []], [[1, 1], []], [[1, 3], []], [[True, True], []])

    ``cutBased`` is the minimum over the bitmap's ten 3-bit cut levels:

    >>> from flashsim_coffea.nanoaod.egamma_id import unpack_vid
    >>> unpack_vid(ak.flatten(ele.vidNestedWPBitmap), len(ELECTRON_CUTS), 3).tolist()
    [[4, 4, 4, 4, 4, 4, 1, 4, 4, 4], [4, 4, 4, 4, 4, 4, 3, 4, 4, 4]]
"""

from __future__ import annotations

import awkward as ak
import numba
import numpy as np
from scipy.special import erfc

from flashsim_coffea.nanoaod import ecal_geometry as geo
from flashsim_coffea.nanoaod.derived import jet_index
from flashsim_coffea.nanoaod.egamma_id import (
    ELECTRON_CUTS,
    HEEP_CUTS,
    MVA_ISO_WP,
    MVA_NOISO_WP,
    TRACK_SUM_PT_MIN,
    all_pass,
    cut_based,
    dr03_written,
    electron_cut_levels,
    heep_cut_bits,
    mva_wp,
    pack_vid,
)
from flashsim_coffea.reference import isolation as iso
from flashsim_coffea.reference import leptons
from flashsim_coffea.reference.leptons import PARAMS as LEPTON_PARAMS
from flashsim_coffea.reference.leptons import finish, gen_flavour, hadron_candidates, impact_parameters, logistic, truth_flat

MASS = 0.000511

PARAMS: dict = {
    "pt_min": 5.0,  # NanoAOD Electron pt>5 (notes section 4)
    "eta_max": 2.5,  # tracker [card]
    "gap": (1.444, 1.566),  # EB-EE transition [mem]
    "gap_eff": 0.5,  # [mem]
    "sc_deta": 0.05,  # SC window [mem]
    "sc_dphi": 0.15,
    "sc_seed_e": 1.0,  # GeV
    "eff_plateau": (0.95, 0.85),  # barrel / endcap [card]
    "eff_pt0": 7.0,  # GeV, logistic turn-on of GSF reconstruction [mem]
    "eff_ptwidth": 1.5,
    # ECAL resolution: card formula (notes section 6) x this factor, tuned to the [meas]
    # nano_tt_v12 prompt sigma68 2.5% (barrel) / 3.7% (endcap) [derived]
    "ecal_scale": 0.8,
    # bremsstrahlung lost from the SC: probability 0.1 -> 0.3 with material, loss ~ Exp(4%) [mem]
    "brem_prob": (0.1, 0.2),
    "brem_loss": 0.03,
    "gap_res": 2.0,  # resolution x2 in the gap [mem]
    "pos_res": 0.0005,  # eta/phi of the GSF track [mem]
    # deltaEtaSC: SC eta is computed from (0,0,0), the electron from the PV (PV_z ~ N(1.46, 3.59) cm
    # [meas] nano_tt_v12); ECAL front: barrel r = 129 cm, endcap z = 315 cm [card geometry]
    "pv_z_cm": (1.46, 3.59),
    "ecal_r_cm": 129.0,
    "ecal_z_cm": 315.0,
    "sc_pos_res": 0.002,
    "ip_scale": 1.3,  # electron tracks (GSF, brem) have worse IP than muons [mem]
    # conversions: P(photon -> reconstructed electron) = a + b min(abs(eta), 2) (material) [mem]
    "conv_a": 0.04,
    "conv_b": 0.04,
    # hadron fakes per pi/K with pT > 5 GeV in the tracker [mem, tuned to [meas] rate]
    "fake_prob": 0.08,
    # ID inputs [mem] typical prompt shapes; [meas] nano_tt_v12 medians: prompt sieie 0.0089,
    # r9 0.93, hoe 0.017; fakes hoe 0.16, sieie 0.0144
    "sieie_ref": (0.0090, 0.0260),  # barrel, endcap
    "sieie_spread": 0.08,
    "match_shift": {"prompt": 0.0, "nonprompt": 0.5, "conversion": 1.0, "fake": 2.5},
    "lost_hits_prompt": 0.06,  # P(lostHits >= 1) [meas] prompt 6%
    # track-cluster match: the latent mismatch m (resolution units, drawn per kind above) splits into
    # dEtaInSeed = m cos(a) s_eta and dPhiIn = m sin(a) s_phi(pT), a ~ U(0, pi/2); s_phi = a (+) b/pT;
    # widths tuned to the [meas] nano_tt_v12 per-cut levels (prompt: 96% pass tight dEta and dPhi;
    # others: 30% fail the veto dEta, 92% pass tight dPhi; here 96% / 100% and 15% / 90%) [derived]
    "match_deta": (0.0025, 0.004),  # barrel, endcap
    "match_dphi": (0.02, 0.25),  # a, b (GeV)
    # GSF momentum at the vertex: Bethe-Heitler loss p -> p exp(-X), X ~ Gamma(t/ln 2) with t the material
    # (X0) before the estimate: a fraction of the tracker material budget t_trk(abs(eta)) (0.4 X0 at eta 0,
    # ~1.8 X0 at 1.5, ~1 X0 at 2.5 [mem] CMS tracker, JINST 3 S08004), the fraction tuned to the [meas]
    # prompt median E/p 1.06 of nano_tt_v12 [derived]; resolution sqrt(a^2 + (b pT)^2): a per abs(eta)
    # < 0.9 / 1.5 / 2.5 from the Z->ee 1.7-4.5% [mem] arXiv:1502.02701, b as muon tracks [card]
    "trk_x0_eta": (0.0, 1.0, 1.5, 2.0, 2.5),
    "trk_x0": (0.4, 1.0, 1.8, 1.3, 1.0),  # [mem] material budget (X0)
    "gsf_x0_frac": 0.15,  # [derived] prompt E/p
    "trk_res_a": (0.017, 0.03, 0.045),  # [mem] arXiv:1502.02701
    "trk_res_b": (1.0e-4, 1.5e-4, 3.5e-4),  # [card] muon tracks
    # SC energy (superCluster energy, under scEtOverPt and the H/E cut) = E (1 - L), L = 1 - exp(-a s^2)
    # + N(0, sigma), s = min(1 - r9, s_max): the containment the electron regression restores, growing with the
    # shower spread; scEtOverPt = SC E_T over the pT of the E-p combination (ECAL and GSF measurements weighted by
    # their errors [mem] arXiv:1502.02701); a, sigma tuned to the [meas] prompt scEtOverPt quartiles
    # -0.064 / -0.024 / -0.009 [derived]
    "sc_corr_a": 8.0,
    "sc_corr_s": 0.01,  # [derived]
    "sc_corr_spread_max": 0.25,  # [design] bounds L for very spread clusters
    # ECAL/track geometry (nanoaod.ecal_geometry, shared with the flash side, which derives seediEtaOriX/
    # seediPhiOriY from eta, deltaEtaSC, phi, pt, charge the same way): bending to the ECAL front
    # dphi = asin(0.3 B R / (2 pT)), B 3.8 T, R 1.29 m [card] ([meas] nano_tt_v12 seed crystals: 0.726 rad GeV);
    # EB crystal 0.0174 in eta and 1 deg in phi [card]; EE crystal pitch 2.99 cm at z = 3.154 m [meas] fit
    "b_tesla": geo.B_TESLA,
    "ecal_r_m": geo.ECAL_R_M,  # [card]
    "eb_crystal": geo.EB_CRYSTAL_ETA,  # [card]
    # seed crystal energy = f r9 E_SC (f = 0.7: the impact crystal's share of a 3x3 EM shower, averaged over
    # impact points [mem]); MGPA gains 12 / 6 / 1 [mem] ECAL TDR, gain 12 up to ~200 GeV (EB) / 400 GeV (EE),
    # gain 6 to twice that [mem] (EGM gain-switch studies; [meas] nano_tt_v12: an EB electron with a ~180 GeV
    # seed is still gain 12)
    "seed_frac": 0.7,
    "gain12_max": (200.0, 400.0),  # [mem] + [meas] bound
    # detector isolations (the dr03* fields, written for pT > 35 GeV as NanoAOD v12 does [meas],
    # nanoaod.egamma_id.dr03_written):
    # tracks: 0.015 < dR < 0.3, |deta| > 0.015, pT > 0.7 GeV, |dz| < 2 mm [mem] (EgammaTrackIsolation);
    # HEEP tracks: |deta| > 0.005, pT > 1 GeV, |dz| < 1 mm [mem] (heepIDVarValueMaps); ECAL rechits (Jurassic):
    # 3 crystals < dR < 0.3, |deta| > 1.5 crystals; HCAL depth 1: 0.15 < dR < 0.3 [mem]
    "tk_inner": 0.015,
    "tk_strip": 0.015,  # [mem]
    "tk_pt_min": TRACK_SUM_PT_MIN["dr03TkSumPt"],  # [mem]
    "tk_dz_mm": 2.0,  # [mem]
    "heep_strip": 0.005,  # [mem]
    "heep_pt_min": TRACK_SUM_PT_MIN["dr03TkSumPtHEEP"],  # [mem]
    "heep_dz_mm": 1.0,  # [mem]
    "ecal_inner_xtal": 3.0,  # [mem]
    "ecal_strip_xtal": 1.5,  # [mem]
    "hcal_inner": 0.15,  # [mem]
    # deposits: e/gamma all E_T in ECAL; charged hadrons (pT above the 0.735 GeV needed to reach the ECAL) a MIP
    # 0.23 GeV in 23 cm of PbWO4 [PDG], the rest in HCAL; K0S/Lambda 30% ECAL, 70% HCAL [card]; depth 1 holds
    # a fraction of the hadronic E_T, tuned to the [meas] non-prompt HCAL/track isolation ratio 0.13 [derived]
    "mip_gev": 0.23,
    "hcal_depth1_frac": 0.3,  # [derived]
    # rechit thresholds and noise: EB E > 95 MeV, EE E_T > 110 MeV [mem] (EgammaRecHitIsolation); electronic
    # noise per crystal 40 MeV (EB), 150 MeV (EE) [mem] arXiv:1306.2016; the noise above threshold summed over
    # the crystals of the cone (Gaussian with the analytic mean and variance)
    "ecal_thr": (0.095, 0.110),
    "ecal_noise": (0.040, 0.150),  # [mem] arXiv:1306.2016
    # E2x5/E5x5 = 1 - 0.25 (1 - r9), E1x5/E5x5 = 1 - 1.5 (1 - r9): the strip fractions of the 5x5 energy fall with
    # the spread that lowers r9 [design]
    "e2x5_slope": 0.25,
    "e1x5_slope": 1.5,  # [design]
    # ECAL-driven seeding: SC E_T > 4 GeV, H/E < 0.15, and a pixel seed in the SC-driven window
    # (|dPhiIn| < 0.08) [mem] (ecalDrivenElectronSeeds)
    "ecal_driven_et": 4.0,
    "ecal_driven_hoe": 0.15,  # [mem]
    "ecal_driven_dphi": 0.08,  # [mem]
    # mvaIso = tanh(k (c - badness)); WP thresholds on the score calibrated to 90/80% [derived]
    "mva_k": 1.2,
    "mva_c": 3.0,
    "mva_iso_wp": MVA_ISO_WP,  # nanoaod.egamma_id.MVA_ISO_WP: one cut per WP in every region
    # mvaNoIso: the same badness without its isolation term; WPs pT/eta-dependent (nanoaod.egamma_id.MVA_NOISO_WP)
    "mva_noiso_wp": MVA_NOISO_WP,
    # mvaHZZIso: the HZZ training (low-pT electrons, PF isolation and 1/E-1/p among its inputs) weighs the same
    # inputs differently [design]: weights of match, sieie, H/E, isolation, r9, lost hits, conversion, |1/E-1/p|
    "hzz_w": (0.8, 6.0, 8.0, 4.0, 2.0, 1.0, 3.0, 30.0),
    "hzz_k": 1.0,  # [design]
    "hzz_c": 3.0,  # [design]
    # PF electrons (isPFcand): the PF e/gamma filters keep an electron whose e/pi discriminant passes a cut,
    # looser when it is isolated (relIso03 < 0.3) [mem] PFEGammaFilters; the discriminant here: a weighted sum
    # of the track-cluster mismatch, min(H/E, 1), missing hits and min(|1/E - 1/p|, 0.5) [design]; cuts tuned
    # to the [meas] nano_tt_v12 isPFcand fractions 98% (prompt), 56% (others) [derived]
    "pf_w": (1.0, 3.0, 0.5, 20.0),
    "pf_bad": 5.0,  # [derived]
    "pf_bad_iso": 7.0,  # [derived]
    "pf_iso": 0.3,  # [mem]
    # ---- the fields shared with muons (shared_lepton_fields)
    # jetNDauCharged: the electron's own GSF track counts as a jet daughter if it passes >= 8 hits, >= 2 pixel
    # hits, chi2/ndof < 5 [code: LeptonJetVarProducer.cc]: >= 2 pixel hits of the 4 Phase-1 pixel layers means at
    # most 2 missing inner hits [design]; chi2 < 5 for most GSF fits (a kinked brem fit fails) [mem]
    "ndau_self_lost_max": 2,
    "ndau_self_chi2": 0.9,  # [mem]
    # tightCharge = isGsfScPixChargeConsistent + isGsfCtfScPixChargeConsistent [code: PhysicsTools/NanoAOD
    # electrons_cff.py] from three charge estimates [mem] arXiv:1502.02701 sec. 4.4 (CMS EGM-13-001: the GSF
    # charge alone is misidentified at the per-cent level for showering electrons; requiring the three
    # estimates to agree brings the misID to ~0.1-0.3% at an efficiency cost of a few per cent):
    # * CTF: the closest KF track sharing the GSF's inner hits; KF tracking of electrons loses showering
    #   tracks, most at low pT [mem] arXiv:1405.6569 (electron tracking efficiency ~85-90% at a few GeV,
    #   ~97% at high pT): P(CTF) = plateau x logistic((pT - p0) / w), tuned to the [meas] nano_tt_v12
    #   tightCharge = 1 fractions (non-prompt: 12% at pT 5-10 GeV, 3% above; prompt 0 of 48) [derived];
    #   hadron fakes are their own CTF track. The CTF charge flips with the GSF's when the GSF picked wrong
    #   inner hits from an early brem conversion (the hits they share) with probability ctf_shared_flip
    #   [design], else from its curvature resolution (trk_res_a/b, Gaussian tail)
    "ctf_plateau": 0.985,  # [mem] arXiv:1405.6569
    "ctf_p0": 4.5,  # [derived]
    "ctf_w": 2.5,  # [derived]
    "ctf_shared_flip": 0.5,  # [design]
    # * SC-pixel: sign of the azimuth of the SC (from the beam spot) against that of the innermost hit
    #   [code: GsfElectronAlgo.cc scPixCharge]. The SC azimuth is the energy-weighted mean of its deposits
    #   (sc_offset): the track's own deposit at its impact point, bent by -q asin(0.3 B R / (2 pT))
    #   (nanoaod.ecal_geometry.bend; a conversion leg's deposit is its photon's, unbent: the two legs'
    #   bendings cancel in the energy-weighted position, E_i x 1/E_i each), plus the hard-event photons and
    #   electrons inside the SC window (sc_deta, sc_dphi: FSR, pi0 photons of a jet), electrons bent by their
    #   own charge; measured with the SC position resolution, ~1 / 2 mrad barrel / endcap for an
    #   electromagnetic shower including the tracker-ECAL alignment [mem] CMS ECAL, JINST 8 P09009
    "scpix_pos_res": (0.001, 0.002),  # [mem]
}


# ---------------------------------------------------------------------------- superclusters
@numba.njit(cache=True)
def _greedy_sc(off, eta, phi, e, prio, deta, dphi, seed_e):  # pragma: no cover - numba
    n = len(eta)
    owner = np.full(n, -1, np.int64)
    sc_e = np.zeros(n)
    n_ev = len(off) - 1
    for ev in range(n_ev):
        a, b = off[ev], off[ev + 1]
        idx = np.arange(a, b)
        key = -(e[a:b] + prio[a:b] * 1e9)
        order = idx[np.argsort(key)]
        for ii in range(len(order)):
            i = order[ii]
            if owner[i] >= 0 or e[i] < seed_e:
                continue
            owner[i] = i
            tot = e[i]
            for jj in range(ii + 1, len(order)):
                j = order[jj]
                if owner[j] >= 0 or prio[j] > 0:
                    continue
                dp = (phi[j] - phi[i] + np.pi) % (2 * np.pi) - np.pi
                if abs(eta[j] - eta[i]) < deta and abs(dp) < dphi:
                    owner[j] = i
                    tot += e[j]
            sc_e[i] = tot
    return owner, sc_e


def superclusters(t: dict) -> dict[str, np.ndarray]:
    """SCs of the hard-event e/gamma (flat truth dict from :func:`leptons.truth_flat`).

    Returns per truth particle ``sc_e`` (SC energy, GeV, non-zero for seeds) and
    ``owner`` (flat index of the seed whose SC contains it, -1 if none)."""
    a = np.abs(t["pdgId"])
    em = np.flatnonzero(((a == 11) | (a == 22)) & (np.abs(t["eta"]) < 3.0) & (t["pt"] > 0.5))
    off = np.concatenate([[0], np.cumsum(np.bincount(t["evt"][em], minlength=t["n_ev"]))]).astype(np.int64)
    owner, sc_e = _greedy_sc(
        off, t["eta"][em], t["phi"][em], t["energy"][em], (a[em] == 11).astype(np.int64),
        PARAMS["sc_deta"], PARAMS["sc_dphi"], PARAMS["sc_seed_e"],
    )
    n = len(t["pt"])
    out_e, out_o = np.zeros(n), np.full(n, -1, np.int64)
    out_e[em] = sc_e
    out_o[em] = np.where(owner >= 0, em[np.maximum(owner, 0)], -1)
    return {"sc_e": out_e, "owner": out_o}


def ecal_sigma(e: np.ndarray, aeta: np.ndarray) -> np.ndarray:
    """ECAL sigma(E) in GeV [card] (notes section 6)."""
    base = np.sqrt((0.008 * e) ** 2 + 0.11**2 * e + 0.40**2)
    return np.where(aeta < 1.5, (1 + 0.64 * aeta**2) * base, (2.16 + 5.6 * (aeta - 2) ** 2) * base)


def delta_eta_sc(eta: np.ndarray, pv_z_cm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """eta_SC (from the origin) - eta (from the PV): z_PV / distance to the ECAL face."""
    aeta = np.abs(eta)
    d = np.where(aeta < 1.479, PARAMS["ecal_r_cm"] * np.cosh(eta), PARAMS["ecal_z_cm"] / np.tanh(np.maximum(aeta, 1e-3)))
    return pv_z_cm / d + PARAMS["sc_pos_res"] * rng.standard_normal(len(eta))


def _wp_index(aeta: np.ndarray) -> np.ndarray:
    return (aeta > 1.479).astype(np.int64)


# ---------------------------------------------------------------------------- electrons
def reconstruct_electrons(
    truth: ak.Array,
    pu: ak.Array | None,
    jets: ak.Array | None,
    rng: np.random.Generator,
    *,
    rho: np.ndarray | None = None,
    pv_z: np.ndarray | None = None,
    iso_cands: dict | None = None,
) -> ak.Array:
    """NanoAOD ``Electron`` collection (see the module docstring).

    Arguments:
        truth: the truth record (:func:`.truth.make_truth`).
        pu: the PU particles (:func:`.pileup.simulate_pileup`), or None (no pileup).
        jets: the final reco ``Jet`` collection for ``jetIdx``, or None (``jetIdx`` -1).
        rng: the stage's random generator.
        rho: ``Rho_fixedGridRhoFastjetAll`` (GeV) for the rho x EA isolation correction
            (default from the number of PU vertices, :func:`.isolation.default_rho`).
        pv_z: ``PV_z`` (cm) per event for ``deltaEtaSC`` (default drawn).
        iso_cands: precomputed :func:`.isolation.candidates` (shared with muons/photons).

    Returns:
        The jagged ``Electron`` records, pT-descending, cast to NanoAOD v12 dtypes.
    """
    t = truth_flat(truth)
    n_ev = t["n_ev"]
    cands = iso_cands if iso_cands is not None else iso.candidates(truth, pu)
    rho = iso.default_rho(cands) if rho is None else np.asarray(rho, np.float64)
    if pv_z is None:
        pv_z = rng.normal(*PARAMS["pv_z_cm"], n_ev)
    sc = superclusters(t)
    a = np.abs(t["pdgId"])
    aeta_all = np.abs(t["eta"])
    in_acc = (aeta_all < PARAMS["eta_max"]) & (sc["owner"] == t["idx"])
    sc_pt = sc["sc_e"] / np.cosh(t["eta"])
    gap = (aeta_all > PARAMS["gap"][0]) & (aeta_all < PARAMS["gap"][1])

    # ---- genuine electrons
    g = np.flatnonzero(in_acc & (a == 11) & (t["pt"] > PARAMS["pt_min"] - 1.0))
    ge = np.abs(t["eta"][g])
    eff = np.where(ge < 1.479, *PARAMS["eff_plateau"]) * logistic((t["pt"][g] - PARAMS["eff_pt0"]) / PARAMS["eff_ptwidth"])
    eff = np.where(gap[g], eff * PARAMS["gap_eff"], eff)
    g = g[rng.random(len(g)) < eff]
    # ---- conversions
    c = np.flatnonzero(in_acc & (a == 22) & (sc_pt > PARAMS["pt_min"]))
    p_conv = PARAMS["conv_a"] + PARAMS["conv_b"] * np.minimum(np.abs(t["eta"][c]), 2.0)
    c = c[rng.random(len(c)) < p_conv]
    # ---- hadron fakes
    h = hadron_candidates(t, PARAMS["eta_max"], PARAMS["pt_min"])
    h = h[rng.random(len(h)) < PARAMS["fake_prob"]]

    src = np.concatenate([g, c, h])
    kind = np.concatenate([np.zeros(len(g), np.int64), np.ones(len(c), np.int64), np.full(len(h), 2)])
    n = len(src)
    evt = t["evt"][src]
    eta_t, phi_t = t["eta"][src], t["phi"][src]
    aeta = np.abs(eta_t)
    f_em = np.where(kind == 2, rng.uniform(0.5, 1.0, n), 1.0)
    e_true = np.where(kind == 2, f_em * t["energy"][src], sc["sc_e"][src])

    # ---- energy: ECAL resolution and brem losses
    sig = PARAMS["ecal_scale"] * ecal_sigma(e_true, aeta) * np.where(gap[src], PARAMS["gap_res"], 1.0)
    p_brem = PARAMS["brem_prob"][0] + PARAMS["brem_prob"][1] * np.minimum(aeta / 1.5, 1.0)
    brem = np.where(rng.random(n) < p_brem, np.minimum(rng.exponential(PARAMS["brem_loss"], n), 0.5), 0.0)
    e_reco = np.maximum(e_true * (1.0 - brem) + sig * rng.standard_normal(n), 0.1)
    eta = eta_t + PARAMS["pos_res"] * rng.standard_normal(n)
    phi = (phi_t + PARAMS["pos_res"] * rng.standard_normal(n) + np.pi) % (2 * np.pi) - np.pi
    pt = e_reco / np.cosh(eta)
    keep = pt > PARAMS["pt_min"]
    src, kind, evt, eta, phi, aeta, pt, e_reco, e_true, brem, f_em = (
        x[keep] for x in (src, kind, evt, eta, phi, aeta, pt, e_reco, e_true, brem, f_em)
    )
    n = len(src)
    q_true = t["charge"][src].astype(np.float64)
    q_trk = np.where(kind == 0, q_true, np.where(rng.random(n) < 0.5, 1.0, -1.0)).astype(np.int64)  # track's charge
    # rare charge mis-assignment from brem (GSF), ~0.1-1% growing with material [mem]
    flip = rng.random(n) < 0.002 + 0.004 * np.minimum(aeta / 1.5, 1.0)
    charge = np.where(flip, -q_trk, q_trk)

    # ---- impact parameters (conversions: displaced conversion vertex)
    mom = (pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta))
    ip_scale = np.where(kind == 1, 5.0 * PARAMS["ip_scale"], PARAMS["ip_scale"])
    ip = impact_parameters(t["vx"][src], t["vy"][src], t["vz"][src], *mom, rng, ip_scale)

    # ---- isolation
    vch, vph = iso.egamma_veto(aeta)
    s3 = iso.cone_sums(cands, evt, eta, phi, src, 0.3, vch, vph)
    s15 = iso.cone_sums(cands, evt, eta, phi, src, 0.15, vch, vph)
    ea = iso.effective_area(aeta, "electron")
    rel03 = iso.rel_iso_rho(s3, pt, rho[evt], ea)
    mini, mini_chg = iso.mini_rel_iso_parts(cands, evt, eta, phi, src, pt, rho[evt], ea, vch, vph)

    # ---- shower shapes and hidden quantities
    ec = _wp_index(aeta)
    hidden = shower_shapes(rng, kind, aeta, e_reco, e_true, brem, f_em, s15, t["energy"][src], sc["sc_e"][src], ec)
    shift = np.asarray([PARAMS["match_shift"][k] for k in ("prompt", "conversion", "fake")])[kind]
    flav_gen = np.where(kind == 2, -1, t["genPartIdx"][src])
    flav = gen_flavour(truth, evt, flav_gen, conversions=True)
    nonprompt = (kind == 0) & ~np.isin(flav, (1, 15))
    shift = shift + np.where(nonprompt, PARAMS["match_shift"]["nonprompt"], 0.0)
    match = np.abs(rng.standard_normal(n)) * np.where(kind == 2, 1.5, 1.0) + shift
    lost = np.where(
        kind == 1,
        rng.poisson(1.2, n),
        np.where(rng.random(n) < np.where(kind == 0, PARAMS["lost_hits_prompt"], 0.2), 1 + rng.poisson(0.2, n), 0),
    )
    conv_veto = np.where(kind == 1, rng.random(n) < 0.3, rng.random(n) < 0.995)
    bad = badness(hidden, rel03, lost, conv_veto, match, ec)
    mva = np.tanh(PARAMS["mva_k"] * (PARAMS["mva_c"] - bad))
    deta_sc = delta_eta_sc(eta, pv_z[evt], rng)
    energy_err = PARAMS["ecal_scale"] * ecal_sigma(e_reco, aeta) * np.exp(0.1 * rng.standard_normal(n))

    # ---- track, supercluster and seed crystal (drawn after the fields above, which keep their values)
    p_true = t["energy"][src] * np.where(kind == 1, conversion_leg_fraction(rng, n), 1.0)
    p_trk, p_err = gsf_momentum(rng, p_true, pt, aeta, kind == 2)
    eip = 1.0 / e_reco - 1.0 / p_trk
    eta_sc = eta + deta_sc
    ec_sc = (np.abs(eta_sc) > 1.479).astype(np.int64)
    angle = rng.uniform(0.0, 0.5 * np.pi, n)
    sign = np.where(rng.random((2, n)) < 0.5, -1.0, 1.0)
    s_phi = np.hypot(PARAMS["match_dphi"][0], PARAMS["match_dphi"][1] / pt)
    deta_in = sign[0] * match * np.cos(angle) * np.asarray(PARAMS["match_deta"])[ec_sc]
    dphi_in = sign[1] * match * np.sin(angle) * s_phi
    spread = np.clip(1.0 - hidden["r9"], 0.0, PARAMS["sc_corr_spread_max"])
    corr = 1.0 - np.exp(-PARAMS["sc_corr_a"] * spread**2) + PARAMS["sc_corr_s"] * rng.standard_normal(n)
    e_sc = e_reco * (1.0 - corr)
    # the E-p combined electron energy (weights: the ECAL and GSF errors) under scEtOverPt
    var_e, var_p = (PARAMS["ecal_scale"] * ecal_sigma(e_reco, aeta)) ** 2, (p_err * p_trk) ** 2
    e_comb = (e_reco * var_p + p_trk * var_e) / (var_e + var_p)
    phi_sc = geo.sc_phi(phi, eta_sc, pt, charge)
    ieta_ix, iphi_iy = geo.seed_indices(eta, deta_sc, phi, pt, charge)  # from the float32 fields, as flash does

    # ---- detector (non-PF) isolations
    dets = detector_isolation(t, pu, evt, eta, phi, eta_sc, phi_sc, src, rng)

    # ---- IDs
    levels = cut_levels(hidden, deta_in, dphi_in, eip, rel03, pt, e_sc, rho[evt], lost, conv_veto, eta_sc)
    bitmap = pack_vid(levels, 3)
    ecal_driven = (
        (e_sc / np.cosh(eta_sc) > PARAMS["ecal_driven_et"]) & (hidden["hoe"] < PARAMS["ecal_driven_hoe"])
        & (np.abs(dphi_in) < PARAMS["ecal_driven_dphi"])
    )
    heep = pack_vid(heep_bits(hidden, deta_in, dphi_in, e_sc, eta_sc, pt, dets, rho[evt], ip["dxy"], lost, ecal_driven), 1)
    bad_noiso = bad - 6.0 * np.minimum(rel03, 2.0)  # badness's isolation term
    mva_noiso = np.tanh(PARAMS["mva_k"] * (PARAMS["mva_c"] - bad_noiso))
    w = PARAMS["hzz_w"]
    ref = np.asarray(PARAMS["sieie_ref"])[ec]
    bad_hzz = (
        w[0] * match + w[1] * np.maximum(hidden["sieie"] / ref - 1.0, -0.2) + w[2] * hidden["hoe"]
        + w[3] * np.minimum(rel03, 2.0) + w[4] * np.maximum(0.9 - hidden["r9"], 0.0) + w[5] * lost
        + w[6] * ~conv_veto + w[7] * np.minimum(np.abs(eip), 0.5)
    )
    w = PARAMS["pf_w"]
    bad_pf = w[0] * match + w[1] * np.minimum(hidden["hoe"], 1.0) + w[2] * lost + w[3] * np.minimum(np.abs(eip), 0.5)
    pf = (bad_pf < PARAMS["pf_bad"]) | ((rel03 < PARAMS["pf_iso"]) & (bad_pf < PARAMS["pf_bad_iso"]))
    # the WPs from the written (float32) score, pT and eta + deltaEtaSC, as the flash side derives them
    f32 = np.float32
    noiso32, pt32, eta_sc32 = mva_noiso.astype(f32), pt.astype(f32), eta.astype(f32) + deta_sc.astype(f32)
    jet_idx = jet_index(jets, evt, eta, phi, LEPTON_PARAMS["jet_dr"])
    # the fields shared with muons (drawn after every field above, which keep their values)
    e_own = np.where(kind == 2, f_em, 1.0) * t["energy"][src]
    own_bend = np.where(kind == 1, 0.0, -q_trk * geo.bend(t["pt"][src], geo.ecal_radius(t["eta"][src])))
    dphi_sc = sc_offset(t, evt, src, e_own, own_bend)
    q_gsf, q_ctf, q_sc = charge_estimates(rng, kind, q_trk, charge, pt, eta_sc, dphi_sc)
    self_ok = (lost <= PARAMS["ndau_self_lost_max"]) & (rng.random(n) < PARAMS["ndau_self_chi2"])
    written = {"pt": pt, "eta": eta, "phi": phi, "pfRelIso03_all": rel03, "miniPFRelIso_all": mini,
               "miniPFRelIso_chg": mini_chg, "mvaNoIso": mva_noiso, **ip}
    shared = shared_lepton_fields(cands, jets, evt, src, jet_idx, written, s3, self_ok, rng)
    mva_tth = shared.pop("mvaTTH")  # schema order: tightCharge, then mvaTTH
    shared["tightCharge"] = leptons.tight_charge("electron", q_gsf=q_gsf, q_ctf=q_ctf, q_sc=q_sc)
    shared["mvaTTH"] = mva_tth

    cols = {
        "pt": pt, "eta": eta, "phi": phi, "mass": np.full(n, MASS),
        "charge": charge, "pdgId": -11 * charge,
        "deltaEtaSC": deta_sc,
        **ip,
        "pfRelIso03_all": rel03, "miniPFRelIso_all": mini,
        "r9": hidden["r9"], "sieie": hidden["sieie"], "hoe": hidden["hoe"],
        "energyErr": energy_err,
        "cutBased": cut_based(bitmap, len(ELECTRON_CUTS), 3),
        "mvaIso": mva, "mvaIso_WP80": mva_wp(mva, pt32, eta_sc32, MVA_ISO_WP["WP80"]),
        "mvaIso_WP90": mva_wp(mva, pt32, eta_sc32, MVA_ISO_WP["WP90"]),
        "convVeto": conv_veto, "lostHits": np.minimum(lost, 255),
        "genPartIdx": np.where(flav > 0, flav_gen, -1), "genPartFlav": flav,
        "jetIdx": jet_idx,
        "photonIdx": np.full(n, -1),
        "vidNestedWPBitmap": bitmap,
        "vidNestedWPBitmapHEEP": heep,
        "cutBased_HEEP": all_pass(heep, len(HEEP_CUTS)),
        "mvaNoIso": mva_noiso,
        "mvaNoIso_WP80": mva_wp(noiso32, pt32, eta_sc32, MVA_NOISO_WP["WP80"]),
        "mvaNoIso_WP90": mva_wp(noiso32, pt32, eta_sc32, MVA_NOISO_WP["WP90"]),
        "mvaHZZIso": np.tanh(PARAMS["hzz_k"] * (PARAMS["hzz_c"] - bad_hzz)),
        "eInvMinusPInv": eip,
        "scEtOverPt": e_sc / np.cosh(eta_sc) / (e_comb / np.cosh(eta)) - 1.0,
        "dr03TkSumPt": dr03_written(pt32, dets[:, 0]),
        "dr03TkSumPtHEEP": dr03_written(pt32, dets[:, 1]),
        "dr03EcalRecHitSumEt": dr03_written(pt32, dets[:, 2]),
        "dr03HcalDepth1TowerSumEt": dr03_written(pt32, dets[:, 3]),
        "isPFcand": pf,
        "seedGain": seed_gain(e_sc, hidden["r9"], eta_sc),
        "seediEtaOriX": ieta_ix,
        "seediPhiOriY": iphi_iy,
        **shared,
    }
    return finish("Electron", cols, evt, n_ev)


def _f32(a) -> np.ndarray:
    """The value as written (float32), back in float64: what FlashSim reads from the file."""
    return np.asarray(a, np.float32).astype(np.float64)


def shared_lepton_fields(
    cands: dict, jets: ak.Array | None, evt: np.ndarray, src: np.ndarray, jet_idx: np.ndarray,
    cols: dict[str, np.ndarray], s3: np.ndarray, self_ok: np.ndarray, rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """The Electron fields muons share, from the functions of :mod:`.leptons` and :mod:`.isolation`.

    Arguments:
        cands: the isolation inputs (:func:`.isolation.candidates`).
        jets: the final Jet collection, or None.
        evt, src, jet_idx: event index, flat truth index (``self_idx``) and ``jetIdx`` of each electron.
        cols: the electron's columns ``pt eta phi pfRelIso03_all miniPFRelIso_all miniPFRelIso_chg mvaNoIso
            dxy dz sip3d`` (float64, before the float32 cast).
        s3: the dR < 0.3 cone sums of ``pfRelIso03_all`` (:func:`.isolation.cone_sums`).
        self_ok: whether the electron's own track passes the jet-daughter track-quality cuts.
        rng: random generator (the jet daughters' track quality).

    Returns:
        ``pfRelIso03_chg miniPFRelIso_chg jetRelIso jetPtRelv2 jetNDauCharged mvaTTH``. The derived ones
        (the jet variables, ``mvaTTH``) are computed from the float32 values written, so that FlashSim's
        derivation from the file (:mod:`flashsim_coffea.nanoaod.lepton_jet`) is exact.
    """
    w = {k: _f32(v) for k, v in cols.items()}
    jv = leptons.lepton_jet_fields("electron", jets, evt, jet_idx, w["pt"], w["eta"], w["phi"], w["pfRelIso03_all"])
    jv = {k: _f32(v) for k, v in jv.items()}
    ndau = leptons.jet_ndau_charged(cands, jets, evt, jet_idx, cols["eta"], cols["phi"], src, cols["dxy"], cols["dz"],
                                    rng, np.asarray(self_ok, bool))
    ndau = np.minimum(ndau, 255)
    mva_cols = {**w, **jv, "jetNDauCharged": ndau, "jetIdx": jet_idx}
    return {
        "pfRelIso03_chg": iso.rel_iso_chg(s3, cols["pt"]),
        "miniPFRelIso_chg": cols["miniPFRelIso_chg"],
        "jetRelIso": jv["jetRelIso"],
        "jetPtRelv2": jv["jetPtRelv2"],
        "jetNDauCharged": ndau,
        "mvaTTH": leptons.mva_tth("electron", mva_cols, jets, evt),
    }


def charge_estimates(
    rng: np.random.Generator, kind: np.ndarray, q_trk: np.ndarray, q_gsf: np.ndarray, pt: np.ndarray,
    eta_sc: np.ndarray, dphi_sc: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three charge estimates of an electron behind ``tightCharge`` (``PARAMS`` ``ctf_*``, ``scpix_*``).

    Arguments:
        rng: random generator.
        kind: 0 genuine electron, 1 conversion, 2 hadron fake.
        q_trk: the true charge of the reconstructed track; q_gsf: its GSF charge (the written ``charge``).
        pt, eta_sc: the electron's pT and SC eta.
        dphi_sc: the SC azimuth minus the innermost hit's (rad), before resolution (:func:`sc_offset`).

    Returns:
        (q_gsf, q_ctf, q_sc): the GSF charge, the CTF track's (0: no CTF track) and the SC-pixel charge.

    Example:
        Positrons of 40 GeV whose SC lies where their tracks hit the ECAL: the three estimates agree
        (tightCharge 2) but for the CTF tracks lost in tracking; with the SC on the track's line (a
        conversion) the SC-pixel charge is a coin toss:

        >>> n = 1000
        >>> q, z = np.ones(n, np.int64), np.zeros(n)
        >>> bent = np.full(n, -0.018)  # -q asin(0.3 B R / (2 pT)) at 40 GeV
        >>> est = charge_estimates(np.random.default_rng(1), np.zeros(n, np.int64), q, q, np.full(n, 40.0), z, bent)
        >>> np.bincount(leptons.tight_charge("electron", q_gsf=est[0], q_ctf=est[1], q_sc=est[2]), minlength=3)
        array([  0,  14, 986])
        >>> est = charge_estimates(np.random.default_rng(1), np.ones(n, np.int64), q, q, np.full(n, 40.0), z, z)
        >>> round(float(np.mean(est[2] == 1)), 2)
        0.52
    """
    n = len(pt)
    u = rng.random((3, n))
    z = rng.standard_normal(n)
    q_trk, q_gsf = np.asarray(q_trk, np.int64), np.asarray(q_gsf, np.int64)
    aeta = np.abs(eta_sc)
    # CTF: the KF track sharing the GSF's inner hits (a hadron fake's track is one)
    has_ctf = (kind == 2) | (u[0] < PARAMS["ctf_plateau"] * logistic((pt - PARAMS["ctf_p0"]) / PARAMS["ctf_w"]))
    region = np.searchsorted((0.9, 1.5), aeta, side="right")
    rel = np.hypot(np.asarray(PARAMS["trk_res_a"])[region], np.asarray(PARAMS["trk_res_b"])[region] * pt)
    p_curv = 0.5 * erfc(1.0 / (rel * np.sqrt(2.0)))  # the curvature measured with the wrong sign
    ctf_flip = ((q_gsf != q_trk) & (u[1] < PARAMS["ctf_shared_flip"])) | (u[2] < p_curv)
    q_ctf = np.where(has_ctf, np.where(ctf_flip, -q_trk, q_trk), 0)
    # SC-pixel [code: GsfElectronAlgo.cc]: dphi(SC, innermost hit) > 0 -> -1, else +1
    res = np.asarray(PARAMS["scpix_pos_res"])[(aeta > 1.479).astype(np.int64)]
    q_sc = np.where(np.asarray(dphi_sc) + res * z > 0, -1, 1)
    return q_gsf, q_ctf, q_sc


@numba.njit(cache=True)
def _sc_window(o_evt, o_eta, o_phi, o_self, off, eta, phi, e, dphi_ecal, idx, deta_max, dphi_max, num, den):
    # pragma: no cover - numba
    for i in range(len(o_evt)):
        ev = o_evt[i]
        for k in range(off[ev], off[ev + 1]):
            if idx[k] == o_self[i] or abs(eta[k] - o_eta[i]) >= deta_max:
                continue
            d = (phi[k] - o_phi[i] + np.pi) % (2 * np.pi) - np.pi
            if abs(d) >= dphi_max:
                continue
            d_ecal = (d + dphi_ecal[k] + np.pi) % (2 * np.pi) - np.pi
            num[i] += e[k] * d_ecal
            den[i] += e[k]


def sc_offset(t: dict, evt: np.ndarray, src: np.ndarray, e_own: np.ndarray, own_bend: np.ndarray) -> np.ndarray:
    """Azimuth (rad) of the supercluster at the ECAL minus that of the electron's track at the vertex.

    The energy-weighted mean of the track's own deposit (energy ``e_own`` at ``own_bend``, the track's bending
    to the ECAL) and of the hard-event photons and electrons (pT > 0.5 GeV, abs(eta) < 3, as
    :func:`superclusters`) in the SC window ``sc_deta`` x ``sc_dphi`` around the track (electrons bent by
    their own charge).

    Arguments:
        t: the flat truth (:func:`.leptons.truth_flat`); evt, src: event and flat truth index of each track.
        e_own: the energy of the track's own deposit (GeV); own_bend: its azimuth at the ECAL minus the track's.

    Example:
        A 40 GeV electron (bent by -0.018 rad) with a 40 GeV photon 0.05 rad away on the other side pulls
        the SC across the track (an SC-pixel charge flip); an extra photon 0.2 rad away is outside the window:

        >>> t = {"n_ev": 1, "evt": np.zeros(3, np.int64), "idx": np.arange(3), "pdgId": np.array([11, 22, 22]),
        ...      "pt": np.array([40.0, 40.0, 5.0]), "eta": np.zeros(3), "phi": np.array([0.0, 0.05, 0.2]),
        ...      "energy": np.array([40.0, 40.0, 5.0]), "charge": np.array([-1.0, 0.0, 0.0])}
        >>> sc_offset(t, np.array([0]), np.array([0]), np.array([40.0]), np.array([-0.018])).round(4)
        array([0.016])
    """
    a = np.abs(t["pdgId"])
    em = np.flatnonzero(((a == 11) | (a == 22)) & (np.abs(t["eta"]) < 3.0) & (t["pt"] > 0.5))
    off = np.concatenate([[0], np.cumsum(np.bincount(t["evt"][em], minlength=t["n_ev"]))]).astype(np.int64)
    charge = np.asarray(t["charge"], np.float64)[em]
    bend = -charge * geo.bend(t["pt"][em], geo.ecal_radius(t["eta"][em]))
    n = len(evt)
    num, den = np.zeros(n), np.zeros(n)
    if n:
        f = np.float64
        _sc_window(np.asarray(evt, np.int64), t["eta"][src].astype(f), t["phi"][src].astype(f),
                   np.asarray(src, np.int64), off, t["eta"][em].astype(f), t["phi"][em].astype(f),
                   t["energy"][em].astype(f), bend.astype(f), np.asarray(t["idx"], np.int64)[em],
                   PARAMS["sc_deta"], PARAMS["sc_dphi"], num, den)
    e_own = np.asarray(e_own, np.float64)
    return (num + e_own * np.asarray(own_bend, np.float64)) / np.maximum(den + e_own, 1e-9)


def shower_shapes(rng, kind, aeta, e_reco, e_true, brem, f_em, s15, e_own, sc_e, ec) -> dict[str, np.ndarray]:
    """sieie, r9, H/E from the SC content (kind 0 e, 1 conversion / photon, 2 hadron fake).

    H/E: hadronic energy within dR 0.15 (neutral + 0.8 x charged-hadron E_T, incl. PU) over the
    SC energy, plus the fake's own hadronic energy; r9: the energy fraction outside the seed
    core (other SC members, brem, conversion spread); sieie: log-normal around the [mem]
    prompt value, broadened by nearby EM activity and hadronic showers."""
    n = len(kind)
    hcal = (s15[:, iso.NH] + 0.8 * s15[:, iso.CH]) * np.cosh(np.minimum(aeta, 3.0))
    own_h = np.where(kind == 2, e_own * (1.0 - f_em) / np.maximum(f_em, 1e-3), 0.0)
    hoe = (hcal * rng.uniform(0.0, 0.6, n) + own_h * rng.uniform(0.2, 1.0, n)) / np.maximum(e_reco, 1.0)
    hoe = np.where(rng.random(n) < 0.5, 0.0, hoe * 2.0)  # single-tower H/E is often exactly 0 [meas]
    spread = 1.0 - np.clip(e_own / np.maximum(sc_e, 1e-3), 0.0, 1.0)  # energy not in the seed particle
    spread = np.where(kind == 2, rng.uniform(0.2, 0.6, n), spread)
    r9 = 0.97 - 0.8 * spread - 1.5 * brem - rng.exponential(0.025, n) - np.where(kind == 1, rng.exponential(0.08, n), 0.0)
    r9 = np.clip(r9, 0.2, 1.0)
    ref = np.asarray(PARAMS["sieie_ref"])[ec]
    em_near = s15[:, iso.PH] * np.cosh(np.minimum(aeta, 3.0)) / np.maximum(e_reco, 1.0)
    broad = 1.0 + 0.6 * np.minimum(em_near, 1.0) + np.where(kind == 2, rng.uniform(0.2, 0.8, n), 0.0)
    sieie = ref * broad * np.exp(PARAMS["sieie_spread"] * rng.standard_normal(n))
    return {"sieie": sieie, "r9": r9, "hoe": hoe}


def conversion_leg_fraction(rng: np.random.Generator, n: int) -> np.ndarray:
    """Energy fraction z of the harder conversion leg (the reconstructed track): z in [0.5, 1] from the
    Bethe-Heitler pair spectrum dsigma/dz ~ 1 - 4/3 z (1 - z) [PDG], by rejection (16 tries each)."""
    z = rng.uniform(0.5, 1.0, (n, 16))
    ok = rng.random((n, 16)) < 1.0 - 4.0 / 3.0 * z * (1.0 - z)
    first = np.argmax(ok, axis=1)
    return np.where(ok.any(axis=1), z[np.arange(n), first], 0.75)


def gsf_momentum(
    rng: np.random.Generator, p_true: np.ndarray, pt: np.ndarray, aeta: np.ndarray, hadron: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Track momentum at the vertex (GeV) and its relative error: Bethe-Heitler loss exp(-X),
    X ~ Gamma(t/ln 2) in the material t (X0) before the GSF estimate (none for hadron tracks), times
    the tracker resolution (``PARAMS``); the error (as the GSF fit's) grows with the loss."""
    n = len(p_true)
    t_x0 = PARAMS["gsf_x0_frac"] * np.interp(aeta, PARAMS["trk_x0_eta"], PARAMS["trk_x0"])
    x = rng.gamma(t_x0 / np.log(2.0), 1.0, n)
    x = np.where(hadron, 0.0, x)
    region = np.searchsorted((0.9, 1.5), aeta, side="right")
    sig = np.hypot(np.asarray(PARAMS["trk_res_a"])[region], np.asarray(PARAMS["trk_res_b"])[region] * pt)
    p = p_true * np.exp(-x) * np.maximum(1.0 + sig * rng.standard_normal(n), 0.05)
    return p, np.hypot(sig, 1.0 - np.exp(-x))


def seed_gain(e_sc: np.ndarray, r9: np.ndarray, eta_sc: np.ndarray) -> np.ndarray:
    """MGPA gain (12, 6 or 1) the seed crystal's energy (``seed_frac`` r9 E_SC) is read out with.

    Example:
        >>> seed_gain(np.array([50.0, 400.0, 700.0, 700.0]), np.ones(4), np.array([0.0, 0.0, 0.0, 2.0])).tolist()
        [12, 6, 1, 6]
    """
    e_seed = PARAMS["seed_frac"] * np.clip(r9, 0.0, 1.0) * e_sc
    g12 = np.asarray(PARAMS["gain12_max"])[(np.abs(eta_sc) > 1.479).astype(np.int64)]
    return np.where(e_seed < g12, 12, np.where(e_seed < 2.0 * g12, 6, 1))


@numba.njit(cache=True)
def _det_iso(o_evt, o_eta, o_phi, o_seta, o_sphi, o_self, off, eta, phi, ceta, cphi, pt, dz, trk, ecal, hcal, src, p, out):
    # pragma: no cover - numba; p: r_out, tk_inner, tk_strip, tk_pt, tk_dz, heep_strip, heep_pt, heep_dz,
    # ecal_inner, ecal_strip, hcal_inner
    r2 = p[0] * p[0]
    for i in range(len(o_evt)):
        e = o_evt[i]
        for k in range(off[e], off[e + 1]):
            if o_self[i] >= 0 and src[k] == o_self[i]:
                continue
            if trk[k]:
                deta = eta[k] - o_eta[i]
                dphi = (phi[k] - o_phi[i] + np.pi) % (2 * np.pi) - np.pi
                dr2 = deta * deta + dphi * dphi
                if dr2 < r2:
                    if pt[k] > p[3] and abs(dz[k]) < p[4] and dr2 > p[1] * p[1] and abs(deta) > p[2]:
                        out[i, 0] += pt[k]
                    if pt[k] > p[6] and abs(dz[k]) < p[7] and abs(deta) > p[5]:
                        out[i, 1] += pt[k]
            if ecal[k] > 0 or hcal[k] > 0:
                deta = ceta[k] - o_seta[i]
                dphi = (cphi[k] - o_sphi[i] + np.pi) % (2 * np.pi) - np.pi
                dr2 = deta * deta + dphi * dphi
                if dr2 < r2:
                    if ecal[k] > 0 and dr2 > p[8] * p[8] and abs(deta) > p[9]:
                        out[i, 2] += ecal[k]
                    if hcal[k] > 0 and dr2 > p[10] * p[10]:
                        out[i, 3] += hcal[k]


def _deposits(pid, pt, eta, phi, charge, dz, src, evt, n_ev) -> dict:
    """Tracks and calorimeter E_T deposits of particles (``PARAMS``), positions at the calorimeter."""
    a = np.abs(pid)
    chg = charge != 0
    em = (a == 11) | (a == 22)
    k0 = (a == 310) | (a == 3122)
    nu = (a == 12) | (a == 14) | (a == 16)
    ch_eta = np.cosh(eta)
    reach = pt > 0.15 * PARAMS["b_tesla"] * PARAMS["ecal_r_m"]  # 0.3 B R / 2: reaches the barrel ECAL
    mip = np.where(chg & reach & ~em, PARAMS["mip_gev"] / ch_eta, 0.0)
    ecal = np.where(em & (reach | ~chg), pt, np.where(k0, 0.3 * pt, mip))
    had = ~em & ~nu & (a != 13)
    hcal_neutral = np.where(had, np.where(k0, 0.7, 1.0) * pt, 0.0)
    hcal = np.where(had & chg, np.where(reach, np.maximum(pt - mip, 0.0), 0.0), hcal_neutral)
    calo = np.abs(eta) < 3.0
    thr = np.where(np.abs(eta) < 1.479, PARAMS["ecal_thr"][0] / ch_eta, PARAMS["ecal_thr"][1])
    ecal = np.where(calo & (ecal > thr), ecal, 0.0)
    hcal = np.where(calo, PARAMS["hcal_depth1_frac"] * hcal, 0.0)
    cphi = np.where(chg, phi - np.sign(charge) * geo.bend(pt, geo.ecal_radius(eta)), phi)
    return {
        "off": np.concatenate([[0], np.cumsum(np.bincount(evt, minlength=n_ev))]).astype(np.int64),
        "eta": eta.astype(np.float64), "phi": phi.astype(np.float64), "ceta": eta.astype(np.float64),
        "cphi": ((cphi + np.pi) % (2 * np.pi) - np.pi).astype(np.float64), "pt": pt.astype(np.float64),
        "dz": np.asarray(dz, np.float64), "trk": chg & (np.abs(eta) < 2.5) & ~nu, "ecal": ecal, "hcal": hcal,
        "src": np.asarray(src, np.int64),
    }


def _ecal_noise(eta_sc: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Summed E_T of noise rechits above threshold in the Jurassic cone (Gaussian, analytic moments)."""
    x = PARAMS["eb_crystal"]
    r_in, strip = PARAMS["ecal_inner_xtal"] * x, PARAMS["ecal_strip_xtal"] * x
    area = np.pi * (0.3**2 - r_in**2) - 2 * strip * 2 * (np.sqrt(0.3**2 - strip**2) - np.sqrt(max(r_in**2 - strip**2, 0.0)))
    n_x = area / (x * np.radians(1.0))
    ch = np.cosh(eta_sc)
    ee = np.abs(eta_sc) > 1.479
    sig = np.where(ee, PARAMS["ecal_noise"][1] / ch, PARAMS["ecal_noise"][0] / ch)  # E_T noise per crystal
    tau = np.where(ee, PARAMS["ecal_thr"][1] / sig, PARAMS["ecal_thr"][0] / ch / sig)
    phi_t = np.exp(-0.5 * tau**2) / np.sqrt(2 * np.pi)
    tail = 0.5 * erfc(tau / np.sqrt(2.0))
    mean = n_x * sig * phi_t
    var = n_x * sig**2 * (tau * phi_t + tail) - n_x * (sig * phi_t) ** 2
    return np.maximum(mean + np.sqrt(np.maximum(var, 0.0)) * rng.standard_normal(len(eta_sc)), 0.0)


def detector_isolation(t, pu, evt, eta, phi, eta_sc, phi_sc, self_idx, rng) -> np.ndarray:
    """(n, 4) [tracks, HEEP tracks, ECAL rechits, HCAL depth 1] E_T sums (GeV) in the dR < 0.3 cones (``PARAMS``).

    Tracks are centred on the electron, calorimeter deposits on the SC; the hard event and PU particles
    (``t`` from :func:`leptons.truth_flat`, ``pu`` from :func:`.pileup.simulate_pileup` or None) are
    seen through the acceptance, the thresholds and the bending to the calorimeter, plus ECAL noise."""
    n_ev = t["n_ev"]
    out = np.zeros((len(evt), 4))
    if len(evt) == 0:
        return out
    pt_, px, py = t["pt"], t["px"], t["py"]
    dz = t["vz"] - (t["vx"] * px + t["vy"] * py) / np.maximum(pt_, 1e-9) * t["pz"] / np.maximum(pt_, 1e-9)
    sets = [_deposits(t["pdgId"], pt_, t["eta"], t["phi"], t["charge"], dz, t["idx"], t["evt"], n_ev)]
    if pu is not None:
        f = lambda k: np.asarray(ak.to_numpy(ak.flatten(pu[k])))
        n_p = np.asarray(ak.num(pu))
        sets.append(_deposits(
            f("pdgId"), f("pt"), f("eta"), f("phi"), f("charge"), f("vz"), np.full(int(n_p.sum()), -1),
            np.repeat(np.arange(len(n_p)), n_p), n_ev,
        ))
    x = PARAMS["eb_crystal"]
    p = np.array([
        0.3, PARAMS["tk_inner"], PARAMS["tk_strip"], PARAMS["tk_pt_min"], PARAMS["tk_dz_mm"], PARAMS["heep_strip"],
        PARAMS["heep_pt_min"], PARAMS["heep_dz_mm"], PARAMS["ecal_inner_xtal"] * x, PARAMS["ecal_strip_xtal"] * x,
        PARAMS["hcal_inner"],
    ])
    args = [np.asarray(a, dt) for a, dt in ((evt, np.int64), (eta, np.float64), (phi, np.float64), (eta_sc, np.float64),
                                            (phi_sc, np.float64), (self_idx, np.int64))]
    for s in sets:
        _det_iso(*args, s["off"], s["eta"], s["phi"], s["ceta"], s["cphi"], s["pt"], s["dz"], s["trk"], s["ecal"],
                 s["hcal"], s["src"], p, out)
    out[:, 2] += _ecal_noise(eta_sc, rng)
    return out


def cut_levels(hidden, deta_in, dphi_in, eip, rel_iso, pt, e_sc, rho, lost, conv_veto, eta_sc) -> np.ndarray:
    """Per cut of :data:`~flashsim_coffea.nanoaod.egamma_id.ELECTRON_CUTS`, the number of the four
    RunIIIWinter22-V1 WPs the electron passes (:func:`~flashsim_coffea.nanoaod.egamma_id.electron_cut_levels`,
    every input given): (n, 10) levels 0..4."""
    levels = electron_cut_levels(eta_sc, pt=pt, deta_in=deta_in, dphi_in=dphi_in, sieie=hidden["sieie"],
                                 hoe=hidden["hoe"], e_sc=e_sc, rho=rho, eip=eip, rel_iso=rel_iso,
                                 conv_veto=conv_veto, lost=lost)
    return np.stack([levels[i] for i in range(len(levels))], axis=1)


def heep_bits(hidden, deta_in, dphi_in, e_sc, eta_sc, pt, dets, rho, dxy, lost, ecal_driven) -> np.ndarray:
    """(n, 12) HEEP V7.0 cut decisions (0/1) in the order of :data:`~flashsim_coffea.nanoaod.egamma_id.HEEP_CUTS`
    (:func:`~flashsim_coffea.nanoaod.egamma_id.heep_cut_bits`, every input given)."""
    spread = 1.0 - np.clip(hidden["r9"], 0.0, 1.0)
    bits = heep_cut_bits(eta_sc, pt=pt, deta_in=deta_in, dphi_in=dphi_in, sieie=hidden["sieie"],
                         e2x5=1.0 - PARAMS["e2x5_slope"] * spread, e1x5=1.0 - PARAMS["e1x5_slope"] * spread,
                         hoe=hidden["hoe"], e_sc=e_sc, trk_iso=dets[:, 1], emhad_iso=dets[:, 2] + dets[:, 3], rho=rho,
                         dxy=dxy, lost=lost, ecal_driven=ecal_driven)
    return np.stack([bits[i] for i in range(len(bits))], axis=1).astype(np.int64)


def badness(hidden, rel_iso, lost, conv_veto, match, ec) -> np.ndarray:
    """Hidden 'background-likeness' behind ``mvaIso`` (0 ~ typical prompt electron)."""
    ref = np.asarray(PARAMS["sieie_ref"])[ec]
    return (
        1.0 * match
        + 8.0 * np.maximum(hidden["sieie"] / ref - 1.0, -0.2)
        + 10.0 * hidden["hoe"]
        + 6.0 * np.minimum(rel_iso, 2.0)
        + 1.5 * np.maximum(0.9 - hidden["r9"], 0.0)
        + 1.0 * lost
        + 3.0 * ~conv_veto
    )
