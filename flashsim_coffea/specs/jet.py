"""AK4 jets: genuine jets from GenJet, split-off jets beside a GenJet, pileup/fake jets from a per-event count.

Targets are the fields the reference detector draws for ``Jet``. Kinematics are residuals to
the GenJet (pT ratio, Δη, Δφ); tagger scores (DeepJet, ParticleNet, RobustParT) and energy
fractions are bounded (logit; point masses at 0 and 1 for the fractions); the PNet regression,
its resolution and the HF shower widths are logs. NanoAOD's "not run" values of the Run-3 taggers
(-1 / -3 / -10) and of the regression (0) are not learnt (transform ``default``): derive puts them
back by rule; the HF widths' -1 is a learnt point mass (HF jets without hits above threshold).
Counts and ids are dequantised integers, ``puId`` is decomposed into its three WP bits. Genuine
jets copy ``hadronFlavour`` and ``partonFlavour`` from the GenJet (ghost association sees the same
hadrons); pileup jets learn them (FullSim gives most jets without a GenJet a quark or gluon flavour), with the constant 0
that models trained before stay at (:func:`flashsim_coffea.sim.engine.as_trained`).
``genJetIdx`` is the candidate's index.

A reco jet no GenJet claims within ΔR 0.8 of a GenJet is that GenJet's *split* jet (the closest
one, one per GenJet; :func:`flashsim_coffea.train.extract.tables`): a piece of a jet the clustering
split off, or a pileup jet on top of it. The jets without a GenJet that carry a b hadron are mostly
such pieces (zh_llbb: 72 % within ΔR 0.8 of a GenJet, 81 % of those of a b GenJet), which a model
of the event alone cannot place (docs/performance.md, "The pileup jets' b flavour"). Most of the
others hold a b hadron outside every GenJet (:func:`flashsim_coffea.sim.candidates.outside_genjets`):
a jet no GenJet claims within ΔR 0.4 of such a hadron, among those the split jets leave, is its
*bhadron* jet (one per hadron), ``hadronFlavour`` 5 and ``partonFlavour`` its b quark's (by rule: the
candidate's field, :func:`flashsim_coffea.sim.features.b_quark_flavour`). The pileup source models the
jets left: its count card names the sources it leaves out (``excludes``), and the engine refuses a pileup
model beside a split or bhadron model it was not trained beside.

Derived (``sim/derive.py``): the defaults where an algorithm does not run
(:mod:`flashsim_coffea.nanoaod.jet_defaults`: taggers, regression, HF shapes),
``muonSubtrFactor`` = 0 without a PF muon (``muEF`` = 0), and the lepton links ``muonIdx1/2``,
``electronIdx1/2``, ``nMuons``, ``nElectrons`` from the final leptons' ``jetIdx``
(:mod:`flashsim_coffea.nanoaod.jet_links`), which older models learnt (``sim/derive.py`` ``DERIVED``).

Example:
    >>> [(s.key, s.candidates, s.link, s.match_dr) for s in SOURCES]  # doctest: +NORMALIZE_WHITESPACE
    [('Jet_genjet', 'GenJet', 'genJetIdx', 0.4), ('Jet_pileup', None, None, 0.4), ('Jet_split', 'GenJet', None, 0.8),
     ('Jet_bhadron', 'GenBHadronOutside', None, 0.4)]
    >>> GENUINE.targets["pt"], GENUINE.targets["puId"], len(GENUINE.targets), len(PILEUP.targets), len(SPLIT.targets)
    ({'kind': 'ratio', 'gen': 'pt'}, {'kind': 'bits', 'bits': [4, 2, 1]}, 35, 37, 37)
"""

from __future__ import annotations

from functools import partial

from flashsim_coffea.specs.source import COUNT_CONDITIONING, Source, near_candidate

#: energy fractions: point masses at exactly 0 and exactly 1 (neHEF = 1 for 24% of the
#: reference ttbar jets: forward jets made of neutral hadrons only), logit between
_FRACTION = {"kind": "spike", "value": 0.0, "then": {
    "kind": "spike", "value": 1.0, "side": "high", "then": {"kind": "logit", "lo": 0.0, "hi": 1.0}}}
