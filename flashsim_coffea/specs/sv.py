"""Secondary vertices (NanoAOD ``SV``): from weakly decaying b and c hadrons, from hadronic taus, fakes in jets.

The CMS FlashSim table's sources ("jets with heavy flavour, light jets, taus"), with the
heavy-flavour one made per hadron instead of per jet: a vertex is the decay point of one
hadron, so the number of SVs in a jet (0, 1, 2 for a B -> D cascade) follows from its
hadrons' efficiencies instead of a per-jet multiplicity model.

* ``hadron``: candidates the weakly decaying b and c hadrons of ``GenPart`` (``GenHeavyHadron``,
  first copies, pT > 2 GeV). The reference detector merges a B -> D cascade into one vertex
  when the two decay points are closer than 500 μm (:mod:`flashsim_coffea.reference.vertices`),
  so a D sees its parent B's mean flight (``anc_flight``) and a B its D daughter's
  (``dau_flight``): the efficiency of the D then learns when it has no vertex of its own.
  NanoAOD has no SV-gen link: the reco SV is matched by ΔR < 0.2 between its momentum and the
  hadron (reference ttbar, 756 SVs: the nearest b/c hadron within 0.024 in half of them, 0.15
  in 90%, 0.2 in 92%, 0.4 in 93%; the remaining 7% are fakes and taus). The pruned ``GenPart``
  keeps no charged hadrons, so the track multiplicity is learnt, not conditioned on; the
  leptons near the hadron (``mu_*``, ``ele_*``, ``nu_*``) tell a semileptonic decay.
* ``tau``: candidates ``GenVisTau`` (three-prong decays make vertices), matched by ΔR < 0.2.
* ``jetfake``: the SVs neither claims (fake vertices of PV tracks, V0-like leftovers, heavy-flavour
  vertices matched to no hadron), one per GenJet above 15 GeV within ΔR < 0.4.

Targets (every field of the reference's ``SV``; 16): learnt are the momentum of the tracks (``pt``
as a ratio to the candidate's, ``eta``/``phi`` residuals, ``mass``), the flight ``dlen``, the angle
``pAngle`` between flight and momentum (π minus the opening angle; the IVF cut cos > 0.95 bounds
it), the significances ``dlenSig`` (> 3, the NanoAOD table cut) and ``dxySig`` (≥ 2.5, the IVF cut),
the fit's ``chi2`` and ``ndof``, ``ntracks`` and ``charge``. Derived
(:func:`flashsim_coffea.sim.derive.sv_geometry`, after all collections): the position ``x, y, z`` =
flash PV + the flight vector of length ``dlen`` at π − ``pAngle`` from the momentum (its azimuth
around the momentum a counter-based uniform draw), then ``dxy`` and ``pAngle`` from that vector as
the reference computes them (``dxy`` = transverse |SV − PV|, ``pAngle`` = acos(p̂ · (PV − SV))).
A first version learnt ``dxy`` too and solved the flight direction from it: the flow's ``dxy/dlen``
is far less precise than the opening angle (a few 10 mrad), so the solved angles came out wide.
Links (:func:`flashsim_coffea.sim.derive.sv`, :mod:`flashsim_coffea.nanoaod.sv_links`):
``Jet_svIdx1/2``, ``Jet_nSVs`` by ΔR < 0.4 as the reference; ``Muon/Electron_svIdx``: the SV of the
hadron the lepton's gen particle descends from (or of that hadron's parent, a merged cascade).
The private columns ``genPartIdx`` (the hadron's ``GenPart`` index) and ``genVisTauIdx`` carry the
candidate to those links and are not written.

Example:
    >>> from flashsim_coffea.nanoaod import schema
    >>> [(s.key, s.candidates, s.link, s.match_dr) for s in SOURCES]  # doctest: +NORMALIZE_WHITESPACE
    [('SV_hadron', 'GenHeavyHadron', 'genPartIdx', 0.2), ('SV_tau', 'GenVisTau', 'genVisTauIdx', 0.2),
     ('SV_jetfake', 'GenJetFake', None, 0.4)]
    >>> len(HADRON.targets), sorted(set(DERIVED) | set(HADRON.targets)) == sorted(schema.SCHEMA["SV"])
    (12, True)
"""

