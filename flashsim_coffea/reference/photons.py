"""Reference-detector photons (NanoAOD ``Photon``).

Every ECAL supercluster (SC, :func:`electrons.superclusters`) with pT > 10 GeV in the
tracker acceptance can become a photon object, as in CMS where gedPhotons are built
from all SCs [mem]. Three populations follow, matching the [meas] content of the
Run-2 NanoAOD Photon collection (2015 open-data ttbar: 0.40 photons/event, 65%
electrons with pixelSeed, 32% jet photons, 4% prompt photons; DY: 0.7/event):

* SCs seeded by a photon: prompt photons (FSR, ISR) and, far more often, pi0 photons
  inside jets (non-isolated, broad showers, large H/E: mostly failing the IDs);
* SCs seeded by an electron (probability 0.92 [meas] 2015 ttbar electrons pT > 15):
  ``pixelSeed`` True, ``electronVeto`` mostly False, ``genPartFlav`` 11 (prompt electron) or 1 (prompt photon).

Efficiency 95% / 85% (barrel / endcap) [card]; preselection as MiniAOD slimmedPhotons
(pT > 14 GeV, or pT > 10 GeV passing the loose ID) and H/E < 0.5 [mem]. Energy: card
ECAL resolution (notes section 6) with a low tail for converted photons. ``cutBased``
(loose/medium/tight = 1/2/3) is the minimum over ``vidNestedWPBitmap``, which packs per
cut of the Fall17-V2 cut flow [mem] (SC eta range, H/E, sieie, rho-corrected charged /
neutral / photon isolation) the number of WPs passed in 2 bits
(:mod:`flashsim_coffea.nanoaod.egamma_id`); ``mvaID`` is a smooth function of the same
quantities with WP90/WP80 cuts calibrated on prompt photons. ``pfRelIso03_chg`` is the
rho-corrected charged isolation over pT, ``pfChargedIsoPFPV``/``pfPhoIso03`` the raw
charged/photon cone sums; ``seedGain`` the seed crystal's MGPA gain; ``eCorr`` the
scale-and-smearing factor (Run-2 eras only in CMSSW; the v12 table keeps the rest).

Example:
    Two Drell-Yan events (Z -> ee, Z -> mumu), without pileup or jets: the leading
    electron's supercluster also makes a photon, with a pixel seed and ``genPartFlav`` 11.

    >>> from flashsim_coffea.reference.pythia import generate_block
    >>> from flashsim_coffea.reference.truth import make_truth
    >>> truth = make_truth(generate_block("dy", n=2, seed=1))
    >>> ph = reconstruct_photons(truth, None, None, np.random.default_rng(1))
    >>> ph.pt
    <Array [[73.2], []] type='2 * var * float32'>
    >>> ph.genPartFlav.tolist(), ph.pixelSeed.tolist(), ph.cutBased.tolist()
    ([[11], []], [[True], []], [[3], []])
    >>> from flashsim_coffea.nanoaod.egamma_id import unpack_vid
    >>> unpack_vid(ak.flatten(ph.vidNestedWPBitmap), len(PHOTON_CUTS), 2).tolist()
    [[3, 3, 3, 3, 3, 3, 3]]
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from flashsim_coffea.nanoaod.derived import jet_index
from flashsim_coffea.nanoaod.egamma_id import (
    MVA_ID_WP,
    PHOTON_CUTS,
    cut_based,
    mva_wp,
    pack_vid,
    photon_cut_levels,
    photon_iso_corrected,
)
from flashsim_coffea.nanoaod.status_flags import BITS
from flashsim_coffea.reference import isolation as iso
from flashsim_coffea.reference.electrons import ecal_sigma, seed_gain, shower_shapes, superclusters
from flashsim_coffea.reference.leptons import PARAMS as LEPTON_PARAMS
from flashsim_coffea.reference.leptons import finish, truth_flat

_PROMPT = 1 << BITS["isPrompt"]

PARAMS: dict = {
    "pt_min": 10.0,  # observed NanoAOD minimum ~10 GeV (notes section 5)
    "pt_nolid": 14.0,  # slimmedPhotons: pT > 14, or pT > 10 and loose ID [mem]
    "hoe_max": 0.5,  # gedPhoton H/E preselection [mem]
    # GED photon building in PF keeps only loosely isolated SCs: rho-corrected absolute isolation
    # in 0.3 < a + b pT [mem], tuned to the [meas] 0.125 jet photons / 2015 ttbar event (PU ~12)
    "presel_iso": (8.0, 0.3),
    "eta_max": 2.5,
    "eb_max": 1.4442,  # isScEtaEB / isScEtaEE edges [mem]
    "ee_min": 1.566,
    "eff": (0.95, 0.85),  # barrel / endcap [card]
    "p_from_electron": 0.92,  # [meas] 2015 OD ttbar: 44/48 electrons pT>15 have a photon
    "conv_prob": (0.2, 0.3),  # photon conversion before the ECAL, + x min(abs(eta)/1.5, 1) [mem]
    "conv_tail": 0.03,  # converted photons lose ~Exp(3%) of their energy [mem]
    # pixel seed / electron veto probabilities [meas] 2015 OD ttbar + DY (small stats)
    "pixel_seed": {"electron": 0.85, "photon": 0.03, "converted": 0.25, "jet": 0.3},
    "electron_veto_true": {"electron": 0.2, "photon": 0.98, "jet": 0.65},
    # mvaID = tanh(k (c - badness)); WPs = 10/20% quantiles of isolated e/gamma SCs (DY prompt-electron photons) [derived]
    "mva_k": 0.8,
    "mva_c": 2.5,
    "mva_wp": MVA_ID_WP,  # nanoaod.egamma_id.MVA_ID_WP: one cut per WP in every region
    # eCorr = 1 + s N(0, 1): the EGM smearing of simulated photons (Run 2, eta/r9 categories [mem] EGM
    # scale-and-smearing: ~1% in the central barrel to ~3% in the endcaps): s by abs(eta) < 1 / 1.479 / 2 / 2.5
    # for r9 > 0.94, x `smear_low_r9` below; scaled to the [meas] nano_dy photon quartiles 0.980 / 1.014 [derived]
    "smear": (0.012, 0.022, 0.030, 0.037),
    "smear_low_r9": 1.4,  # [mem] low-r9 categories smear more
}


def reconstruct_photons(
    truth: ak.Array,
    pu: ak.Array | None,
    jets: ak.Array | None,
    rng: np.random.Generator,
    *,
    rho: np.ndarray | None = None,
    iso_cands: dict | None = None,
) -> ak.Array:
    """NanoAOD ``Photon`` collection (see the module docstring).

    Arguments:
        truth: the truth record (:func:`.truth.make_truth`).
        pu: the PU particles (:func:`.pileup.simulate_pileup`), or None (no pileup).
        jets: the final reco ``Jet`` collection for ``jetIdx``, or None (``jetIdx`` -1).
        rng: the stage's random generator.
        rho: ``Rho_fixedGridRhoFastjetAll`` (GeV) for the rho x EA isolation correction
            (default from the number of PU vertices, :func:`.isolation.default_rho`).
        iso_cands: precomputed :func:`.isolation.candidates` (shared with muons/electrons).

    Returns:
        The jagged ``Photon`` records, pT-descending, cast to NanoAOD v12 dtypes.
    """
    t = truth_flat(truth)
    n_ev = t["n_ev"]
    cands = iso_cands if iso_cands is not None else iso.candidates(truth, pu)
    rho = iso.default_rho(cands) if rho is None else np.asarray(rho, np.float64)
    sc = superclusters(t)
    a = np.abs(t["pdgId"])
    aeta_all = np.abs(t["eta"])
    sc_pt = sc["sc_e"] / np.cosh(t["eta"])
    seed = (sc["owner"] == t["idx"]) & (aeta_all < PARAMS["eta_max"]) & (sc_pt > 0.8 * PARAMS["pt_min"])
    s = np.flatnonzero(seed)
    is_e = a[s] == 11
    aeta = aeta_all[s]
    p = np.where(aeta < 1.479, *PARAMS["eff"]) * np.where(is_e, PARAMS["p_from_electron"], 1.0)
    s = s[rng.random(len(s)) < p]
    is_e = a[s] == 11
    n = len(s)
    evt = t["evt"][s]
    eta, phi = t["eta"][s], t["phi"][s]
    aeta = np.abs(eta)
    e_true = sc["sc_e"][s]
    p_conv = PARAMS["conv_prob"][0] + PARAMS["conv_prob"][1] * np.minimum(aeta / 1.5, 1.0)
    conv = ~is_e & (rng.random(n) < p_conv)
    loss = np.where(conv, rng.exponential(PARAMS["conv_tail"], n), 0.0)
    e_reco = np.maximum(e_true * (1 - loss) + ecal_sigma(e_true, aeta) * rng.standard_normal(n), 0.1)
    pt = e_reco / np.cosh(eta)

    # ---- isolation and shower shapes
    vch, vph = iso.egamma_veto(aeta)
    s3 = iso.cone_sums(cands, evt, eta, phi, s, 0.3, vch, vph)
    s15 = iso.cone_sums(cands, evt, eta, phi, s, 0.15, vch, vph)
    r = rho[evt]
    rel03 = iso.rel_iso_rho(s3, pt, r, iso.effective_area(aeta, "photon"))
    ec = (aeta > 1.479).astype(np.int64)
    kind = np.where(conv | is_e, 1, 0)
    hid = shower_shapes(rng, kind, aeta, e_reco, e_true, loss, np.ones(n), s15, t["energy"][s], e_true, ec)
    # the sums as the VID cuts read them (rho x EA corrected)
    ch, nh, ph = (photon_iso_corrected(s3[:, i], r, c) for i, c in ((iso.CH, "ch"), (iso.NH, "nh"), (iso.PH, "ph")))
    bitmap = pack_vid(cut_levels(hid, ch, nh, ph, pt, aeta, ec), 2)
    cut = cut_based(bitmap, len(PHOTON_CUTS), 2)
    bad = (
        8.0 * np.maximum(hid["sieie"] / np.where(ec == 1, 0.026, 0.009) - 1.0, -0.2)
        + 10.0 * hid["hoe"]
        + 0.6 * ch + 0.15 * nh + 0.3 * ph
        + 3.0 * np.maximum(0.85 - hid["r9"], 0.0)
    )
    mva = np.tanh(PARAMS["mva_k"] * (PARAMS["mva_c"] - bad))
    iso_abs = ch + np.maximum(s3[:, iso.NH] + s3[:, iso.PH] - r * iso.effective_area(aeta, "photon"), 0.0)
    presel = (
        (iso_abs < PARAMS["presel_iso"][0] + PARAMS["presel_iso"][1] * pt) & (hid["hoe"] < PARAMS["hoe_max"])
        & (pt > PARAMS["pt_min"]) & ((pt > PARAMS["pt_nolid"]) | (cut >= 1))
    )

    # ---- electron / pixel information and truth
    gidx = t["genPartIdx"][s]
    prompt = (t["statusFlags"][s] & _PROMPT) != 0
    jetlike = ~is_e & ~prompt
    u = rng.random((2, n))
    ps = PARAMS["pixel_seed"]
    p_pix = np.where(is_e, ps["electron"], np.where(jetlike, ps["jet"], np.where(conv, ps["converted"], ps["photon"])))
    ev = PARAMS["electron_veto_true"]
    p_veto = np.where(is_e, ev["electron"], np.where(jetlike, ev["jet"], ev["photon"]))
    flav = np.where(prompt & is_e, 11, np.where(prompt & ~is_e, 1, 0))
    k = presel
    energy_err = ecal_sigma(e_reco, aeta) * np.exp(0.1 * rng.standard_normal(n))
    # drawn after every earlier draw, so the fields above keep their values
    s_smear = np.asarray(PARAMS["smear"])[np.searchsorted((1.0, 1.479, 2.0), aeta, side="right")]
    s_smear = s_smear * np.where(hid["r9"] > 0.94, 1.0, PARAMS["smear_low_r9"])
    e_corr = 1.0 + s_smear * rng.standard_normal(n)
    cols = {
        "pt": pt[k], "eta": eta[k], "phi": phi[k],
        "energyErr": energy_err[k],
        "r9": hid["r9"][k], "sieie": hid["sieie"][k], "hoe": hid["hoe"][k],
        "pfRelIso03_all": rel03[k],
        "mvaID": mva[k], "mvaID_WP80": mva_wp(mva, pt, eta, MVA_ID_WP["WP80"])[k],
        "mvaID_WP90": mva_wp(mva, pt, eta, MVA_ID_WP["WP90"])[k],
        "cutBased": cut[k],
        "electronVeto": (u[0] < p_veto)[k], "pixelSeed": (u[1] < p_pix)[k],
        "isScEtaEB": (aeta < PARAMS["eb_max"])[k], "isScEtaEE": ((aeta > PARAMS["ee_min"]) & (aeta < 2.5))[k],
        "genPartIdx": gidx[k], "genPartFlav": flav[k],
        "jetIdx": jet_index(jets, evt[k], eta[k], phi[k], LEPTON_PARAMS["jet_dr"]),
        "electronIdx": np.full(int(k.sum()), -1),
        "pfRelIso03_chg": (ch / pt)[k],
        "pfChargedIsoPFPV": s3[k, iso.CH],
        "pfPhoIso03": s3[k, iso.PH],
        "vidNestedWPBitmap": bitmap[k],
        "seedGain": seed_gain(e_reco, hid["r9"], eta)[k],
        "eCorr": e_corr[k],
    }
    return finish("Photon", cols, evt[k], n_ev)


def cut_levels(hid: dict, ch, nh, ph, pt, aeta, ec) -> np.ndarray:
    """Per cut of :data:`~flashsim_coffea.nanoaod.egamma_id.PHOTON_CUTS`, the number of the three Fall17-V2
    WPs the photon passes (:func:`~flashsim_coffea.nanoaod.egamma_id.photon_cut_levels`, every input given):
    (n, 7) levels 0..3; isolations in GeV."""
    in_sc = (aeta < PARAMS["eb_max"]) | ((aeta > PARAMS["ee_min"]) & (aeta < PARAMS["eta_max"]))
    levels = photon_cut_levels(aeta, pt=pt, in_sc=in_sc, hoe=hid["hoe"], sieie=hid["sieie"], ch=ch, nh=nh, ph=ph)
    return np.stack([levels[i] for i in range(len(levels))], axis=1)
