"""e/gamma ID decisions that are functions of other NanoAOD fields (CMSSW VID conventions).

Shared by the reference detector (which derives the bitmaps from the ID inputs) and the
flash side (which simulates the bitmaps and scores and derives the rest), so both write
them the same way:

* :func:`pack_vid` / :func:`unpack_vid`: CMSSW's VID *nested* working-point bitmap
  (``EleVIDNestedWPBitmapProducer``, ``PhoVIDNestedWPBitmapProducer``): for each cut of the
  cut flow, the number of nested WPs whose threshold the object passes, in ``bits`` bits
  (3 for the 4 electron WPs, 2 for the 3 photon WPs), cut ``i`` at bit ``bits * i``;
* :func:`cut_based`: ``cutBased`` = the highest WP whose every cut passes = the minimum
  over the cuts of the bitmap (checked on nano_tt_v12: 310/310 electrons; nano_dy: 28/28
  photons);
* :func:`all_pass`: ``cutBased_HEEP`` = every 1-bit cut of ``vidNestedWPBitmapHEEP`` set
  (310/310 on nano_tt_v12);
* :func:`dr03_written`: the ``dr03*`` detector isolations are written above 35 GeV only;
* :func:`electron_snap_levels`: levels a cut cannot reach (WPs with equal thresholds) moved to reachable ones;
* :func:`electron_cut_levels` / :func:`heep_cut_bits` / :func:`photon_cut_levels`: the levels of the
  cut-based IDs' cuts from their inputs (:data:`ELECTRON_CUT_WPS`, RunIIIWinter22 V1; :data:`HEEP_CUT_WPS`,
  HEEP V7.0; :data:`PHOTON_CUT_WPS`, Fall17 V2), for every
  cut whose inputs are given: the reference detector computes all of them, the flash side the ones whose
  inputs are NanoAOD fields;
* :func:`mva_wp`: an MVA working point with a pT- and abs(eta_SC)-dependent cut
  ``C - A exp(-pT / B)`` per abs(eta_SC) region, the form of the EGM Run-3 electron MVA
  WPs; :data:`MVA_NOISO_WP`, :data:`MVA_ISO_WP` and :data:`MVA_ID_WP` hold the reference detector's
  ``mvaNoIso_WP80/WP90``, ``mvaIso_WP80/WP90`` and the photons' ``mvaID_WP80/WP90`` cuts.

Example:
    An electron passing all 10 cuts at tight (4) except the isolation (cut 7) at loose (2):

    >>> levels = np.array([[4, 4, 4, 4, 4, 4, 4, 2, 4, 4]])
    >>> bm = pack_vid(levels, 3)
    >>> int(bm[0]), int(cut_based(bm, len(ELECTRON_CUTS), 3)[0])
    (609372452, 2)
    >>> unpack_vid(bm, 10, 3).tolist() == levels.tolist()
    True
"""

from __future__ import annotations

import numpy as np

