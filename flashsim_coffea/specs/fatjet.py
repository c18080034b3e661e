"""AK8 fat jets from GenJetAK8 and their soft-drop subjets from SubGenJetAK8 (issue 23).

``FatJet_genjetak8``: every reference FatJet comes from a GenJetAK8 (``genJetAK8Idx``, the candidate's
index); candidates start at 120 GeV, below the reco 170 GeV, so that the efficiency model learns the
turn-on. Conditioning: the GenJetAK8's kinematics and flavours, its heavy-flavour hadrons, the
W/Z/H/top it contains (the truth the reference draws its taggers from), its two SubGenJetAK8 (pT share,
ΔR, masses, groomed mass: :mod:`flashsim_coffea.sim.boosted`), leptons inside it (``lsf3``) and pileup.

``SubJet_subgenjetak8``: a subjet exists only inside its fat jet (``parent``: the FatJet whose
``genJetAK8Idx`` is the SubGenJetAK8's ``parent_idx``); conditioned on its own gen kinematics and on
its GenJetAK8's (``parent:<feature>``). NanoAOD has no subjet-to-gen link: training matches by ΔR
(``match_dr``), as for a fake source.

Targets. Kinematics are residuals to gen (pT ratio, Δη, Δφ), masses logs, ``msoftdrop`` its log-ratio to
the learnt ungroomed ``mass`` (the peak of jets soft drop leaves whole), below its piles of jets groomed to one
particle (0, an electron's mass, a muon's), drawn first by the categories classifier (:data:`MSD_POINTS`). **N-subjettiness**
``tau1``-``tau4`` are learnt each with a point mass at 0 (a jet with fewer than N+1
constituents): invertible field by field, and the flow's joint density keeps their ordering
(τ_N ≤ τ_{N-1} in ≥ 99.8% of the reference fat jets and all subjets, 300 ttbar_boosted events)
and correlations; ratios τ_N/τ_{N-1} would need a transform across targets, which the pipeline
has not (each target is transformed alone, against gen columns). ``n2b1``/``n3b1``: a
learnt point mass at -1 (too few groomed constituents). Above the point masses the substructure is
Gaussianised by its quantiles (through logs the flow missed ``n2b1``'s hard edge near 0.45).
Tagger scores are logits; every value NanoAOD writes where an algorithm does not run (PNet -10 and
massCorr 0 outside raw pT > 180 GeV, abs(eta) < 2.4; DDX/DeepCSV -1 beyond the tracker; msoftdrop -1,
n2b1/n3b1 -99968 without soft drop, n3b1 -1 below raw pT 250; lsf3 -1 without a lepton inside) is a
``default``: not learnt, put back by rule (:mod:`flashsim_coffea.nanoaod.fatjet_defaults`).
``btagHbb`` is the constant -1000 (v12 does not run it). Integers are dequantised. ``rawFactor`` is
learnt as its residual to a calibration table in the jet's own pT and abs(eta) (transform ``calibration``).

Derived (``sim/derive.py``): ``hadronFlavour``, ``nBHadrons``, ``nCHadrons`` (the gen b/c hadrons the
fat jet takes in the anti-kT metric, the subjet's: the closer of its fat jet's two,
:mod:`flashsim_coffea.nanoaod.jet_truth` as the reference), ``muonIdx3SJ``/``electronIdx3SJ`` (the
hardest flash lepton within 0.8, the muon when at least as hard), ``subJetIdx1/2`` (the two leading
flash subjets of the jet, from the SubJet's parent position). ``msoftdrop`` stays learnt: the reference's is
the two subjets' mass, which the flash subjets' mass approximates.

Example:
    >>> [(s.key, s.candidates, s.link) for s in SOURCES]
    [('FatJet_genjetak8', 'GenJetAK8', 'genJetAK8Idx'), ('SubJet_subgenjetak8', 'SubGenJetAK8', None)]
    >>> len(FATJET.targets) + len(FATJET.constants) + 1 + len(DERIVED_FATJET), SUBJET.parent.column
    (48, '_parentIdx')
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flashsim_coffea.nanoaod import fatjet_defaults
from flashsim_coffea.specs.source import Parent, Source

if TYPE_CHECKING:
    import awkward as ak

#: a tagger score, spread over its 10-bit stored cell first (transform ``grid``; nanoaod/storage_precision.py): the
#: top cell below 1 holds every score above 0.99927 (``particleNetWithMass_QCD``: 23 % of vbf_hmumu's FullSim fat
#: jets, the next cell 19 %), and learnt as the stored comb the flow put 10 % and 29 % there (single-field AUC 0.58,
#: the fat jets' every-field classifier's first lever on vbf_hmumu)
_SCORE = {"kind": "grid", "bits": 10, "then": {"kind": "logit", "lo": 0.0, "hi": 1.0}}


def _default(value: float, then: dict) -> dict:
    """NanoAOD's ``value`` where the algorithm does not run, put back by rule; ``then`` elsewhere."""
    return {"kind": "default", "value": value, "then": then}


