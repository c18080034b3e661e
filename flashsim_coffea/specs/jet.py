"""AK4 jets: genuine jets from GenJet, pileup/fake jets from a per-event count.

Targets are every field the reference detector writes for ``Jet``. Kinematics are
residuals to the GenJet (pT ratio, Δη, Δφ), b-tag scores and energy fractions are
bounded (logit, energy fractions with point masses at 0 and 1), counts and ids are
dequantised integers, ``puId`` is decomposed into its three WP bits. ``hadronFlavour``
and ``partonFlavour`` are copied from the GenJet (ghost association sees the same
hadrons); ``genJetIdx`` is the candidate's index.

Example:
    >>> [(s.key, s.candidates, s.link) for s in SOURCES]
    [('Jet_genjet', 'GenJet', 'genJetIdx'), ('Jet_pileup', None, None)]
    >>> GENUINE.targets["pt"], GENUINE.targets["puId"], len(GENUINE.targets)
    ({'kind': 'ratio', 'gen': 'pt'}, {'kind': 'bits', 'bits': [4, 2, 1]}, 20)
"""

from __future__ import annotations

from flashsim_coffea.specs.source import Source

#: energy fractions: point masses at exactly 0 and exactly 1 (neHEF = 1 for 24% of the
#: reference ttbar jets: forward jets made of neutral hadrons only), logit between
_FRACTION = {"kind": "spike", "value": 0.0, "then": {
    "kind": "spike", "value": 1.0, "side": "high", "then": {"kind": "logit", "lo": 0.0, "hi": 1.0}}}
_SCORE = {"kind": "logit", "lo": 0.0, "hi": 1.0}

_COMMON_TARGETS = {
    "area": {"kind": "plain"},
    "rawFactor": {"kind": "plain"},
    "btagDeepFlavB": _SCORE,
    "btagDeepFlavCvL": _SCORE,
    "btagDeepFlavCvB": _SCORE,
    "btagDeepFlavQG": _SCORE,
    "chHEF": _FRACTION,
    "neHEF": _FRACTION,
    "chEmEF": _FRACTION,
    "neEmEF": _FRACTION,
    "muEF": _FRACTION,
    "nConstituents": {"kind": "integer"},
    "nElectrons": {"kind": "integer"},
    "nMuons": {"kind": "integer"},
    "jetId": {"kind": "integer"},
    "puId": {"kind": "bits", "bits": [4, 2, 1]},
}

GENUINE = Source(
    collection="Jet",
    name="genjet",
    candidates="GenJet",
    link="genJetIdx",
    conditioning=[
        "log_pt", "eta", "abs_eta", "phi", "mass", "is_b", "is_c", "parton_b", "parton_c", "parton_g", "hf_flight",
        "other_logdr", "other_ptrel", "mu_logdr", "mu_ptrel", "ele_logdr", "ele_ptrel", "nu_logdr", "nu_ptrel",
        "nTrueInt", "nPU", "HT", "nGenJet",
    ],
    targets={
        "pt": {"kind": "ratio", "gen": "pt"},
        "eta": {"kind": "diff", "gen": "eta"},
        "phi": {"kind": "dphi", "gen": "phi"},
        "mass": {"kind": "log", "offset": 1.0},
        **_COMMON_TARGETS,
    },
    copy={"hadronFlavour": "hadronFlavour", "partonFlavour": "partonFlavour"},
)

PILEUP = Source(
    collection="Jet",
    name="pileup",
    candidates=None,
    conditioning=["nTrueInt", "nPU", "nGenJet10", "nGenJet10_central", "HT", "nGenJet", "GenMET_pt"],
    targets={
        "pt": {"kind": "log", "offset": -14.0},
        "eta": {"kind": "plain"},
        "phi": {"kind": "plain"},
        "mass": {"kind": "log", "offset": 1.0},
        **_COMMON_TARGETS,
    },
    constants={"hadronFlavour": 0, "partonFlavour": 0, "genJetIdx": -1},
)

SOURCES = [GENUINE, PILEUP]