#: electron cut-based ID (RunIIIWinter22 V1, as Fall17 V2) cut flow: the order of the bitmap's 3-bit fields.
ELECTRON_CUTS = (
    "MinPtCut", "GsfEleSCEtaMultiRangeCut", "GsfEleDEtaInSeedCut", "GsfEleDPhiInCut", "GsfEleFull5x5SigmaIEtaIEtaCut",
    "GsfEleHadronicOverEMEnergyScaledCut", "GsfEleEInverseMinusPInverseCut", "GsfEleRelPFIsoScaledCut",
    "GsfEleConversionVetoCut", "GsfEleMissingHitsCut",
)
#: HEEP V7.0 cut flow: one bit per cut (``vidNestedWPBitmapHEEP``).
HEEP_CUTS = (
    "MinPtCut", "GsfEleSCEtaMultiRangeCut", "GsfEleDEtaInSeedCut", "GsfEleDPhiInCut",
    "GsfEleFull5x5SigmaIEtaIEtaWithSatCut", "GsfEleFull5x5E2x5OverE5x5WithSatCut", "GsfEleHadronicOverEMLinearCut",
    "GsfEleTrkPtIsoCut", "GsfEleEmHadD1IsoRhoCut", "GsfEleDxyCut", "GsfEleMissingHitsCut", "GsfEleEcalDrivenCut",
)
#: photon cut-based ID (Fall17 V2) cut flow: 2 bits per cut.
PHOTON_CUTS = (
    "MinPtCut", "PhoSCEtaMultiRangeCut", "PhoSingleTowerHadOverEmCut", "PhoFull5x5SigmaIEtaIEtaCut",
    "PhoAnyPFIsoWithEACut", "PhoAnyPFIsoWithEAAndQuadScalingCut", "PhoAnyPFIsoWithEACut",
)
#: NanoAOD v12 writes the electron detector isolations (``dr03TkSumPt``, ``dr03TkSumPtHEEP``,
#: ``dr03EcalRecHitSumEt``, ``dr03HcalDepth1TowerSumEt``) only for pT > 35 GeV, 0 below [meas] nano_tt_v12
#: (all 244 electrons below are 0, all 66 above non-zero ECAL sums).
DR03_PT_MIN = 35.0
#: the least pT of a track in the electron track sums ``dr03TkSumPt`` and ``dr03TkSumPtHEEP`` (GeV) [mem: CMSSW
#: EleTkIsolFromCands, the general and HEEP track selections]: a sum is 0 or at least this
#: (:func:`track_sum`; nano_tt_v12's 66 electrons above 35 GeV: least non-zero sums 0.82 and 1.016).
TRACK_SUM_PT_MIN = {"dr03TkSumPt": 0.7, "dr03TkSumPtHEEP": 1.0}
#: abs(eta_SC) upper edges of the MVA WP regions (EB1, EB2, EE).
MVA_REGIONS = (0.8, 1.479)
#: an MVA WP: (C, A, B) per region.
WPTable = tuple[tuple[float, float, float], ...]
#: ``mvaNoIso_WP80/WP90`` of the reference detector's score: (C, A, B) per region EB1, EB2, EE; pass if
#: score > C - A exp(-pT/B). Fitted to 80% / 90% efficiency for prompt electrons (genPartFlav 1 or 15) in pT
#: and region bins of the reference detector's Drell-Yan and ttbar (5000 electrons: 81.4% / 90.4%, flat within
#: 2% across the regions and pT < 15, 15-30, > 30 GeV) [derived].
MVA_NOISO_WP: dict[str, WPTable] = {
    "WP80": ((0.89, 0.2, 12.0), (0.92, 0.4, 12.0), (0.90, 0.3, 12.0)),
    "WP90": ((0.62, 0.3, 12.0), (0.70, 0.8, 12.0), (0.69, 0.3, 12.0)),
}
#: ``mvaIso_WP80/WP90`` of the reference detector's score: one cut in every region, the score's 80 % / 90 % points
#: for prompt electrons [derived] (reference/electrons.py). Flash derives the flags from its score (learnt as flags
#: beside it, the sets before the twentieth had 6.7 % / 4.3 % of their electrons disagree with their own score: 17k
#: held-out zh electrons); in CMS's nano_tt_v12 the flags are cuts on the score in pT and eta bins too.
MVA_ISO_WP: dict[str, WPTable] = {"WP80": ((0.81, 0.0, 1.0),) * 3, "WP90": ((0.29, 0.0, 1.0),) * 3}
#: the photons' ``mvaID_WP80/WP90`` (abs(eta) regions): the 20 % / 10 % quantiles of the score of isolated e/gamma
#: superclusters (Drell-Yan prompt-electron photons) [derived] (reference/photons.py), one cut in every region.
MVA_ID_WP: dict[str, WPTable] = {"WP80": ((0.66, 0.0, 1.0),) * 3, "WP90": ((0.27, 0.0, 1.0),) * 3}