from __future__ import annotations

import math

from flashsim_coffea.specs.source import Source

#: ΔR between an SV's momentum and its hadron or visible tau (see the module doc).
MATCH_DR = 0.2
#: the IVF cuts that bound the learnt fields (:data:`flashsim_coffea.reference.vertices.PARAMS`):
#: dlenSig > 3 (NanoAOD table), dxySig >= 2.5, cos(p, flight) >= 0.95.
MIN_DLEN_SIG, MIN_DXY_SIG, MIN_COS = 3.0, 2.5, 0.95
#: fields computed from the learnt ones and the flash PV (``pAngle`` is learnt, then recomputed from the position).
DERIVED = ("x", "y", "z", "dxy")
#: private columns carrying each SV's candidate to the links (removed before writing).
PRIVATE = ("genPartIdx", "genVisTauIdx")

_TARGETS = {
    "pt": {"kind": "ratio", "gen": "pt"},
    "eta": {"kind": "diff", "gen": "eta"},
    "phi": {"kind": "dphi", "gen": "phi"},
    "mass": {"kind": "log", "offset": 0.0},
    "dlen": {"kind": "log", "offset": 0.0},
    # π minus the flight-momentum angle, which the IVF cut keeps below acos(0.95)
    "pAngle": {"kind": "logit", "lo": math.pi - math.acos(MIN_COS) - 1e-3, "hi": math.pi},
    "dlenSig": {"kind": "log", "offset": -MIN_DLEN_SIG},
    "dxySig": {"kind": "log", "offset": -MIN_DXY_SIG},
    "chi2": {"kind": "log", "offset": 0.0},
    # 2 sum(w) - 3 over the tracks' fit weights: just under 2 ntracks - 3 (zh_llbb: 0.002-0.97 under), learnt as
    # that shortfall; as a plain target beside ntracks the flow blurred FullSim's piles (single-field AUC 0.61)
    "ndof": {"kind": "excess", "over": "ntracks", "scale": 2.0, "offset": -3.0, "below": True,
             "then": {"kind": "log", "offset": 0.0}},
    "ntracks": {"kind": "integer"},
    "charge": {"kind": "integer"},
}
_CONTEXT = ["nTrueInt", "nPU"]

HADRON = Source(
    collection="SV", name="hadron", candidates="GenHeavyHadron", link="genPartIdx",
    conditioning=["log_pt", "eta", "abs_eta", "phi", "hadron_mass", "is_bhad", "self_flight", "anc_flight",
                  "dau_flight", "genjet_logdr", "genjet_ptrel", "mu_logdr", "mu_ptrel", "ele_logdr", "ele_ptrel",
                  "nu_logdr", "nu_ptrel", *_CONTEXT],
    targets=_TARGETS, match_dr=MATCH_DR, constants={"genVisTauIdx": -1},
)
TAU = Source(
    collection="SV", name="tau", candidates="GenVisTau", link="genVisTauIdx",
    # flag:isPrompt, the tau lepton's: the SV of a tau from a b or c hadron decay is found 0.21 of the time, of a
    # prompt one 0.13 (ttbar); without it the classifier gave zh_llbb's (all from hadrons) 0.226 for 0.191 (240k)
    conditioning=["log_pt", "eta", "abs_eta", "phi", "mass", "charge", "status", "anc_flight", "genjet_logdr",
                  "genjet_ptrel", "flag:isPrompt", *_CONTEXT],
    targets=_TARGETS, match_dr=MATCH_DR, constants={"genPartIdx": -1},
    optional=True,  # some NanoAOD v12 files have no GenVisTau: their SVs come from hadrons and jets only
)
JETFAKE = Source(
    collection="SV", name="jetfake", candidates="GenJetFake",
    conditioning=["log_pt", "eta", "abs_eta", "phi", "mass", "is_b", "is_c", "parton_g", "parton_none", "hf_flight",
                  "other_logdr", "mu_logdr", "ele_logdr", *_CONTEXT, "HT"],
    targets=_TARGETS, match_dr=0.4, constants={"genPartIdx": -1, "genVisTauIdx": -1},
)

SOURCES = [HADRON, TAU, JETFAKE]