_SCORE = {"kind": "logit", "lo": 0.0, "hi": 1.0}


def _run3(default: float) -> dict:
    """A Run-3 tagger score, a logit; NanoAOD's ``default`` where the tagger does not run is put back by
    rule (``sim/derive.py``), the flow never learns it (transform ``default``). The scores piled at the top
    (the reference clips at 0.9995: 2.9 % of the PNet b scores at the stored 0.99902) stay plain logits: a spike
    at the top made no better pile and a worse score (docs/performance.md, "Point masses at the ends")."""
    return {"kind": "default", "value": default, "then": _SCORE}


#: the regression: 0 where it does not run (put back by rule), a log elsewhere
_REG = {"kind": "default", "value": 0.0, "then": {"kind": "log", "offset": 0.0}}
#: the HF widths: -1 outside HF (put back by rule) and for HF jets without hits above threshold (learnt)
_HF_WIDTH = {"kind": "spike", "value": -1.0, "then": {"kind": "log", "offset": 0.0}}

_COMMON_TARGETS = {
    "area": {"kind": "plain"},
    # plain: as a residual to the jets' calibration (transform ``calibration``, as FatJet's) it changed
    # nothing measurable here, where the pileup offset rho x area is most of it (docs/performance.md)
    "rawFactor": {"kind": "plain"},
    "btagDeepFlavB": _SCORE,
    "btagDeepFlavCvL": _SCORE,
    "btagDeepFlavCvB": _SCORE,
    "btagDeepFlavQG": _SCORE,
    "btagPNetB": _run3(-1.0),
    "btagPNetCvL": _run3(-1.0),
    "btagPNetCvB": _run3(-1.0),
    "btagPNetQvG": _run3(-10.0),
    "btagPNetTauVJet": _run3(-1.0),
    "btagRobustParTAK4B": _run3(-3.0),
    "btagRobustParTAK4CvL": _run3(-1.0),
    "btagRobustParTAK4CvB": _run3(-1.0),
    "btagRobustParTAK4QG": _run3(-1.0),
    "PNetRegPtRawCorr": _REG,
    # 1 + the neutrinos' share, stored with 10 bits: beyond the tracker on five values (1.001-1.005), a comb the
    # log blurred (the field the gradient-boosted test takes first, single-field AUC 0.528 on zh_llbb): spread
    # over each stored value's cell and Gaussianised by its quantiles, as the muons' tunepRelPt
    "PNetRegPtRawCorrNeutrino": {"kind": "default", "value": 0.0, "then": {"kind": "grid", "bits": 10,
                                                                           "then": {"kind": "quantile"}}},
    "PNetRegPtRawRes": _REG,
    "chHEF": _FRACTION,
    "neHEF": _FRACTION,
    "chEmEF": _FRACTION,
    "neEmEF": _FRACTION,
    "muEF": _FRACTION,
    "muonSubtrFactor": _FRACTION,
    "nConstituents": {"kind": "integer"},
    "jetId": {"kind": "integer"},
    "puId": {"kind": "bits", "bits": [4, 2, 1]},
    "hfsigmaEtaEta": _HF_WIDTH,
    "hfsigmaPhiPhi": _HF_WIDTH,
    "hfcentralEtaStripSize": {"kind": "integer"},
    "hfadjacentEtaStripsSize": {"kind": "integer"},
}
#: categories, not ordinals: as dequantised integers the flow smeared the 28 % of partonFlavour 0
#: into +-1 (zh_llbb, jets without a GenJet: flash 3153 with 0 / 4906 uds where FullSim has 5339 / 2824)
_FLAVOURS = {
    "hadronFlavour": {"kind": "onehot", "values": [0, 4, 5]},
    "partonFlavour": {"kind": "onehot", "values": [-5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 21]},
}