#: The electron cut-based ID's thresholds per cut: the WPs veto, loose, medium, tight in the barrel and the endcap
#: (abs(eta_SC) above 1.479). Cuts pass on ``x < threshold`` (``lost``: ``<=``); H/E < ``hoe_c`` + ``hoe_e`` / E_SC +
#: ``hoe_rho`` rho / E_SC; relIso < ``iso_c`` + ``iso_pt`` / pT (:func:`electron_cut_levels`).
ELECTRON_CUT_WPS: dict = {
    # RunIIIWinter22 V1 cut-based ID (veto, loose, medium, tight; barrel, endcap by abs(eta_SC) 1.479), the v12
    # `cutBased` [mem] (cutBasedElectronID-RunIIIWinter22-V1); sieie, 1/E-1/p, isolation, missing hits and the
    # veto/loose (and endcap medium) H/E cuts reproduce nano_tt_v12's bitmap exactly [meas] (310/310 electrons); the
    # other H/E cuts are values inside the region that reproduces it [meas]; dEtaInSeed/dPhiIn [mem]
    "sieie": ((0.0117, 0.0107, 0.0103, 0.0101), (0.0298, 0.0275, 0.0272, 0.0270)),
    "deta": ((0.0071, 0.00691, 0.00481, 0.00411), (0.0173, 0.0121, 0.00951, 0.00938)),  # [mem] Winter22 V1
    "dphi": ((0.208, 0.175, 0.127, 0.116), (0.234, 0.228, 0.221, 0.164)),  # [mem] Winter22 V1
    "hoe_c": ((0.05, 0.05, 0.02, 0.02), (0.05, 0.05, 0.05, 0.02)),  # H/E < c + e/E_SC + rho r/E_SC
    "hoe_e": ((1.28, 1.28, 1.28, 1.16), (2.3, 2.3, 2.3, 0.6)),  # [meas] fit to the bitmap
    "hoe_rho": (0.0422, 0.262),  # [meas] fit to the bitmap
    "eip": ((0.178, 0.138, 0.0966, 0.023), (0.137, 0.127, 0.111, 0.018)),  # abs(1/E - 1/p) (1/GeV)
    "iso_c": ((0.406, 0.194, 0.0837, 0.0388), (0.342, 0.184, 0.0741, 0.0544)),  # relIso < c + pt_term/pT
    "iso_pt": (0.535, 0.519),  # [meas] exact on the bitmap
    "lost": ((2, 1, 1, 1), (3, 1, 1, 1)),  # [meas] exact on the bitmap
    "pt_min": 5.0,  # [mem] MinPtCut
    "sc_eta_max": 2.5,  # [mem] SC eta range
}
#: the inputs of each cut of :data:`ELECTRON_CUTS` (every cut also reads ``eta_sc`` for its region)
ELECTRON_CUT_INPUTS: tuple[tuple[str, ...], ...] = (
    ("pt",), (), ("deta_in",), ("dphi_in",), ("sieie",), ("hoe", "e_sc", "rho"), ("eip",), ("rel_iso", "pt"),
    ("conv_veto",), ("lost",),
)


def _cuts_given(name: str, cut_inputs: tuple[tuple[str, ...], ...], inputs: dict) -> list[int]:
    """The cuts of a cut flow whose inputs (``cut_inputs``, per cut) are all among ``inputs``; a ``TypeError``
    names any input no cut reads.

    Example:
        >>> _cuts_given("f", (("pt",), (), ("hoe", "e_sc")), {"pt": 1.0, "hoe": 0.1})
        [0, 1]
    """
    unknown = set(inputs) - {k for cut in cut_inputs for k in cut}
    if unknown:
        raise TypeError(f"{name}: unknown inputs {sorted(unknown)}")
    return [i for i, need in enumerate(cut_inputs) if all(k in inputs for k in need)]


