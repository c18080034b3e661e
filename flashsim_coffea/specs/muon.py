"""Muons: genuine from final-state gen muons (prompt, from hadron or tau decays, told apart
by ``statusFlags``), fakes from jets (punch-through, decays in flight) and fakes from the underlying
event apart from the jets (:data:`UEFAKE`).

Every field of the reference detector's ``Muon`` (58) is learnt or derived:

* learnt: kinematics, ``charge``, ``dxy``, ``dz`` and their errors (with ``sip3d``, written derived), the isolation flavours
  (``pfRelIso03/04_all``, ``miniPFRelIso_all``: the first and last as their excess over the charged parts ``pfRelIso03_chg``,
  ``miniPFRelIso_chg``, ``tkRelIso``, ``puppiIsoId`` whose PUPPI sum is not written), the IDs
  of hidden track/station quality (``looseId``, ``mediumId``, ``tightId``, ``softId``,
  ``highPtId``, ``triggerIdLoose``, ``isStandalone``, ``highPurity``, ``inTimeMuon``, ...),
  ``segmentComp``, ``tunepRelPt``, the scores of that quality (``softMva``, ``mvaMuID``), the
  beam-spot refit (``bsConstrainedPt/PtErr`` and the chi2's rest beyond the squared ``dxybs`` pull,
  :data:`BS_CHI2_REST`) and ``jetNDauCharged`` (0 where the flash
  muon has no jet);
* derived after sampling (:func:`flashsim_coffea.sim.derive.muon`, the reference's
  :mod:`flashsim_coffea.nanoaod` functions on the flash fields): ``pdgId``, ``mass``,
  ``genPartFlav``, ``jetIdx``, ``pfIsoId``, ``jetRelIso``/``jetPtRelv2`` (from the final flash
  jets), ``tightCharge``, ``mvaTTH``/``mvaLowPt``, ``softMvaId``, ``mvaMuID_WP``,
  ``mediumPromptId``, ``tkIsoId``, ``miniIsoId``, ``multiIsoId``, ``dxybs``, ``bsConstrainedChi2`` (the
  learnt rest on the squared pull of that ``dxybs``), ``ip3d`` (from ``dxy``,
  ``dz``, ``eta``: :func:`flashsim_coffea.nanoaod.derived.ip3d`) and ``sip3d`` (with the errors:
  :func:`flashsim_coffea.sim.derive.sip3d`).

No duplicate-muon source (issue 22 item 4). The CMS FlashSim talk adds a second classifier per
genuine muon that decides whether it also yields a duplicate copy (two reco muons from one gen
muon, from split tracks). The reference detector makes at most one reco muon per gen muon
(``reference/muons.py``: a gen muon is reconstructed or not; fakes come from pions and kaons),
so its samples hold no duplicate to learn from: 0 of 232 matched muons of the cached 400-event
ttbar sample share a ``genPartIdx`` (real CMS ``nano_tt_v12.root``: 0 of 140 [meas]), and a
duplicate classifier would learn "never". It becomes worthwhile once the reference detector
models track splitting at a rate taken from a CMS source.

Example:
    >>> [(s.key, s.candidates, s.link) for s in SOURCES]
    [('Muon_genmuon', 'GenMuon', 'genPartIdx'), ('Muon_jetfake', 'GenJetFake', None), ('Muon_uefake', None, None)]
    >>> list(GENUINE.targets)[:6], len(GENUINE.targets)
    (['pt', 'eta', 'phi', 'charge', 'ptErr', 'dxy'], 39)
"""

from __future__ import annotations

from flashsim_coffea.specs._lepton import (
    APART_CATEGORIES,
    CHARGE,
    FLAG,
    GEN_CONDITIONING,
    IMPACT,
    INTEGER,
    ISO_ALL_03,
    ISO_ALL_MINI,
    ISOLATION,
    JET_CONDITIONING,
    KINEMATICS,
    LEPTON_ISO_TARGETS,
    POSITIVE,
    QUANTILE,
    apart_kinematics,
)
from flashsim_coffea.specs.source import COUNT_CONDITIONING, Source

#: the flow target of the beam-spot refit's chi2: what the chi2 holds beyond the squared pull of ``dxybs``
#: (:func:`flashsim_coffea.nanoaod.lepton_jet.bs_chi2_rest`; a private column, not a NanoAOD field: the muon derive
#: step writes ``bsConstrainedChi2`` from it, :func:`flashsim_coffea.sim.derive.muon`)
BS_CHI2_REST = "_bsConstrainedChi2Rest"

