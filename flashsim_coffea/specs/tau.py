"""Hadronic taus: genuine from GenVisTau (``genPartIdx`` indexes GenVisTau, as NanoAOD does for
``genPartFlav == 5``), fakes from jets.

Every field of the reference detector's ``Tau`` (31) is learnt or derived:

* learnt: kinematics, ``charge``, ``mass``, impact parameters, ``decayMode``,
  ``idDecayModeNewDMs``, the leading track (``leadTkPtOverTauPt``, ``leadTkDeltaEta/Phi``), the
  isolation sums (``chargedIso``, ``neutralIso``, ``puCorr``, ``photonsOutsideSignalCone``,
  ``rawIsodR03`` whose 0.3-cone parts are not written) and the three raw DeepTau scores;
* derived after sampling (:func:`flashsim_coffea.sim.derive.tau`): the DeepTau working points
  ``idDeepTau2018v2p5VS{jet,e,mu}``, ``rawIso`` (delta-beta combination of the written sums),
  ``idDecayModeOldDMs``, ``genPartFlav``, ``jetIdx`` and, from the final flash muons and
  electrons, ``muIdx``, ``eleIdx`` and ``idAntiMu`` (:mod:`flashsim_coffea.nanoaod.tau_links`).

Example:
    >>> [(s.key, s.candidates, s.link) for s in SOURCES]
    [('Tau_genvistau', 'GenVisTau', 'genPartIdx'), ('Tau_jetfake', 'GenJetFake', None)]
    >>> list(GENUINE.targets)[:10]
    ['pt', 'eta', 'phi', 'charge', 'mass', 'dxy', 'dz', 'decayMode', 'idDecayModeNewDMs', 'rawDeepTau2018v2p5VSjet']
    >>> len(GENUINE.targets)
    20
"""

from __future__ import annotations

from flashsim_coffea.specs._lepton import FLAG, IMPACT, ISO_SUM, JET_CONDITIONING, KINEMATICS, MIRROR
from flashsim_coffea.specs.source import Source

_TARGETS = {
    # decay mode 0 (one charged hadron) has exactly the charged-pion mass
    "mass": {"kind": "spike", "value": 0.13957, "atol": 2e-4, "then": {"kind": "log", "offset": 0.01}},
    "dxy": IMPACT,
    "dz": IMPACT,
    # decay modes are categories: one-hot, not one integer (transforms.OneHot, flashsim_coffea/models/README.md)
    "decayMode": {"kind": "onehot", "values": [0, 1, 2, 10, 11]},
    "idDecayModeNewDMs": FLAG,
    # taus are kept above the loosest working point: the lower bound is fitted to it; the
    # score saturates at exactly 1 (1.6% of the reference ttbar taus): a point mass on top
    "rawDeepTau2018v2p5VSjet": {"kind": "spike", "value": 1.0, "side": "high", "then": {"kind": "logit", "hi": 1.0}},
    # the leading track's pT over the tau's: capped at 1 but for bare decay-mode-0 taus
    "leadTkPtOverTauPt": {"kind": "spike", "value": 1.0, "then": {"kind": "log", "offset": 0.0}},
    "leadTkDeltaEta": {"kind": "asinh", "scale": 0.01},
    "leadTkDeltaPhi": {"kind": "asinh", "scale": 0.01},
    "chargedIso": ISO_SUM,
    "neutralIso": ISO_SUM,
    "puCorr": ISO_SUM,
    "photonsOutsideSignalCone": ISO_SUM,
    "rawIsodR03": ISO_SUM,
    # stored with 10 bits: 66 % of the reference's zh taus sit on the two values below 1 (0.99902, 0.99951) for
    # VSmu; spread over their cells (transform grid), then Gaussianised by their quantiles, as the muons'
    # tunepRelPt: through a logit the pile lay far out in its tail and the flow put 8 % at exactly 1, which
    # FullSim never reaches, and 23 % at 0.99902 for 44 % (single-field AUC 0.595, zh_llbb)
    "rawDeepTau2018v2p5VSe": {"kind": "grid", "bits": 10, "then": {"kind": "quantile"}},
    "rawDeepTau2018v2p5VSmu": {"kind": "grid", "bits": 10, "then": {"kind": "quantile"}},
}
#: a jet fake has no visible mass to smear: its mass is drawn per decay mode and clipped to
#: the HPS window, so 6-7% of three-prong fakes (4% of all) sit exactly at the window's lower
#: edge, 0.8 GeV (reference ttbar): a second point mass, which a flow alone smooths out
_FAKE_MASS = {**_TARGETS["mass"],
              "then": {"kind": "spike", "value": 0.8, "atol": 5e-4, "then": _TARGETS["mass"]["then"]}}

GENUINE = Source(
    collection="Tau", name="genvistau", candidates="GenVisTau", link="genPartIdx",
    # flag:isPrompt, the tau lepton's: a tau from a b or c hadron decay sits in its jet (reconstructed 0.09 of the
    # time against 0.43 for the prompt ones, ttbar; every GenVisTau of zh_llbb is one)
    conditioning=["log_pt", "eta", "abs_eta", "phi", "mass", "charge", "status", "anc_ctau", "anc_flight",
                  "genjet_logdr", "genjet_ptrel", "flag:isPrompt", "nTrueInt", "nPU", "HT"],
    targets={**KINEMATICS, "charge": {"kind": "sign", "gen": "charge"}, **_TARGETS}, match_dr=0.3,
    mirror=MIRROR,
)
#: the efficiency classifier sees |η| binned: reco taus stop at |η| 2.3, a step the plain
#: MLP smoothed (flashsim_coffea/models/README.md, tenth set); its flow runs the whole schedule (twelfth set)
JETFAKE = Source(
    collection="Tau", name="jetfake", candidates="GenJetFake",
    conditioning=JET_CONDITIONING,
    targets={**KINEMATICS, "charge": {"kind": "sign", "gen": None}, **_TARGETS, "mass": _FAKE_MASS},
    constants={"genPartIdx": -1},
    mirror=MIRROR, efficiency_bins=("abs_eta",), full_schedule=True,
)

SOURCES = [GENUINE, JETFAKE]
