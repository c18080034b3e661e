"""Electrons: from gen electrons, from gen photons (conversions), fakes from jets.

Derived after sampling: ``pdgId``, ``mass``, ``genPartFlav``, ``jetIdx``; ``photonIdx`` is -1
(no electron-photon cross-link is simulated).

Example:
    >>> [(s.key, s.candidates) for s in SOURCES]
    [('Electron_genelectron', 'GenElectron'), ('Electron_genphoton', 'GenPhoton'), ('Electron_jetfake', 'GenJetFake')]
    >>> FROM_PHOTON.mirror, FROM_PHOTON.constants  # trained on mirror images too
    (('phi', 'eta'), {'photonIdx': -1})
"""

from __future__ import annotations

from flashsim_coffea.specs._lepton import (
    CHARGE,
    EGAMMA_CONDITIONING,
    FLAG,
    IMPACT,
    INTEGER,
    ISOLATION,
    JET_CONDITIONING,
    KINEMATICS,
    MIRROR,
    MVA,
    POSITIVE,
)
from flashsim_coffea.specs.source import Source

_TARGETS = {
    "deltaEtaSC": {"kind": "plain"},
    "dxy": IMPACT,
    "dxyErr": POSITIVE,
    "dz": IMPACT,
    "dzErr": POSITIVE,
    "ip3d": POSITIVE,
    "sip3d": POSITIVE,
    "pfRelIso03_all": ISOLATION,
    "miniPFRelIso_all": ISOLATION,
    "r9": {"kind": "logit"},  # bounds fitted: piled against its upper edge
    "sieie": POSITIVE,
    "hoe": ISOLATION,
    "energyErr": POSITIVE,
    "cutBased": INTEGER,
    "mvaIso": MVA,
    "mvaIso_WP80": FLAG,
    "mvaIso_WP90": FLAG,
    "convVeto": FLAG,
    "lostHits": INTEGER,
}
_CONST = {"photonIdx": -1}

FROM_ELECTRON = Source(
    collection="Electron", name="genelectron", candidates="GenElectron", link="genPartIdx",
    conditioning=EGAMMA_CONDITIONING, targets={**KINEMATICS, "charge": CHARGE, **_TARGETS},
    constants=_CONST, match_dr=0.3, mirror=MIRROR,
)
FROM_PHOTON = Source(
    collection="Electron", name="genphoton", candidates="GenPhoton", link="genPartIdx",
    conditioning=EGAMMA_CONDITIONING, targets={**KINEMATICS, "charge": {"kind": "sign", "gen": None}, **_TARGETS},
    constants=_CONST, match_dr=0.3, mirror=MIRROR,
)
JETFAKE = Source(
    collection="Electron", name="jetfake", candidates="GenJetFake",
    conditioning=JET_CONDITIONING, targets={**KINEMATICS, "charge": {"kind": "sign", "gen": None}, **_TARGETS},
    constants={**_CONST, "genPartIdx": -1}, mirror=MIRROR,
)

SOURCES = [FROM_ELECTRON, FROM_PHOTON, JETFAKE]