_TARGETS = {
    "ptErr": POSITIVE,
    "dxy": IMPACT,
    "dxyErr": POSITIVE,
    "dz": IMPACT,
    "dzErr": POSITIVE,
    # learnt beside dxy and its error, though the written sip3d is derived from them (sim/derive.sip3d): without it the
    # flow's dxy core came out narrow (on electrons: 17k held-out zh ones, 6k steps, noise seeds 1 / 2: dxy 0.574 / 0.575 ->
    # 0.522 / 0.529, the five impact fields 0.633 / 0.633 -> 0.585 / 0.589; docs/performance.md)
    "sip3d": POSITIVE,
    "pfRelIso03_all": ISO_ALL_03,
    # the 0.4 cone's charged sum holds the 0.3 one's and its neutral part is clipped at 0: never below pfRelIso03_chg
    # (FullSim vbf_hmumu and real nano_tt_v12: 0 %; 38 % / 15 % equal). Learnt on its own, 5 % of the flash muons fell
    # below, and a gradient-boosted classifier took it as the next relation once tkRelIso was on its own
    # (field_greedy, vbf 20k: miniPFRelIso_all 0.526, + pfRelIso03_chg 0.568, + pfRelIso04_all 0.623)
    "pfRelIso04_all": {"kind": "excess", "over": "pfRelIso03_chg", "then": ISOLATION},
    "miniPFRelIso_all": ISO_ALL_MINI,
    # the reference's tracker isolation sums the PF charged hadrons of pfRelIso03_chg plus the PU tracks within dz <
    # 0.2 cm, over the tuneP pT: tkRelIso x tunepRelPt equals pfRelIso03_chg for 91 % of the vbf_hmumu muons, above it
    # for 8.5 %, below (by rounding) for 0.7 % (real CMS nano_tt_v12: 48 / 35 / 17 %). Learnt on its own, flash had
    # 9.5 % below and 30 % above, and a gradient-boosted classifier given both fields told the muons apart at 0.670
    # (benchmarks/field_greedy.py, vbf 20k: miniPFRelIso_all 0.529, + pfRelIso03_chg 0.560, + tkRelIso): learnt as
    # the excess over pfRelIso03_chg / tunepRelPt, a spike at 0 for the equal ones. (Through quantiles the flow's
    # draws at the tie's edge came back as values between 0 and the first excess, 1e-8 to 1e-4 for 1.5 % of the
    # muons; as the signed difference, 12 % fell below and 0.7 % below 0: docs/performance.md.)
    "tkRelIso": {"kind": "excess", "over": "pfRelIso03_chg", "per": "tunepRelPt", "then": ISOLATION},
    "looseId": FLAG,
    "mediumId": FLAG,
    "tightId": FLAG,
    "isGlobal": FLAG,
    "isTracker": FLAG,
    "isPFcand": FLAG,
    "nStations": INTEGER,
    "nTrackerLayers": INTEGER,
    **LEPTON_ISO_TARGETS,
    "puppiIsoId": INTEGER,
    "softId": FLAG,
    "highPtId": INTEGER,
    "triggerIdLoose": FLAG,
    "isStandalone": FLAG,
    "highPurity": FLAG,
    "inTimeMuon": FLAG,
    # 0 without a muon-station segment; else in (0, 1], piled up at 1
    "segmentComp": {"kind": "spike", "value": 0.0, "then": {"kind": "logit", "lo": 0.0, "hi": 1.0}},
    # exactly 1 (tuneP = the PF muon's fit) for 80% of the reference ttbar muons, most others within 2 %,
    # all on NanoAOD's 6-bit grid: every value spread over its grid cell (the engine rounds back), then
    # Gaussianised by its quantiles, so that the cell of 1 is most of the flow's Gaussian. No spike: 1 lies
    # inside the range (75 % of the other values below it), and a spike's noise beside the lowest values put
    # 80 % of the muons next to the 0.25 tail, which the flow then filled (zh 240k: 72 % at 1 for FullSim's
    # 80 %, 0.5 % quantile 0.27 for 0.97; W1/sigma 0.36). Same tables, two seeds, zh 20k (docs/performance.md):
    # at 1 0.78 / 0.79, total variation 0.028 / 0.018, gradient-boosted AUC 0.518 / 0.511 (asinh instead of
    # the quantiles: 0.68 / 0.67, 0.13 / 0.14, 0.57 / 0.57; with the spike 0.85 / 0.82, 0.075, 0.54 / 0.56)
    "tunepRelPt": {"kind": "grid", "bits": 6, "then": {"kind": "quantile"}},
    # -1 for non-global muons (the soft MVA is not evaluated), else in (0, 0.76): a default, put back by rule from
    # the learnt isGlobal (sim/derive.py ``muon``), so that it holds exactly both ways
    "softMva": {"kind": "default", "value": -1.0, "then": {"kind": "logit"}},
    # -99 for non-loose muons (the rule: looseId), else in (0, 0.93)
    "mvaMuID": {"kind": "default", "value": -99.0, "then": {"kind": "logit"}},
    "bsConstrainedPt": {"kind": "ratio", "gen": "pt"},
    "bsConstrainedPtErr": POSITIVE,
    # the refit's chi2 less the squared pull of dxybs (the beam spot as one more measurement: never below it), learnt
    # as that rest (nanoaod.lepton_jet.bs_chi2_rest), the chi2 put back from the flash dxybs (sim/derive.py ``muon``)
    BS_CHI2_REST: QUANTILE,
}