def electron_cut_levels(eta_sc: np.ndarray, **inputs: np.ndarray) -> dict[int, np.ndarray]:
    """Per cut of :data:`ELECTRON_CUTS` whose inputs (:data:`ELECTRON_CUT_INPUTS`) are all given, the number of
    the four RunIIIWinter22 V1 WPs (:data:`ELECTRON_CUT_WPS`) the electron passes (0..4).

    Inputs: ``pt``, ``deta_in`` (dEtaInSeed), ``dphi_in``, ``sieie``, ``hoe``, ``e_sc`` (supercluster energy),
    ``rho``, ``eip`` (1/E - 1/p), ``rel_iso`` (``pfRelIso03_all``), ``conv_veto``, ``lost`` (missing hits).

    Example:
        A barrel electron passing the sieie cut at loose, the isolation at tight:

        >>> lv = electron_cut_levels(np.array([0.3]), sieie=np.array([0.0105]), rel_iso=np.array([0.01]),
        ...                          pt=np.array([40.0]))
        >>> {ELECTRON_CUTS[c]: int(v[0]) for c, v in lv.items()}  # doctest: +NORMALIZE_WHITESPACE
        {'MinPtCut': 4, 'GsfEleSCEtaMultiRangeCut': 4, 'GsfEleFull5x5SigmaIEtaIEtaCut': 2,
         'GsfEleRelPFIsoScaledCut': 4}
    """
    given = _cuts_given("electron_cut_levels", ELECTRON_CUT_INPUTS, inputs)
    w = ELECTRON_CUT_WPS
    eta_sc = np.asarray(eta_sc, np.float64)
    ec = (np.abs(eta_sc) > 1.479).astype(np.int64)
    four = np.full(len(eta_sc), 4)
    x = {k: np.asarray(v, np.float64) for k, v in inputs.items()}

    def wp(key: str) -> np.ndarray:  # (n, 4) thresholds of the electron's region
        return np.asarray(w[key], np.float64)[ec]

    def passed(value: np.ndarray, cut: np.ndarray) -> np.ndarray:
        return (value[:, None] < cut).sum(axis=1)

    def level(i: int) -> np.ndarray:
        if i == 0:
            return np.where(x["pt"] > w["pt_min"], four, 0)
        if i == 1:
            return np.where(np.abs(eta_sc) < w["sc_eta_max"], four, 0)
        if i == 2:
            return passed(np.abs(x["deta_in"]), wp("deta"))
        if i == 3:
            return passed(np.abs(x["dphi_in"]), wp("dphi"))
        if i == 4:
            return passed(x["sieie"], wp("sieie"))
        if i == 5:
            e = np.maximum(x["e_sc"], 1e-3)[:, None]
            rho = np.asarray(w["hoe_rho"])[ec][:, None] * x["rho"][:, None]
            return passed(x["hoe"], wp("hoe_c") + wp("hoe_e") / e + rho / e)
        if i == 6:
            return passed(np.abs(x["eip"]), wp("eip"))
        if i == 7:
            return passed(x["rel_iso"], wp("iso_c") + np.asarray(w["iso_pt"])[ec][:, None] / x["pt"][:, None])
        if i == 8:
            return np.where(x["conv_veto"] > 0, four, 0)
        return (x["lost"][:, None] <= wp("lost")).sum(axis=1)

    return {i: level(i) for i in given}


#: the :data:`ELECTRON_CUT_WPS` parameters that set each cut's thresholds (cuts without one: pT, eta_SC and the
#: conversion veto, pass or fail, levels 0 or 4)
ELECTRON_CUT_PARAMS: dict[int, tuple[str, ...]] = {
    2: ("deta",), 3: ("dphi",), 4: ("sieie",), 5: ("hoe_c", "hoe_e"), 6: ("eip",), 7: ("iso_c",), 9: ("lost",),
}


def electron_reachable_levels(cut: int) -> np.ndarray:
    """Per region (barrel, endcap), whether each level 0..4 of cut ``cut`` of :data:`ELECTRON_CUTS` can occur: a
    level L between 1 and 3 cannot where WPs L - 1 and L have the same thresholds (passing one is passing both:
    the H/E cut's veto and loose WPs, and in the endcap its medium one).

    Example:
        >>> electron_reachable_levels(5).astype(int).tolist()  # H/E
        [[1, 0, 1, 1, 1], [1, 0, 0, 1, 1]]
        >>> electron_reachable_levels(0).astype(int).tolist()  # pT: pass or fail
        [[1, 0, 0, 0, 1], [1, 0, 0, 0, 1]]
    """
    out = np.ones((2, 5), bool)
    params = ELECTRON_CUT_PARAMS.get(cut)
    for region in range(2):
        if params is None:
            out[region, 1:4] = False
            continue
        wps = [tuple(ELECTRON_CUT_WPS[k][region][j] for k in params) for j in range(4)]
        out[region, 1:4] = [wps[lv - 1] != wps[lv] for lv in range(1, 4)]
    return out