#: the energy fractions' point masses at 0 and 1 as categories (:data:`~flashsim_coffea.specs.source.POINT`)
POINTS = tuple(f"{f}:point" for f in ("chHEF", "neHEF", "chEmEF", "neEmEF", "muEF"))

#: the GenJet conditioning the genuine and split jets share
_GENJET_CONDITIONING = [
    "log_pt", "eta", "abs_eta", "phi", "mass", "is_b", "is_c", "parton_b", "parton_c", "parton_g", "hf_flight",
    "other_logdr", "other_ptrel", "mu_logdr", "mu_ptrel", "ele_logdr", "ele_ptrel", "nu_logdr", "nu_ptrel",
    "nTrueInt", "nPU", "HT", "nGenJet",
]

GENUINE = Source(
    collection="Jet",
    name="genjet",
    candidates="GenJet",
    link="genJetIdx",
    # the nearest gen photon (pho_*): a GenJet that is mostly one photon (FSR, prompt) makes a reco jet with
    # neEmEF near 1 that fails the tight ID (vbf_hmumu: 94 % of the central light jets with neEmEF >= 0.9 hold a
    # gen photon with more than half the GenJet's pT, 3.6 % of the others), a mode the flow under-produced
    conditioning=[*_GENJET_CONDITIONING, "pho_logdr", "pho_ptrel"],
    targets={
        "pt": {"kind": "ratio", "gen": "pt"},
        "eta": {"kind": "diff", "gen": "eta"},
        "phi": {"kind": "dphi", "gen": "phi"},
        "mass": {"kind": "log", "offset": 1.0},
        **_COMMON_TARGETS,
    },
    copy={"hadronFlavour": "hadronFlavour", "partonFlavour": "partonFlavour"},
    # the energy fractions' point masses (no charged hadron: chHEF = 0, the tight ID's central veto; all-photon
    # jets: neEmEF = 1; ...) drawn first by the categories classifier, the flow then given them: a flow learning
    # them as spikes under-produced them (shipped, 90k steps: zh chHEF = 0 at 0.957 of FullSim, neEmEF = 0 at
    # 0.952; 8000 steps: 0.59 / 0.39 of FullSim's central jets, drawn first 0.97 / 1.03; docs/performance.md)
    categories=POINTS,
)

SPLIT = Source(
    collection="Jet",
    name="split",
    candidates="GenJet",
    # the nearest b hadron and its direction: beside the GenJet, outside its cone, it gives the split jet its b
    # flavour (zh_llbb, 5k events: 9 % of the split jets of light GenJets with a b hadron within 0.8 have
    # hadronFlavour 5, none beyond 1.2)
    conditioning=[*_GENJET_CONDITIONING, "bhad_logdr", "bhad_ptrel", "bhad_deta", "bhad_dphi"],
    # kinematics relative to the GenJet it sits beside; its flavour learnt (a piece of a b jet carries
    # the b hadron or not), not copied
    targets={**GENUINE.targets, **_FLAVOURS},
    match_dr=0.8,
    constants={"genJetIdx": -1},
    # b GenJets drawn 4x as often in the flow's batches: 8 % of the training split jets sit beside one,
    # 1.3 % carry a b hadron (zh_llbb, 20k events, jets without a GenJet with a b hadron: 405 -> 425 of
    # FullSim's 654, split AUC 0.546 -> 0.541; one training each)
    oversample={"is_b": 4.0},
    categories=tuple(_FLAVOURS),
    # within 0.8 of its GenJet, as every training split jet (the flow's blur put 3.7 % beyond, zh_llbb 20k)
    region=partial(near_candidate, dr_max=0.8),
)

