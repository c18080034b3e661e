"""Hadronic taus: genuine from GenVisTau (``genPartIdx`` indexes GenVisTau, as NanoAOD does for
``genPartFlav == 5``), fakes from jets.

Derived after sampling: ``idDeepTau2018v2p5VSjet`` (highest passed working point of the raw
score), ``genPartFlav`` (5 genuine, 0 fake), ``jetIdx``.

Example:
    >>> [(s.key, s.candidates, s.link) for s in SOURCES]
    [('Tau_genvistau', 'GenVisTau', 'genPartIdx'), ('Tau_jetfake', 'GenJetFake', None)]
    >>> list(GENUINE.targets)
    ['pt', 'eta', 'phi', 'charge', 'mass', 'dxy', 'dz', 'decayMode', 'idDecayModeNewDMs', 'rawDeepTau2018v2p5VSjet']
"""

from __future__ import annotations

from flashsim_coffea.specs._lepton import FLAG, IMPACT, JET_CONDITIONING, KINEMATICS, MIRROR
from flashsim_coffea.specs.source import Source

_TARGETS = {
    # decay mode 0 (one charged hadron) has exactly the charged-pion mass
    "mass": {"kind": "spike", "value": 0.13957, "atol": 2e-4, "then": {"kind": "log", "offset": 0.01}},
    "dxy": IMPACT,
    "dz": IMPACT,
    # decay modes are categories: one-hot, not one integer (transforms.OneHot, models/README.md)
    "decayMode": {"kind": "onehot", "values": [0, 1, 2, 10, 11]},
    "idDecayModeNewDMs": FLAG,
    # taus are kept above the loosest working point: the lower bound is fitted to it; the
    # score saturates at exactly 1 (1.6% of the reference ttbar taus): a point mass on top
    "rawDeepTau2018v2p5VSjet": {"kind": "spike", "value": 1.0, "side": "high", "then": {"kind": "logit", "hi": 1.0}},
}
#: a jet fake has no visible mass to smear: its mass is drawn per decay mode and clipped to
#: the HPS window, so 6-7% of three-prong fakes (4% of all) sit exactly at the window's lower
#: edge, 0.8 GeV (reference ttbar): a second point mass, which a flow alone smooths out
_FAKE_MASS = {**_TARGETS["mass"],
              "then": {"kind": "spike", "value": 0.8, "atol": 5e-4, "then": _TARGETS["mass"]["then"]}}

GENUINE = Source(
    collection="Tau", name="genvistau", candidates="GenVisTau", link="genPartIdx",
    conditioning=["log_pt", "eta", "abs_eta", "phi", "mass", "charge", "status", "anc_ctau", "anc_flight",
                  "genjet_logdr", "genjet_ptrel", "nTrueInt", "nPU", "HT"],
    targets={**KINEMATICS, "charge": {"kind": "sign", "gen": "charge"}, **_TARGETS}, match_dr=0.3,
    mirror=MIRROR,
)
#: the efficiency classifier sees |η| binned: reco taus stop at |η| 2.3, a step the plain
#: MLP smoothed (models/README.md, tenth set); its flow runs the whole schedule (twelfth set)
JETFAKE = Source(
    collection="Tau", name="jetfake", candidates="GenJetFake",
    conditioning=JET_CONDITIONING,
    targets={**KINEMATICS, "charge": {"kind": "sign", "gen": None}, **_TARGETS, "mass": _FAKE_MASS},
    constants={"genPartIdx": -1},
    mirror=MIRROR, efficiency_bins=("abs_eta",), full_schedule=True,
)

SOURCES = [GENUINE, JETFAKE]