def electron_snap_levels(levels: np.ndarray, eta_sc: np.ndarray) -> np.ndarray:
    """``levels`` (n, 10) of :data:`ELECTRON_CUTS` with every level its cut cannot reach in the electron's region
    (:func:`electron_reachable_levels`) moved to the nearest one it can (ties: the lower, failing the tighter WP).
    A model that learns each cut's level as a number blurs across an unreachable one (flash H/E levels 1: 49 of
    5679 vbf_hmumu electrons, FullSim none); the reference detector's levels are left unchanged.

    Example:
        H/E (cut 5) learnt at level 1 in the barrel and 1 and 2 in the endcap:

        >>> lv = np.full((3, 10), 4)
        >>> lv[:, 5] = [1, 1, 2]
        >>> electron_snap_levels(lv, np.array([0.5, 2.0, 2.0]))[:, 5].tolist()
        [0, 0, 3]
    """
    out = np.array(levels, np.int64, copy=True)
    ec = (np.abs(np.asarray(eta_sc, np.float64)) > 1.479).astype(np.int64)
    for cut in range(len(ELECTRON_CUTS)):
        ok = electron_reachable_levels(cut)
        nearest = np.array([[min(np.flatnonzero(ok[r]), key=lambda lv, want=want: (abs(lv - want), lv))
                             for want in range(5)] for r in range(2)])
        out[:, cut] = nearest[ec, np.clip(out[:, cut], 0, 4)]
    return out


#: HEEP V7.0's thresholds (barrel, endcap by abs(eta_SC) 1.479 where a pair) (:func:`heep_cut_bits`).
HEEP_CUT_WPS: dict = {
    # HEEP V7.0 [mem] (heepElectronID-HEEPV70): pT > 35; dEtaInSeed < 0.004 / 0.006; dPhiIn < 0.06; EE sieie
    # < 0.03; EB E2x5/E5x5 > 0.94 or E1x5/E5x5 > 0.83; H/E < c/E_SC + 0.05 (c 1 / 5 GeV); HEEP track iso < 5 GeV;
    # ECAL + HCAL-depth-1 iso < 2 + 0.03 E_T + 0.28 rho (EB), 2.5 + 0.03 max(E_T - 50, 0) + 0.28 rho (EE);
    # abs(dxy) < 0.02 / 0.05 cm; missing hits <= 1; ECAL-driven
    "pt": 35.0,
    "deta": (0.004, 0.006),  # [mem] HEEP V7.0
    "dphi": (0.06, 0.06),  # [mem] HEEP V7.0
    "sieie_ee": 0.03,  # [mem] HEEP V7.0
    "e2x5": 0.94,  # [mem] HEEP V7.0
    "e1x5": 0.83,  # [mem] HEEP V7.0
    "hoe_c": (1.0, 5.0),  # [mem] HEEP V7.0
    "hoe_slope": 0.05,  # [mem] HEEP V7.0
    "trk_iso": 5.0,  # [mem] HEEP V7.0
    "emhad": ((2.0, 0.03, 0.0), (2.5, 0.03, 50.0)),  # c, slope, E_T start
    "emhad_rho": 0.28,  # [mem] HEEP V7.0
    "dxy": (0.02, 0.05),  # [mem] HEEP V7.0
    "lost": 1,  # [mem] HEEP V7.0
}
#: the inputs of each cut of :data:`HEEP_CUTS` (every cut also reads ``eta_sc``)
HEEP_CUT_INPUTS: tuple[tuple[str, ...], ...] = (
    ("pt",), (), ("deta_in",), ("dphi_in",), ("sieie",), ("e2x5", "e1x5"), ("hoe", "e_sc"), ("trk_iso",),
    ("emhad_iso", "e_sc", "rho"), ("dxy",), ("lost",), ("ecal_driven",),
)


