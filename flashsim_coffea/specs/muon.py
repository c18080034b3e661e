"""Muons: genuine from final-state gen muons (prompt, from hadron or tau decays, told apart
by ``statusFlags``), and fakes from jets (punch-through, decays in flight).

Derived after sampling: ``pdgId`` and ``mass`` (from the charge), ``pfIsoId`` (from
``pfRelIso04_all``), ``genPartFlav`` (from the gen muon's flags and ancestry), ``jetIdx``
(ΔR < 0.4 to the flash jets).
"""

from __future__ import annotations

from ._lepton import CHARGE, FLAG, GEN_CONDITIONING, IMPACT, INTEGER, ISOLATION, JET_CONDITIONING, KINEMATICS, POSITIVE
from .source import Source

_TARGETS = {
    "ptErr": POSITIVE,
    "dxy": IMPACT,
    "dxyErr": POSITIVE,
    "dz": IMPACT,
    "dzErr": POSITIVE,
    "ip3d": POSITIVE,
    "sip3d": POSITIVE,
    "pfRelIso03_all": ISOLATION,
    "pfRelIso04_all": ISOLATION,
    "miniPFRelIso_all": ISOLATION,
    "tkRelIso": ISOLATION,
    "looseId": FLAG,
    "mediumId": FLAG,
    "tightId": FLAG,
    "isGlobal": FLAG,
    "isTracker": FLAG,
    "isPFcand": FLAG,
    "nStations": INTEGER,
    "nTrackerLayers": INTEGER,
}
_DERIVED = ("pdgId", "mass", "pfIsoId", "genPartFlav", "jetIdx")

GENUINE = Source(
    collection="Muon",
    name="genmuon",
    candidates="GenMuon",
    link="genPartIdx",
    conditioning=GEN_CONDITIONING,
    targets={**KINEMATICS, "charge": CHARGE, **_TARGETS},
    derived=_DERIVED,
    match_dr=0.3,
)

JETFAKE = Source(
    collection="Muon",
    name="jetfake",
    candidates="GenJetFake",
    conditioning=JET_CONDITIONING,
    targets={**KINEMATICS, "charge": {"kind": "sign", "gen": None}, **_TARGETS},
    derived=_DERIVED,
    constants={"genPartIdx": -1},
)

SOURCES = [GENUINE, JETFAKE]