#: the substructure above its point masses Gaussianised by its quantiles: through the logs the flow missed
#: ``n2b1``'s hard upper edge near 0.45 (5k steps, gradient-boosted AUC, noise seeds 1 / 2; 16k held-out boosted
#: subjets: ``n2b1`` 0.635 / 0.638 -> 0.520 / 0.511, ``n3b1`` 0.557 / 0.551 -> 0.516 / 0.516, the six together
#: 0.745 / 0.747 -> 0.590 / 0.582, every field 0.751 / 0.753 -> 0.618 / 0.617; 8.4k held-out fat jets: ``n2b1`` 0.569 /
#: 0.561 -> 0.525 / 0.526, ``n3b1`` 0.559 / 0.564 -> 0.519 / 0.526, the six 0.682 / 0.681 -> 0.616 / 0.615, every field
#: 0.805 / 0.799 -> 0.777 / 0.779; docs/performance.md)
#: N-subjettiness: a point mass at 0 (fewer than N+1 constituents)
_TAU = {"kind": "spike", "value": 0.0, "then": {"kind": "quantile"}}
#: energy-correlation ratios: -1 with too few constituents (learnt)
_ECF = {"kind": "spike", "value": -1.0, "then": {"kind": "quantile"}}
_NO_SD = -99968.0
#: lepton pT over its kT-3 subjet's: piled at 0.97 (zh_llbb FullSim median 0.87, 16 % above 1, tails 0.01-19);
#: through a log the pile was a thin line the flow smeared (median 0.54 shipped, 0.68 retrained on the same data;
#: single-field AUC 0.71, 0.66), asinh around 1 gave 0.78 and 0.58; Gaussianised by its quantiles (8.4k held-out
#: boosted fat jets, 5k steps, noise seeds 1 / 2): 0.609 / 0.601 -> 0.512 / 0.505, every field 0.777 / 0.779 -> 0.758 /
#: 0.759, 99 % point 1.30 -> 1.57 for FullSim's 1.10 (knots even in probability: 10.7)
_LSF = _default(-1.0, {"kind": "quantile"})
_PNET = _default(-10.0, _SCORE)
#: the PNet-with-mass scores are no spikes at their top: a spike at the top stored value 0.99951 (``QCD``: 17 % of
#: the zh fat jets) with eps 1e-9 made the piles worse on held-out fat jets (docs/performance.md, "Point masses at the
#: ends of a range": QCD top 5.5 % FullSim, 3.3 % logit, 7.2 % spike; all seven scores' AUC 0.719 -> 0.746)
_TRACKER = _default(-1.0, _SCORE)

#: ``rawFactor`` as its residual to the calibration the training jets show (transform ``calibration``): in
#: the reference a function of the corrected jet (its L2L3 table in pT and abs(eta) regions; CMS's PUPPI
#: jets, without a pileup offset, alike), which a flow learning it beside ``pt`` only approximates
_RAW_FACTOR = {"kind": "calibration", "edges": [0.0, 1.3, 2.5, 3.0, 5.0]}
_KINEMATICS = {
    "pt": {"kind": "ratio", "gen": "pt"},
    "eta": {"kind": "diff", "gen": "eta"},
    "phi": {"kind": "dphi", "gen": "phi"},
    "mass": {"kind": "log", "offset": 1.0},
}
_SUBSTRUCTURE = {f"tau{i}": _TAU for i in range(1, 5)}
#: the groomed mass as its log-ratio to the ungroomed ``mass`` (transform ``excess`` with ``log``): where soft drop
#: removes nothing (18 % of the reference's zh_llbb fat jets) it is the jet's mass times 1.00-1.015, a peak that
#: the flow learning ``log(msoftdrop + 1)`` beside ``mass`` smeared over 0.97-1.05 (zh_llbb held-out: ``msoftdrop``
#: the strongest field of the every-field classifier, 0.747 -> 0.672 without it)
#: Below it, the piles of jets soft drop grooms to one particle, drawn first by the categories classifier
#: (:data:`MSD_POINTS`): none left (0: 731 of the 131k training fat jets), an electron (its mass after the detector,
#: 0.0004-0.0009 GeV: 4066) or a muon (0.08-0.15 GeV: 4577; 29 % of the vbf_hmumu fat jets, whose Higgs muons the
#: AK8 clustering takes in), each pile's spread kept (``spread`` spikes): as a fraction of the jet mass the flow
#: spread the muon pile over 0.01-0.5 GeV (single-field AUC 0.70 on vbf_hmumu)
_MSOFTDROP = _default(-1.0, {"kind": "spike", "value": 0.0, "then": {
    "kind": "spike", "value": 5e-4, "atol": 5e-4, "spread": True, "then": {
        "kind": "spike", "value": 0.115, "atol": 0.035, "spread": True, "then": {
            "kind": "excess", "over": "mass", "log": 1.0, "floor": 0.0, "then": {"kind": "quantile"}}}}})
