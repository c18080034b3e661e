"""Lepton fields that are functions of other reco fields (NanoAOD definitions, exact).

The reference detector writes these fields with the functions below, and FlashSim derives
them from its own simulated fields with the same functions, so both agree by construction:

* :func:`jet_vars` / :func:`lepton_jet_vars`: ``jetRelIso`` (1/ptRatio - 1) and ``jetPtRelv2``
  of a lepton and the jet it belongs to (``jetIdx``), as CMSSW ``LeptonJetVarProducer`` computes
  them. NanoAOD v12 jets are PUPPI jets without an L1 (pileup offset) correction, so the lepton is
  subtracted from the raw jet and the rest scaled by the full JEC; on ``nano_tt_v12.root`` this
  reproduces the stored ``Muon_jetRelIso`` to a median 0.1% and ``Muon_jetPtRelv2`` to 0.002 GeV
  (median) from ``Muon_pt/eta/phi`` and ``Jet_pt/eta/phi/mass/rawFactor`` [meas];
* :func:`lepton_mva`: the ttH-like prompt-lepton score (``mvaTTH``, muon ``mvaLowPt``), a logistic
  score of the lepton's kinematics, isolation, impact parameters, its jet variables and the jet's
  b-tag (:data:`MVA` holds the weights and their provenance);
* the working-point codes CMSSW cuts on a lepton's own fields: :func:`mini_iso_id`,
  :func:`tk_iso_id`, :func:`multi_iso_id` (``PATMuonProducer``), :func:`muon_tight_charge`,
  :func:`medium_prompt_id`, :func:`mva_id_wp`, :func:`soft_mva_id` (``MuonSelectors``,
  ``muons_cff``), and :func:`dxy_beamspot` (``dxybs`` from ``dxy``, ``phi`` and the PV).

Example:
    A 30 GeV muon alone in its jet (jet = the muon x JEC), and a 10 GeV muon inside a 50 GeV jet:

    >>> one = np.ones(2)
    >>> rel_iso, pt_rel = jet_vars(np.array([30.0, 10.0]), 0 * one, 0 * one, 0.1 * one,
    ...                            np.array([33.0, 50.0]), np.array([0.0, 0.1]), 0 * one, np.array([0.1, 8.0]),
    ...                            np.array([1 - 1 / 1.1, 0.1]), np.array([True, True]), 0 * one)
    >>> rel_iso.round(3), pt_rel.round(3)
    (array([0.   , 3.889]), array([0.   , 1.277]))
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from flashsim_coffea.nanoaod.derived import offsets, p4

#: ``miniIsoId`` edges on ``miniPFRelIso_all``: Loose, Medium, Tight, VeryTight [code: cms-sw/cmssw
#: PhysicsTools/PatAlgos/plugins/PATMuonProducer.cc, MiniIso* selectors]
MINI_ISO_WP = (0.40, 0.20, 0.10, 0.05)
#: ``tkIsoId`` edges on isolationR03().sumPt / pT: Loose, Tight [code: cmssw DataFormats/MuonReco/src/MuonSelectors.cc]
TK_ISO_WP = (0.10, 0.05)
#: MultiIsoMedium: miniIso < 0.11 and (ptRatio > 0.74 or ptRel > 6.8 GeV); CMSSW never sets MultiIsoLoose,
#: so ``multiIsoId`` is 0 or 2 [code: PATMuonProducer.cc; meas: nano_tt_v12 has only 0 and 2]
MULTI_ISO = {"mini": 0.11, "ptratio": 0.74, "ptrel": 6.8}
#: muon ``tightCharge``: 2 if ptErr/pT of the best track < 0.2, else 0 [code: PhysicsTools/NanoAOD/python/muons_cff.py]
TIGHT_CHARGE_MAX_REL_ERR = 0.2
#: CutBasedIdMediumPrompt: medium and abs(dz) < 0.1 cm, abs(dxy) < 0.02 cm [code: MuonSelectors.cc]
MEDIUM_PROMPT_IP = {"dz": 0.1, "dxy": 0.02}
#: Muon MVA ID WPs: medium > 0.08, tight > 0.12 with abs(dz) < 0.5, abs(dxy) < 0.2 cm [code: PATMuonProducer.cc]
MVA_ID_WP = {"medium": 0.08, "tight": 0.12, "dz": 0.5, "dxy": 0.2}
#: SoftMvaId: softMva > 0.58 [code: PATMuonProducer.cc, "WP choose for bmm4"]
SOFT_MVA_WP = 0.58
#: the beam spot (cm) that ``dxybs`` refers to: the fit of ``Muon_dxybs - Muon_dxy`` against
#: ``PV_x``, ``PV_y`` and ``Muon_phi`` in nano_tt_v12 gives (0.1007, -0.0150), residual 0.6 um [meas];
#: the reference detector's PV mean (``reference.pileup`` ``pv_x_cm``, ``pv_y_cm``)
BEAM_SPOT_CM = (0.1007, -0.0151)
#: the beam spot's transverse width (cm) that the beam-spot constrained refit uses: nano_tt_v12's displaced muons have
#: ``bsConstrainedChi2`` ~ 0.9 (dxybs/dxyErr)², which 6 um gives [meas]; the reference detector's (``reference.muons``
#: ``bs_sigma_cm``)
BEAM_SPOT_WIDTH_CM = 6.0e-4

#: prompt-lepton scores: ``score = tanh(w . features(x) / 2)`` (= 2 p - 1 for a logistic p) with
#: the features of :func:`mva_features`. The weights are a logistic regression of prompt
#: (``genPartFlav`` 1, 15) against non-prompt leptons (0, 3, 4, 5) on the reference detector's own
#: ttbar events, as the CMS ttH lepton MVA is a BDT trained on simulated ttbar with these inputs:
#: pT, abs(eta), jetNDauCharged, charged and neutral miniIso, jetPtRelv2, jet b-tag, ptRatio, sip3d,
#: log abs(dxy), log abs(dz), segment compatibility (muon) or the ID MVA (electron) [mem: CMS ttH
#: multilepton, JHEP 08 (2018) 066, arXiv:1803.05485]. ``mvaLowPt`` is the same fit on muons below
#: 25 GeV (the CMSSW low-pT muon MVA has the ttH inputs). [derived: ``reference.leptons.fit_logistic``
#: (L2 1e-3) on 1800 reference ttbar events (mu = 35 PU; 600 seed 11 + 1200 seed 13): 1557 muons
#: (398 prompt; 1122 below 25 GeV, 82 prompt); electrons refitted with their ID input ``mvaNoIso`` on the
#: same 1800 events of the issue-22 electrons.py: 2229 electrons (340 prompt; conversions, flavour 22,
#: left out), training AUC 0.998 (0.995 without the ID input)]
MVA: dict[str, tuple[float, ...]] = {
    "muon_tth": (-12.737, 1.028, -0.136, -0.131, -0.592, -0.483, 0.99, -1.803, 1.03, -0.166, -0.606, 0.006, 2.524),
    "muon_lowpt": (-10.768, 1.45, -0.523, -0.056, -0.54, -0.432, 0.808, -1.756, 1.336, -0.334, -0.39, 0.202, 2.714),
    "electron_tth": (-11.046, 1.084, 0.012, -0.435, -0.474, -0.546, 0.614, -0.967, 0.901, -0.295, -0.398, -0.238, 2.126),
}
#: a BDT's response is bounded (a finite sum of leaf values): the logit is clipped so that the score
#: spans [-0.9996, 0.9989] [meas: nano_tt_v12 Muon_mvaTTH min -0.9997, max 0.9986]
MVA_LOGIT_RANGE = (-8.5, 7.5)

#: feature names of :func:`mva_features`, in order (weights of :data:`MVA` follow it, bias first).
MVA_FEATURES = (
    "bias", "log_pt", "abs_eta", "jet_ndau", "log_mini_chg", "log_mini_neu", "log_ptrel", "jet_btag",
    "ptratio", "log_sip3d", "log_dxy", "log_dz", "id_score",
)


def jet_vars(
    pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, mass: np.ndarray,
    jet_pt: np.ndarray, jet_eta: np.ndarray, jet_phi: np.ndarray, jet_mass: np.ndarray, jet_raw_factor: np.ndarray,
    has_jet: np.ndarray, iso_no_jet: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """``jetRelIso`` and ``jetPtRelv2`` of leptons given the kinematics of their jets (flat arrays).

    The lepton-subtracted jet is ``(raw - lep) x pt/pt_raw + lep`` (raw = (1 - rawFactor) x jet);
    ptRatio = pT(lep) / pT(that jet), ``jetRelIso`` = 1/ptRatio - 1, ``jetPtRelv2`` = the lepton
    momentum transverse to (jet - lep). A lepton that is its whole raw jet has ptRatio 1, ptRel 0.
    Without a jet: ``jetRelIso = iso_no_jet`` (muons ``pfRelIso04_all``, electrons
    ``pfRelIso03_all``), ``jetPtRelv2 = 0``.

    Arguments:
        pt, eta, phi, mass: the leptons.
        jet_pt, jet_eta, jet_phi, jet_mass, jet_raw_factor: their jets (any value where ``has_jet`` is False).
        has_jet: whether the lepton has a jet.
        iso_no_jet: the isolation written as ``jetRelIso`` when there is no jet.

    Returns:
        (jetRelIso, jetPtRelv2) as float64 arrays. Example in the module docstring.
    """
    lep = p4(pt, eta, phi, mass)
    jet = p4(jet_pt, jet_eta, jet_phi, jet_mass)
    raw = jet * (1.0 - np.asarray(jet_raw_factor, np.float64))
    d = raw - lep
    same = np.linalg.norm(d[:3], axis=0) < 1e-4
    scale = np.asarray(jet_pt, np.float64) / np.maximum(np.hypot(raw[0], raw[1]), 1e-9)
    rest = d * scale  # the lepton-subtracted, corrected jet
    full = rest + lep
    ptratio = np.asarray(pt, np.float64) / np.maximum(np.hypot(full[0], full[1]), 1e-9)
    unit = rest[:3] / np.maximum(np.linalg.norm(rest[:3], axis=0), 1e-12)
    ptrel = np.linalg.norm(np.cross(lep[:3].T, unit.T).T, axis=0)
    has = np.asarray(has_jet, bool) & ~same
    rel_iso = np.where(has, 1.0 / ptratio - 1.0, np.where(np.asarray(has_jet, bool), 0.0, iso_no_jet))
    return rel_iso, np.where(has, ptrel, 0.0)


def linked(jets: ak.Array | None, field: str, evt: np.ndarray, jet_idx: np.ndarray, default: float = 0.0) -> np.ndarray:
    """``jets[field]`` of the jet each object links to (``jet_idx`` in event ``evt``), ``default`` if -1
    (or if the jets lack the field: a jet without ``rawFactor`` is uncorrected).

    Example:
        >>> jets = ak.Array([[{"pt": 40.0}, {"pt": 20.0}], [{"pt": 30.0}]])
        >>> linked(jets, "pt", np.array([0, 1, 1]), np.array([1, -1, 0])).tolist()
        [20.0, 0.0, 30.0]
    """
    evt, jet_idx = np.asarray(evt, np.int64), np.asarray(jet_idx, np.int64)
    if jets is None or len(evt) == 0 or field not in jets.fields:
        return np.full(len(evt), default, np.float64)
    flat = np.asarray(ak.to_numpy(ak.flatten(jets[field])), np.float64)
    g = offsets(np.asarray(ak.num(jets)))[evt] + np.maximum(jet_idx, 0)
    return np.where(jet_idx >= 0, flat[np.minimum(g, max(len(flat) - 1, 0))] if len(flat) else default, default)


def lepton_jet_vars(
    jets: ak.Array | None, evt: np.ndarray, jet_idx: np.ndarray,
    pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, mass: np.ndarray, iso_no_jet: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`jet_vars` with the jets looked up in the jagged ``Jet`` collection by ``jetIdx``.

    Arguments:
        jets: the final Jet collection (``pt eta phi mass rawFactor``), or None (no jets).
        evt, jet_idx: event index and ``jetIdx`` of each lepton (flat).
        pt, eta, phi, mass, iso_no_jet: as in :func:`jet_vars`.

    Example:
        >>> jets = ak.Array([[{"pt": 50.0, "eta": 0.1, "phi": 0.0, "mass": 8.0, "rawFactor": 0.1}]])
        >>> rel_iso, pt_rel = lepton_jet_vars(jets, np.array([0, 0]), np.array([0, -1]), np.array([10.0, 5.0]),
        ...                                   np.zeros(2), np.zeros(2), np.full(2, 0.1), np.array([9.0, 0.3]))
        >>> rel_iso.round(3).tolist(), pt_rel.round(3).tolist()
        ([3.889, 0.3], [1.277, 0.0])
    """
    has = np.asarray(jet_idx) >= 0
    look = {f: linked(jets, f, evt, jet_idx) for f in ("pt", "eta", "phi", "mass", "rawFactor")}
    return jet_vars(pt, eta, phi, mass, look["pt"], look["eta"], look["phi"], look["mass"], look["rawFactor"],
                    has & (look["pt"] > 0), iso_no_jet)