def heep_cut_bits(eta_sc: np.ndarray, **inputs: np.ndarray) -> dict[int, np.ndarray]:
    """Per cut of :data:`HEEP_CUTS` whose inputs (:data:`HEEP_CUT_INPUTS`) are all given, whether the electron
    passes it (HEEP V7.0, :data:`HEEP_CUT_WPS`).

    Inputs: ``pt``, ``deta_in``, ``dphi_in``, ``sieie``, ``e2x5`` and ``e1x5`` (over E5x5), ``hoe``, ``e_sc``,
    ``trk_iso`` (the HEEP track isolation, GeV), ``emhad_iso`` (ECAL + HCAL depth 1), ``rho``, ``dxy``, ``lost``,
    ``ecal_driven``.

    Example:
        >>> bits = heep_cut_bits(np.array([0.3, 2.0]), pt=np.array([50.0, 20.0]), sieie=np.array([0.01, 0.04]))
        >>> {HEEP_CUTS[c]: b.tolist() for c, b in bits.items()}  # doctest: +NORMALIZE_WHITESPACE
        {'MinPtCut': [True, False], 'GsfEleSCEtaMultiRangeCut': [True, True],
         'GsfEleFull5x5SigmaIEtaIEtaWithSatCut': [True, False]}
    """
    given = _cuts_given("heep_cut_bits", HEEP_CUT_INPUTS, inputs)
    w = HEEP_CUT_WPS
    aeta = np.abs(np.asarray(eta_sc, np.float64))
    ee = (aeta > 1.479).astype(np.int64)
    x = {k: np.asarray(v) for k, v in inputs.items()}

    def bit(i: int) -> np.ndarray:
        if i == 0:
            return x["pt"] > w["pt"]
        if i == 1:
            return (aeta < 1.4442) | ((aeta > 1.566) & (aeta < 2.5))
        if i == 2:
            return np.abs(x["deta_in"]) < np.asarray(w["deta"])[ee]
        if i == 3:
            return np.abs(x["dphi_in"]) < np.asarray(w["dphi"])[ee]
        if i == 4:
            return (ee == 0) | (x["sieie"] < w["sieie_ee"])
        if i == 5:
            return (ee == 1) | (x["e2x5"] > w["e2x5"]) | (x["e1x5"] > w["e1x5"])
        if i == 6:
            return x["hoe"] < np.asarray(w["hoe_c"])[ee] / np.maximum(x["e_sc"], 1e-3) + w["hoe_slope"]
        if i == 7:
            return x["trk_iso"] < w["trk_iso"]
        if i == 8:
            c, slope, start = (np.asarray([w["emhad"][0][j], w["emhad"][1][j]])[ee] for j in range(3))
            et = x["e_sc"] / np.cosh(eta_sc)
            return x["emhad_iso"] < c + slope * np.maximum(et - start, 0.0) + w["emhad_rho"] * x["rho"]
        if i == 9:
            return np.abs(x["dxy"]) < np.asarray(w["dxy"])[ee]
        if i == 10:
            return x["lost"] <= w["lost"]
        return x["ecal_driven"].astype(bool)

    return {i: bit(i) for i in given}


#: The photon cut-based ID's thresholds per cut: the WPs loose, medium, tight in the barrel and the endcap (abs(eta)
#: above 1.479); isolations in GeV after the rho x EA correction; cuts pass on ``x < threshold``
#: (:func:`photon_cut_levels`).
PHOTON_CUT_WPS: dict = {
    # Fall17 V2 photon cut-based ID (loose, medium, tight) [mem]: barrel, endcap
    "hoe": ((0.04596, 0.02197, 0.02148), (0.0590, 0.0326, 0.0321)),
    "sieie": ((0.0106, 0.01015, 0.00996), (0.0272, 0.0272, 0.0271)),
    "ch": ((1.694, 1.141, 0.65), (2.089, 1.051, 0.517)),  # GeV
    "nh": ((24.03, 1.189, 0.317), (19.72, 2.718, 2.716)),  # + a pT + b pT^2 below
    "nh_a": (0.01512, 0.0117),
    "nh_b": (2.259e-5, 2.3e-5),
    "ph": ((2.876, 2.08, 2.044), (4.162, 3.867, 3.032)),  # + c pT
    "ph_c": (0.004017, 0.0037),
    "pt_min": 5.0,  # Fall17 V2 MinPtCut [mem]
    # the rho x EA corrections of the three isolations: per-component EAs, Fall17 V2 barrel [mem]
    "ea_ch": 0.0112,
    "ea_nh": 0.0668,
    "ea_ph": 0.1113,
}
#: the inputs of each cut of :data:`PHOTON_CUTS` (every cut also reads ``abs_eta`` for its region)
PHOTON_CUT_INPUTS: tuple[tuple[str, ...], ...] = (
    ("pt",), ("in_sc",), ("hoe",), ("sieie",), ("ch",), ("nh", "pt"), ("ph", "pt"),
)