#: which pile of ``msoftdrop`` a fat jet sits on, drawn before the flow (:mod:`flashsim_coffea.sim.categories`)
MSD_POINTS = ("msoftdrop:point",)
#: the fat jet's pT, written above 170 GeV only: learnt as its distance above the cut over the gen pT (transform
#: ``ratio`` with ``above``), spread over its 10-bit stored cell first (170.0 is the cell of the values from 169.94;
#: ``above`` one cell under it); as a plain ratio the flow blurred the edge: zh_llbb's fat jets 45 % short at
#: 170-172 GeV, too few without soft drop (raw pT < 170: 5.1 % for FullSim's 6.9 %)
_FATJET_PT = {"kind": "grid", "bits": 10, "then": {"kind": "ratio", "gen": "pt", "above": 169.875}}

FATJET = Source(
    collection="FatJet",
    name="genjetak8",
    candidates="GenJetAK8",
    link="genJetAK8Idx",
    conditioning=[
        "log_pt", "eta", "abs_eta", "phi", "mass", "is_b", "is_c", "parton_b", "parton_c", "parton_g",
        "ak8_nb", "ak8_nc", "ak8_top", "ak8_w", "ak8_z", "ak8_hbb", "ak8_hcc", "ak8_hqq", "ak8_tautau",
        "ak8_pair_b", "ak8_pair_c", "sd_n", "sd_share", "sd_dr", "sd_logm1", "sd_logm2", "sd_logmass",
        "hf_flight", "other_logdr", "mu_logdr", "mu_ptrel", "ele_logdr", "ele_ptrel", "nu_logdr", "nu_ptrel",
        "nTrueInt", "nPU",
    ],
    targets={
        **_KINEMATICS,
        "pt": _FATJET_PT,
        "msoftdrop": _MSOFTDROP,
        "area": {"kind": "plain"},
        "rawFactor": _RAW_FACTOR,
        **_SUBSTRUCTURE,
        "n2b1": _default(_NO_SD, _ECF),
        "n3b1": _default(_NO_SD, _ECF),
        **{f"particleNet_{c}VsQCD": _PNET for c in ("Xbb", "Xcc", "Xqq", "Xgg", "Xtt", "Xte", "Xtm")},
        **{f"particleNet_{c}": _PNET for c in ("QCD", "QCD0HF", "QCD1HF", "QCD2HF")},
        **{f"particleNetWithMass_{c}vsQCD": _SCORE for c in ("H4q", "Hbb", "Hcc", "T", "W", "Z")},
        "particleNetWithMass_QCD": _SCORE,
        "particleNet_massCorr": _default(0.0, {"kind": "log", "offset": 0.0}),
        "btagDDBvLV2": _TRACKER,
        "btagDDCvLV2": _TRACKER,
        "btagDDCvBV2": _TRACKER,
        "btagDeepB": _TRACKER,
        "lsf3": _LSF,
        "jetId": {"kind": "integer"},
        "nConstituents": {"kind": "integer"},
    },
    constants={"btagHbb": -1000.0},
    categories=MSD_POINTS,
)

#: FatJet fields derived (sim/derive.py ``fatjet``, ``subjet``), besides the link ``genJetAK8Idx``
DERIVED_FATJET = ("hadronFlavour", "nBHadrons", "nCHadrons", "muonIdx3SJ", "electronIdx3SJ", "subJetIdx1", "subJetIdx2")


def groomed(fat: ak.Array) -> ak.Array:
    """The fat jets with a soft-drop jet, the only ones with subjets (raw pT above 170 GeV:
    :func:`flashsim_coffea.nanoaod.fatjet_defaults.has_soft_drop`); the subjets' efficiency is trained
    on their subjets alone, and ``sim/derive.py`` drops the subjets of the other flash fat jets."""
    return fatjet_defaults.has_soft_drop(fat.pt * (1.0 - fat.rawFactor))


SUBJET = Source(
    collection="SubJet",
    name="subgenjetak8",
    candidates="SubGenJetAK8",
    conditioning=[
        "log_pt", "eta", "phi", "mass", "sub_nb", "sub_nc", "parent_dr",
        "parent:log_pt", "parent:mass", "parent:ak8_nb", "parent:ak8_nc", "parent:ak8_top", "parent:ak8_w",
        "parent:ak8_z", "parent:ak8_hbb", "parent:sd_share", "parent:sd_dr", "parent:sd_logmass", "nPU",
    ],
    targets={
        **_KINEMATICS,
        "btagDeepB": _TRACKER,
        "rawFactor": _RAW_FACTOR,
        **_SUBSTRUCTURE,
        "n2b1": _ECF,
        "n3b1": _ECF,
    },
    match_dr=0.3,
    parent=Parent(collection="FatJet", link="genJetAK8Idx", shared_draw=True, eligible=groomed),
)

SOURCES_FATJET = [FATJET]
SOURCES_SUBJET = [SUBJET]
SOURCES = SOURCES_FATJET + SOURCES_SUBJET