def mva_features(
    pt: np.ndarray, eta: np.ndarray, jet_ndau: np.ndarray, mini_chg: np.ndarray, mini_all: np.ndarray,
    jet_pt_rel: np.ndarray, jet_rel_iso: np.ndarray, jet_btag: np.ndarray,
    sip3d: np.ndarray, dxy: np.ndarray, dz: np.ndarray, id_score: np.ndarray,
) -> np.ndarray:
    """The (n, 13) feature matrix of the prompt-lepton scores (:data:`MVA_FEATURES`).

    ``log`` features are natural logs with floors (miniIso 0.01, ptRel 1 GeV offset, sip3d 0.1,
    dxy 1e-4 cm, dz 1e-4 cm); ptRatio = 1/(1 + jetRelIso) capped at 1.5 as the CMS trainings do;
    the b-tag is clipped to [0, 1] (0 without a jet).

    Example:
        >>> f = mva_features(*(np.array([v]) for v in (40.0, 0.5, 1, 0.0, 0.02, 0.0, 0.05, 0.0, 1.0, 0.001, 0.002, 0.9)))
        >>> dict(zip(MVA_FEATURES, f[0].round(2)))["ptratio"]
        np.float64(0.95)
    """
    mini_chg = np.maximum(np.asarray(mini_chg, np.float64), 0.0)
    mini_neu = np.maximum(np.asarray(mini_all, np.float64) - mini_chg, 0.0)
    ptratio = np.minimum(1.0 / (1.0 + np.maximum(np.asarray(jet_rel_iso, np.float64), -0.3)), 1.5)
    cols = (
        np.ones(len(pt)),
        np.log(np.maximum(pt, 1.0)),
        np.abs(eta),
        np.asarray(jet_ndau, np.float64),
        np.log(mini_chg + 0.01),
        np.log(mini_neu + 0.01),
        np.log1p(np.maximum(jet_pt_rel, 0.0)),
        np.clip(jet_btag, 0.0, 1.0),
        ptratio,
        np.log(np.maximum(sip3d, 0.1)),
        np.log(np.maximum(np.abs(dxy), 1e-4)),
        np.log(np.maximum(np.abs(dz), 1e-4)),
        np.asarray(id_score, np.float64),
    )
    return np.stack([np.asarray(c, np.float64) for c in cols], axis=1)