def photon_cut_levels(abs_eta: np.ndarray, **inputs: np.ndarray) -> dict[int, np.ndarray]:
    """Per cut of :data:`PHOTON_CUTS` whose inputs (:data:`PHOTON_CUT_INPUTS`) are all given, the number of the
    three Fall17 V2 WPs (:data:`PHOTON_CUT_WPS`) the photon passes (0..3).

    Inputs: ``pt``, ``in_sc`` (inside the supercluster eta ranges), ``hoe``, ``sieie``, and the rho-corrected
    isolations ``ch``, ``nh``, ``ph`` (GeV).

    Example:
        A barrel photon with a medium H/E and a loose sieie:

        >>> lv = photon_cut_levels(np.array([0.5]), hoe=np.array([0.03]), sieie=np.array([0.0103]))
        >>> {PHOTON_CUTS[c]: int(v[0]) for c, v in lv.items()}
        {'PhoSingleTowerHadOverEmCut': 1, 'PhoFull5x5SigmaIEtaIEtaCut': 1}
    """
    given = _cuts_given("photon_cut_levels", PHOTON_CUT_INPUTS, inputs)
    w = PHOTON_CUT_WPS
    ec = (np.asarray(abs_eta) > 1.479).astype(np.int64)
    x = {k: np.asarray(v, np.float64) for k, v in inputs.items()}
    three = np.full(len(ec), 3)

    def wp(key: str) -> np.ndarray:  # (n, 3) thresholds of the photon's region
        return np.asarray(w[key], np.float64)[ec]

    def level(i: int) -> np.ndarray:
        if i == 0:
            return np.where(x["pt"] > w["pt_min"], three, 0)
        if i == 1:
            return np.where(x["in_sc"] > 0, three, 0)
        if i in (5, 6):
            p = x["pt"][:, None]
            cut = (wp("nh") + np.asarray(w["nh_a"])[ec][:, None] * p + np.asarray(w["nh_b"])[ec][:, None] * p**2
                   if i == 5 else wp("ph") + np.asarray(w["ph_c"])[ec][:, None] * p)
            return (x["nh" if i == 5 else "ph"][:, None] < cut).sum(axis=1)
        key = {2: "hoe", 3: "sieie", 4: "ch"}[i]
        return (x[key][:, None] < wp(key)).sum(axis=1)

    return {i: level(i) for i in given}


def photon_iso_corrected(raw: np.ndarray, rho: np.ndarray, component: str) -> np.ndarray:
    """A photon isolation sum as the ID cuts read it: the raw cone sum (GeV) less rho x the EA of its
    ``component`` (``ch``, ``nh``, ``ph``: :data:`PHOTON_CUT_WPS` ``ea_<component>``), floored at 0.

    Example:
        >>> photon_iso_corrected(np.array([2.0, 0.1]), np.array([25.0, 25.0]), "ch").tolist()
        [1.72, 0.0]
    """
    return np.maximum(np.asarray(raw, np.float64) - PHOTON_CUT_WPS[f"ea_{component}"] * np.asarray(rho), 0.0)