#: the isolations' point masses (a charged sum of 0, an ``*_all`` or ``tkRelIso`` on its bound) drawn first as categories
#: (:data:`~flashsim_coffea.specs.source.POINT`): learnt by the flow, ``pfRelIso04_all`` = ``pfRelIso03_chg`` came out at
#: 0.62 of FullSim's share, ``pfRelIso03_all``'s tie at 0.88 (benchmarks/point_shares.py, 8000 steps, tables of ttbar,
#: dy_mumu, dy_mumu_m105; docs/performance.md "Point masses drawn first")
ISOLATION_POINTS = tuple(f"{f}:point" for f in ("pfRelIso03_chg", "miniPFRelIso_chg", "pfRelIso03_all", "pfRelIso04_all",
                                               "miniPFRelIso_all", "tkRelIso"))

GENUINE = Source(
    collection="Muon",
    name="genmuon",
    candidates="GenMuon",
    link="genPartIdx",
    conditioning=GEN_CONDITIONING,
    targets={**KINEMATICS, "charge": CHARGE, **_TARGETS},
    match_dr=0.3,
    categories=ISOLATION_POINTS,
)

JETFAKE = Source(
    collection="Muon",
    name="jetfake",
    candidates="GenJetFake",
    conditioning=JET_CONDITIONING,
    targets={**KINEMATICS, "charge": {"kind": "sign", "gen": None}, **_TARGETS},
    constants={"genPartIdx": -1},
)

#: fakes apart from every jet: soft muons (3-5 GeV; 85 % without a reco jet, dz as the prompt ones') from decays in
#: flight of the underlying event's hadrons. 19 % of the fake muons of zh_llbb lie farther than 0.4 from every GenJet
#: above 15 GeV, where the jet-fake source (its candidates those GenJets) cannot put them: with the two sources alone
#: flash had 21 % fewer fake muons (2453 for FullSim's 3113 in 20k events; 4 of them apart from the GenJets for
#: 599) and too few muons without a jet (4.6 % for 6.4 %). A count source (as the pileup jets): the number per event
#: from the event's activity, drawn apart from those GenJets (``apart_from``, trained for the density before
#: that exclusion: :mod:`flashsim_coffea.train.apart`); no gen object, so every target is absolute.
UEFAKE = Source(
    collection="Muon",
    name="uefake",
    candidates=None,
    conditioning=COUNT_CONDITIONING,
    targets={
        # training acceptance pT 2.8, |eta| 2.4; regions: the DT barrel, the DT-CSC overlap, the CSC endcap, the
        # single-muon trigger's and the tracker's last layers beyond 2.1
        **apart_kinematics(-2.5, [-2.1, -1.2, -0.9, 0.9, 1.2, 2.1]),
        **_TARGETS,
        "bsConstrainedPt": POSITIVE,
    },
    constants={"genPartIdx": -1},
    apart_from=(("GenJetFake", JETFAKE.match_dr),),
    categories=APART_CATEGORIES,
)

SOURCES = [GENUINE, JETFAKE, UEFAKE]