def lepton_mva(name: str, features: np.ndarray) -> np.ndarray:
    """Prompt-lepton score in (-1, 1): ``tanh(w . features / 2)`` with the weights ``MVA[name]``, the
    logit clipped to :data:`MVA_LOGIT_RANGE`.

    Arguments:
        name: a key of :data:`MVA` (``"muon_tth"``, ``"muon_lowpt"``, ``"electron_tth"``).
        features: :func:`mva_features`.

    Example:
        An isolated muon alone in its jet (ptRatio 1) from the PV scores near +1, a displaced
        non-isolated muon in a b-tagged jet near -1:

        >>> prompt = mva_features(*(np.array([v]) for v in (40., 0.5, 1, 0., 0., 0., 0., 0.05, 1., 1e-3, 2e-3, 0.95)))
        >>> bmu = mva_features(*(np.array([v]) for v in (12., 0.5, 6, 1.5, 1.0, 1.2, 2.0, 0.9, 12., 0.02, 0.03, 0.9)))
        >>> lepton_mva("muon_tth", prompt).round(3), lepton_mva("muon_tth", bmu).round(3)
        (array([0.928]), array([-0.991]))
    """
    w = np.asarray(MVA[name], np.float64)
    return np.tanh(0.5 * np.clip(np.asarray(features, np.float64) @ w, *MVA_LOGIT_RANGE))


