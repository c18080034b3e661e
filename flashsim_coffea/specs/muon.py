"""Muons: genuine from final-state gen muons (prompt, from hadron or tau decays, told apart
by ``statusFlags``), and fakes from jets (punch-through, decays in flight).

Derived after sampling: ``pdgId`` and ``mass`` (from the charge), ``pfIsoId`` (from
``pfRelIso04_all``), ``genPartFlav`` (from the gen muon's flags and ancestry), ``jetIdx``
(ΔR < 0.4 to the flash jets).

Example:
    >>> [(s.key, s.candidates, s.link) for s in SOURCES]
    [('Muon_genmuon', 'GenMuon', 'genPartIdx'), ('Muon_jetfake', 'GenJetFake', None)]
    >>> list(GENUINE.targets)[:6]
    ['pt', 'eta', 'phi', 'charge', 'ptErr', 'dxy']
"""

from __future__ import annotations

from flashsim_coffea.specs._lepton import (
    CHARGE,
    FLAG,
    GEN_CONDITIONING,
    IMPACT,
    INTEGER,
    ISOLATION,
    JET_CONDITIONING,
    KINEMATICS,
    POSITIVE,
)
from flashsim_coffea.specs.source import Source

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

GENUINE = Source(
    collection="Muon",
    name="genmuon",
    candidates="GenMuon",
    link="genPartIdx",
    conditioning=GEN_CONDITIONING,
    targets={**KINEMATICS, "charge": CHARGE, **_TARGETS},

    match_dr=0.3,
)

JETFAKE = Source(
    collection="Muon",
    name="jetfake",
    candidates="GenJetFake",
    conditioning=JET_CONDITIONING,
    targets={**KINEMATICS, "charge": {"kind": "sign", "gen": None}, **_TARGETS},

    constants={"genPartIdx": -1},
)

SOURCES = [GENUINE, JETFAKE]
