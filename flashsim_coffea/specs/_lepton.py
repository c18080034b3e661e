"""Target blocks shared by the lepton and photon specs."""

from __future__ import annotations

KINEMATICS = {
    "pt": {"kind": "ratio", "gen": "pt"},
    "eta": {"kind": "diff", "gen": "eta"},
    "phi": {"kind": "dphi", "gen": "phi"},
}
FLAG = {"kind": "flag"}
INTEGER = {"kind": "integer"}
#: relative isolation: zero-inflated, long tail
ISOLATION = {"kind": "spike", "value": 0.0, "then": {"kind": "log", "offset": 1e-3}}
#: impact parameters (cm): signed, heavy tails
IMPACT = {"kind": "asinh", "scale": 0.002}
POSITIVE = {"kind": "log", "offset": 1e-6}
#: charge relative to the gen charge (+1 kept, -1 flipped)
CHARGE = {"kind": "sign", "gen": "charge"}

#: conditioning of every gen-lepton/photon source
GEN_CONDITIONING = [
    "log_pt", "eta", "phi", "charge",
    "flag:isPrompt", "flag:isDirectHadronDecayProduct", "flag:isTauDecayProduct", "flag:fromHardProcess",
    "genjet_dr", "genjet_ptrel", "lep_dr", "lep_ptrel", "nu_dr", "nu_ptrel", "nTrueInt", "HT", "nGenJet",
]
#: conditioning of every jet-fake source (candidate: a GenJet)
JET_CONDITIONING = ["log_pt", "eta", "phi", "mass", "is_b", "is_c", "parton_g", "other_dr", "lep_dr", "nTrueInt", "HT"]