def photon_charged_rel_iso(charged: np.ndarray, pt: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """The photon's ``pfRelIso03_chg``: its charged-hadron isolation ``pfChargedIsoPFPV`` corrected as the ID
    reads it (:func:`photon_iso_corrected`), over pT; times pT it is the ID's charged isolation (cut
    ``PhoAnyPFIsoWithEACut``, the first).

    Example:
        >>> photon_charged_rel_iso(np.array([2.0, 0.1]), np.array([40.0, 40.0]), np.array([25.0, 25.0])).tolist()
        [0.043, 0.0]
    """
    return photon_iso_corrected(charged, rho, "ch") / np.asarray(pt)


def pack_vid(levels: np.ndarray, bits: int) -> np.ndarray:
    """The VID nested bitmap (int32) from per-cut levels ``(n, n_cuts)`` (0 .. 2**bits - 1).

    Example:
        >>> pack_vid(np.array([[1, 0, 1], [1, 1, 1]]), 1).tolist()
        [5, 7]
    """
    lv = np.asarray(levels, np.int64)
    if lv.size and (lv.min() < 0 or lv.max() >= 1 << bits):
        raise ValueError(f"levels must be in [0, {(1 << bits) - 1}]")
    shifts = bits * np.arange(lv.shape[1], dtype=np.int64)
    return np.sum(lv << shifts[None, :], axis=1).astype(np.int32)


def unpack_vid(bitmap: np.ndarray, n_cuts: int, bits: int) -> np.ndarray:
    """Per-cut levels ``(n, n_cuts)`` of a VID nested bitmap (inverse of :func:`pack_vid`).

    Example:
        >>> unpack_vid(np.array([0b110110]), 3, 2).tolist()
        [[2, 1, 3]]
    """
    bm = np.asarray(bitmap, np.int64)
    shifts = bits * np.arange(n_cuts, dtype=np.int64)
    return (bm[:, None] >> shifts[None, :]) & ((1 << bits) - 1)


def cut_based(bitmap: np.ndarray, n_cuts: int, bits: int) -> np.ndarray:
    """``cutBased`` (uint8): the highest nested WP passed by every cut, the bitmap's minimum level.

    Example:
        >>> cut_based(np.array([0b110110, 0b111111]), 3, 2).tolist()
        [1, 3]
    """
    if len(np.asarray(bitmap)) == 0:
        return np.zeros(0, np.uint8)
    return unpack_vid(bitmap, n_cuts, bits).min(axis=1).astype(np.uint8)


def all_pass(bitmap: np.ndarray, n_cuts: int) -> np.ndarray:
    """Whether every one of the ``n_cuts`` 1-bit cuts is set (``cutBased_HEEP``).

    Example:
        >>> all_pass(np.array([4095, 4093]), 12).tolist()
        [True, False]
    """
    full = (1 << n_cuts) - 1
    return (np.asarray(bitmap, np.int64) & full) == full


def track_sum(name: str, value: np.ndarray) -> np.ndarray:
    """The track sum ``name`` (a key of :data:`TRACK_SUM_PT_MIN`) with every value below its least track's pT, which
    no sum of such tracks gives, put to 0 (the sum of none): a model's draws between (flash HEEP sums of zh_llbb
    electrons in (0, 1) GeV: 1040 of 17k, FullSim none).

    Example:
        >>> track_sum("dr03TkSumPtHEEP", np.array([0.0, 0.4, 1.2])).tolist()
        [0.0, 0.0, 1.2]
    """
    v = np.asarray(value)
    # half a stored step below the least pT still counts (nano stores 0.7 as 0.69921875)
    return np.where(v < TRACK_SUM_PT_MIN[name] * (1 - 2**-7), 0.0, v).astype(v.dtype, copy=False)


def dr03_written(pt: np.ndarray, value: np.ndarray) -> np.ndarray:
    """A ``dr03*`` detector isolation as NanoAOD v12 writes it: ``value`` above :data:`DR03_PT_MIN`, 0 below.

    Example:
        >>> dr03_written(np.array([20.0, 50.0]), np.array([3.0, 4.0])).tolist()
        [0.0, 4.0]
    """
    return np.where(np.asarray(pt) > DR03_PT_MIN, value, 0.0)


def mva_region(eta_sc: np.ndarray) -> np.ndarray:
    """MVA WP region index: 0 (abs(eta_SC) < 0.8), 1 (< 1.479), 2 (endcap).

    Example:
        >>> mva_region(np.array([0.2, 1.0, 2.0])).tolist()
        [0, 1, 2]
    """
    return np.searchsorted(np.asarray(MVA_REGIONS), np.abs(eta_sc), side="right")


def mva_cut(pt: np.ndarray, eta_sc: np.ndarray, table: WPTable) -> np.ndarray:
    """The WP's cut value ``C - A exp(-pT/B)`` for each object (``table``: (C, A, B) per region).

    Example:
        >>> mva_cut(np.array([10.0, 1000.0]), np.array([0.1, 2.0]), MVA_NOISO_WP["WP90"]).round(3).tolist()
        [0.49, 0.69]
    """
    t = np.asarray(table, np.float64)[mva_region(eta_sc)]
    return t[:, 0] - t[:, 1] * np.exp(-np.asarray(pt, np.float64) / t[:, 2])


def mva_wp(score: np.ndarray, pt: np.ndarray, eta_sc: np.ndarray, table: WPTable) -> np.ndarray:
    """Whether ``score`` passes the WP ``table`` (:func:`mva_cut`); ``eta_sc`` = eta + deltaEtaSC.

    Example:
        >>> mva_wp(np.array([0.6, 0.6]), np.array([10.0, 1000.0]), np.array([0.1, 0.1]), MVA_NOISO_WP["WP90"]).tolist()
        [True, False]
    """
    return np.asarray(score) > mva_cut(pt, eta_sc, table)