PILEUP = Source(
    collection="Jet",
    name="pileup",
    candidates=None,
    conditioning=COUNT_CONDITIONING,
    targets={
        # not clipped to the training range: a draw below the 15 GeV threshold is drawn again (the acceptance), where
        # the clip had put 2 % of the pileup jets at exactly 15 GeV
        "pt": {"kind": "log", "offset": -14.0, "clip": False},
        # the calorimeter and tracker regions (|eta| 1.3, 2.5, 2.6, 2.7, 3.0: where the jet ID and the response
        # change) hold different shares of pileup jets: learnt as the region (a category, below) and the position
        # inside it, as its normal quantile (25 abs(eta) bins against the weighted training jets: spread 0.14 with the
        # logit, 0.086 with it; docs/performance.md)
        "eta": {"kind": "regions", "edges": [-3.0, -2.7, -2.6, -2.5, -1.3, 1.3, 2.5, 2.6, 2.7, 3.0], "position": "probit"},
        # flat: a point in the plane (learnt on [-pi, pi) and wrapped, a short training's jets came out under-dispersed,
        # 0.68 of the flat density near +-pi and 1.34 at 0; as a point 0.98-1.03; docs/performance.md)
        "phi": {"kind": "circle"},
        "mass": {"kind": "log", "offset": 1.0},
        **_COMMON_TARGETS,
        **_FLAVOURS,
    },
    constants={"hadronFlavour": 0, "partonFlavour": 0, "genJetIdx": -1},
    # where the split and bhadron sources take the jets (a pileup jet landing within 0.4 of an outside b hadron is
    # what FullSim calls a bhadron jet: 70 of them in flash's zh_llbb 20k, flavour 0 where FullSim's are b)
    apart_from=(("GenJet", SPLIT.match_dr), ("GenBHadronOutside", 0.4)),
    # the calorimeter region of eta drawn with the flavours by the calibrated classifier, not by the flow: learnt as
    # a dequantised integer, the thin 2.5-2.6 and 2.6-2.7 bands came out 1.47 and 1.37 times their share and the
    # central region 1.12 (8k steps), as a category 1.06, 1.00 and 0.99 (docs/performance.md)
    categories=(*_FLAVOURS, "eta:region"),
    # the classifier of those from the pileup alone: given the event's jet counts, HT and MET as well it drew
    # 8 % too few flavour-0 jets in zh_llbb (20k, K = 4: 20057 for FullSim's 21750), its per-process shares off
    # by up to 0.054; given the pileup alone by at most 0.016, the regions' by 0.013 (docs/performance.md)
    categories_conditioning=("nTrueInt", "nPU"),
)

BHADRON = Source(
    collection="Jet",
    name="bhadron",
    candidates="GenBHadronOutside",
    # the hadron, its flight and decay (leptons, neutrinos), its neighbours (a g -> bb partner, the nearest GenJet)
    conditioning=["log_pt", "eta", "abs_eta", "phi", "hadron_mass", "self_flight", "dau_flight", "genjet_logdr",
                  "genjet_ptrel", "other_logdr", "other_ptrel", "mu_logdr", "mu_ptrel", "ele_logdr", "ele_ptrel",
                  "nu_logdr", "nu_ptrel", "nTrueInt", "nPU", "HT", "nGenJet"],
    # kinematics relative to the hadron
    targets=dict(GENUINE.targets),
    # the flavours by rule, not learnt: the jet is the one around the hadron, so ghost association sees it
    # (hadronFlavour 5 for 96 % of FullSim's bhadron jets, zh_llbb 60k) and its b quark's sign (partonFlavour
    # = 5 x that sign for 79 %; the rest 0 or gluon from the other ghost partons). Learnt by the flow on the
    # ~850 training jets they came out 57 % b (zh 240k: hadronFlavour W1/sigma 2.4); a classifier of the 21
    # flavour combinations came out uncalibrated (b jets 140 against FullSim's 207, c jets 32 against 3)
    copy={"partonFlavour": "partonFlavour"},
    constants={"genJetIdx": -1, "hadronFlavour": 5},
    # within 0.4 of its hadron, as every training bhadron jet: the flow's blur (850 training jets) put 34 % of the
    # flash ones beyond (zh_llbb 20k), where the hadron has no jet and its FullSim-like matching takes a pileup
    # jet instead (the validation's hadronFlavour W1/sigma 2.4)
    region=partial(near_candidate, dr_max=0.4),
)

SOURCES = [GENUINE, PILEUP, SPLIT, BHADRON]