def lepton_scores(cols: dict[str, np.ndarray], jets: ak.Array | None, evt: np.ndarray, id_score: np.ndarray | None,
                  names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The prompt-lepton scores ``names`` (keys of :data:`MVA`) of leptons from their NanoAOD columns:
    :func:`mva_features` with the b-tag (``btagDeepFlavB``) of each lepton's jet, then :func:`lepton_mva`.
    The reference detector (``reference.leptons.mva_tth``) and FlashSim (``sim/derive.py``) both call it.

    Arguments:
        cols: ``pt eta jetNDauCharged miniPFRelIso_chg miniPFRelIso_all jetPtRelv2 jetRelIso sip3d dxy dz
            jetIdx`` of the leptons (flat).
        jets: the final Jet collection, or None (no jet: b-tag 0).
        evt: event index of each lepton.
        id_score: the identification input (muon ``segmentComp``, electron ``mvaNoIso``); None: 0.
        names: the weight sets, e.g. ``("muon_tth", "muon_lowpt")``.

    Example:
        >>> cols = {"pt": np.array([40.0]), "eta": np.array([0.3]), "jetNDauCharged": np.array([1]),
        ...         "miniPFRelIso_chg": np.array([0.0]), "miniPFRelIso_all": np.array([0.01]),
        ...         "jetPtRelv2": np.array([0.0]), "jetRelIso": np.array([0.02]), "sip3d": np.array([1.0]),
        ...         "dxy": np.array([0.001]), "dz": np.array([0.002]), "jetIdx": np.array([-1])}
        >>> s = lepton_scores(cols, None, np.array([0]), np.array([0.95]), ("muon_tth", "muon_lowpt"))
        >>> bool(s["muon_tth"][0] > 0.9), sorted(s)
        (True, ['muon_lowpt', 'muon_tth'])
    """
    id_score = np.zeros(len(evt)) if id_score is None else id_score
    f = mva_features(cols["pt"], cols["eta"], cols["jetNDauCharged"], cols["miniPFRelIso_chg"],
                     cols["miniPFRelIso_all"], cols["jetPtRelv2"], cols["jetRelIso"],
                     linked(jets, "btagDeepFlavB", evt, cols["jetIdx"]), cols["sip3d"], cols["dxy"], cols["dz"],
                     id_score)
    return {name: lepton_mva(name, f) for name in names}


def mini_iso_id(mini_rel_iso: np.ndarray) -> np.ndarray:
    """``miniIsoId`` (0-4): the number of :data:`MINI_ISO_WP` edges ``miniPFRelIso_all`` is below.

    Example:
        >>> mini_iso_id(np.array([0.5, 0.15, 0.01])).tolist()
        [0, 2, 4]
    """
    return np.sum(np.asarray(mini_rel_iso)[:, None] < np.asarray(MINI_ISO_WP)[None, :], axis=1)


def tk_iso_id(tk_rel_iso: np.ndarray, tunep_rel_pt: np.ndarray) -> np.ndarray:
    """``tkIsoId`` (0, 1 Loose, 2 Tight) from NanoAOD ``tkRelIso`` (= trkIso / tuneP pT).

    CMSSW cuts trkIso / pT, i.e. ``tkRelIso x tunepRelPt`` (exact on nano_tt_v12 [meas]).

    Example:
        >>> tk_iso_id(np.array([0.2, 0.08, 0.04, 0.051]), np.array([1.0, 1.0, 1.0, 0.98])).tolist()
        [0, 1, 2, 2]
    """
    r = np.asarray(tk_rel_iso) * np.asarray(tunep_rel_pt)
    return np.where(r < TK_ISO_WP[1], 2, np.where(r < TK_ISO_WP[0], 1, 0))


def multi_iso_id(mini_rel_iso: np.ndarray, jet_rel_iso: np.ndarray, jet_pt_rel: np.ndarray) -> np.ndarray:
    """``multiIsoId`` (0 or 2 = MultiIsoMedium, :data:`MULTI_ISO`).

    Example:
        >>> multi_iso_id(np.array([0.05, 0.05, 0.2]), np.array([0.1, 1.0, 0.0]), np.array([0.0, 8.0, 0.0])).tolist()
        [2, 2, 0]
    """
    ptratio = 1.0 / (1.0 + np.asarray(jet_rel_iso))
    ok = (np.asarray(mini_rel_iso) < MULTI_ISO["mini"]) & (
        (ptratio > MULTI_ISO["ptratio"]) | (np.asarray(jet_pt_rel) > MULTI_ISO["ptrel"])
    )
    return np.where(ok, 2, 0)


def muon_tight_charge(pt: np.ndarray, pt_err: np.ndarray) -> np.ndarray:
    """Muon ``tightCharge``: 2 if ``ptErr/pt`` < 0.2, else 0.

    Example:
        >>> muon_tight_charge(np.array([50.0, 800.0]), np.array([1.0, 200.0])).tolist()
        [2, 0]
    """
    return np.where(np.asarray(pt_err) < TIGHT_CHARGE_MAX_REL_ERR * np.asarray(pt), 2, 0)


def medium_prompt_id(medium: np.ndarray, dxy: np.ndarray, dz: np.ndarray) -> np.ndarray:
    """``mediumPromptId``: ``mediumId`` with abs(dz) < 0.1 and abs(dxy) < 0.02 cm.

    Example:
        >>> medium_prompt_id(np.array([True, True, False]), np.array([0.01, 0.03, 0.0]), np.zeros(3)).tolist()
        [True, False, False]
    """
    return np.asarray(medium, bool) & (np.abs(dz) < MEDIUM_PROMPT_IP["dz"]) & (np.abs(dxy) < MEDIUM_PROMPT_IP["dxy"])


def mva_id_wp(mva: np.ndarray, dxy: np.ndarray, dz: np.ndarray) -> np.ndarray:
    """``mvaMuID_WP`` (0, 1 medium, 2 tight) from ``mvaMuID`` (-99 for non-loose muons) and the IPs.

    Example:
        >>> mva_id_wp(np.array([-99.0, 0.1, 0.5, 0.5]), np.zeros(4), np.array([0.0, 0.0, 0.0, 0.7])).tolist()
        [0, 1, 2, 1]
    """
    mva = np.asarray(mva)
    tight = (mva > MVA_ID_WP["tight"]) & (np.abs(dz) < MVA_ID_WP["dz"]) & (np.abs(dxy) < MVA_ID_WP["dxy"])
    return (mva > MVA_ID_WP["medium"]).astype(np.int64) + tight


def soft_mva_id(soft_mva: np.ndarray) -> np.ndarray:
    """``softMvaId``: ``softMva`` > 0.58.

    Example:
        >>> soft_mva_id(np.array([-1.0, 0.5, 0.7])).tolist()
        [False, False, True]
    """
    return np.asarray(soft_mva) > SOFT_MVA_WP


def bs_pull2(dxybs: np.ndarray, dxy_err: np.ndarray) -> np.ndarray:
    """The squared pull of the muon track's distance to the beam spot, ``dxybs² / (dxyErr² + w²)`` with the
    beam spot's width ``w`` (:data:`BEAM_SPOT_WIDTH_CM`): the beam-spot constraint's share of ``bsConstrainedChi2``.

    Example:
        >>> bs_pull2(np.array([0.0, 0.003]), np.array([0.001, 0.0008])).round(3).tolist()
        [0.0, 9.0]
    """
    return np.asarray(dxybs, np.float64) ** 2 / (np.asarray(dxy_err, np.float64) ** 2 + BEAM_SPOT_WIDTH_CM**2)


def bs_chi2_rest(chi2: np.ndarray, dxybs: np.ndarray, dxy_err: np.ndarray) -> np.ndarray:
    """``bsConstrainedChi2`` less the squared ``dxybs`` pull (:func:`bs_pull2`), at least 0: the rest of the refit,
    which the muon flows learn (``specs.muon.BS_CHI2_REST``) in place of the chi2. A refit with the beam spot as one more
    measurement has a chi2 at least that pull's square: in the reference detector the rest is a chi2 of one degree
    of freedom on every muon; learnt beside ``dxy``, the chi2 fell below the flash ``dxybs`` pull for 32 % of the
    flash muons of vbf_hmumu (never in FullSim), the every-field classifier's strongest lever (AUC 0.771 → 0.616
    without it). NanoAOD stores the chi2 with 6 mantissa bits, within 2^-7 of itself: for a displaced muon (pull²
    in the thousands) the written chi2 lies up to tens below the pull², a negative rest that is rounding only; it
    is taken as 0 (a flow learning it would put such rests on prompt muons).

    Example:
        >>> bs_chi2_rest(np.array([10.5, 1600.0]), np.array([0.003, 0.034]), np.array([0.0008, 0.0006])).round(3).tolist()
        [1.5, 0.0]
    """
    return np.maximum(np.asarray(chi2, np.float64) - bs_pull2(dxybs, dxy_err), 0.0)


def bs_chi2(rest: np.ndarray, dxybs: np.ndarray, dxy_err: np.ndarray) -> np.ndarray:
    """``bsConstrainedChi2`` from its learnt rest and the written ``dxybs``, ``dxyErr`` (:func:`bs_chi2_rest`
    inverted; never negative).

    Example:
        >>> bs_chi2(np.array([1.5, -0.2]), np.array([0.003, 0.0]), np.array([0.0008, 0.001])).round(3).tolist()
        [10.5, 0.0]
    """
    return np.maximum(bs_pull2(dxybs, dxy_err) + np.asarray(rest, np.float64), 0.0)


def dxy_beamspot(dxy: np.ndarray, phi: np.ndarray, pv_x: np.ndarray, pv_y: np.ndarray,
                 beam_spot: tuple[float, float] = BEAM_SPOT_CM) -> np.ndarray:
    """``dxybs`` (cm): the transverse impact parameter moved from the PV to the beam spot.

    dxy(point) = (-(x0 - x) py + (y0 - y) px) / pT, so dxy(BS) = dxy(PV) - dx sin(phi) + dy cos(phi)
    with (dx, dy) = PV - BS.

    Example:
        A PV 10 um from the beam spot along x, tracks along y (phi = pi/2) and along x:

        >>> dxy_beamspot(np.zeros(2), np.array([np.pi / 2, 0.0]), np.full(2, 0.1017), np.full(2, -0.0151)).round(5)
        array([-0.001,  0.   ])
    """
    dx = np.asarray(pv_x, np.float64) - beam_spot[0]
    dy = np.asarray(pv_y, np.float64) - beam_spot[1]
    return np.asarray(dxy, np.float64) - dx * np.sin(phi) + dy * np.cos(phi)
