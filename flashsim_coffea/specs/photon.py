"""Photons: from gen photons, from gen electrons, fakes from jets.

Derived after sampling: ``isScEtaEB``/``isScEtaEE`` (from η), ``genPartFlav``, ``jetIdx``;
``electronIdx`` is -1.

Example:
    >>> [(s.key, s.candidates) for s in SOURCES]
    [('Photon_genphoton', 'GenPhoton'), ('Photon_genelectron', 'GenElectron'), ('Photon_jetfake', 'GenJetFake')]
"""

from __future__ import annotations

from flashsim_coffea.specs._lepton import (
    EGAMMA_CONDITIONING,
    FLAG,
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
    "energyErr": POSITIVE,
    "r9": {"kind": "logit"},  # bounds fitted: piled against its upper edge
    "sieie": POSITIVE,
    "hoe": ISOLATION,
    "pfRelIso03_all": ISOLATION,
    "mvaID": MVA,
    "mvaID_WP80": FLAG,
    "mvaID_WP90": FLAG,
    "cutBased": INTEGER,
    "electronVeto": FLAG,
    "pixelSeed": FLAG,
}
_CONST = {"electronIdx": -1}

#: prompt photons are drawn four times as often in the flow's batches: a quarter of the vbf
#: photons are FSR photons next to a muon, where the flow under-filled the isolation's point
#: mass at 0 (models/README.md, tenth set)
FROM_PHOTON = Source(
    collection="Photon", name="genphoton", candidates="GenPhoton", link="genPartIdx",
    conditioning=EGAMMA_CONDITIONING, targets={**KINEMATICS, **_TARGETS}, constants=_CONST, match_dr=0.3,
    mirror=MIRROR, oversample={"flag:isPrompt": 4.0},
)
FROM_ELECTRON = Source(
    collection="Photon", name="genelectron", candidates="GenElectron", link="genPartIdx",
    conditioning=EGAMMA_CONDITIONING, targets={**KINEMATICS, **_TARGETS}, constants=_CONST, match_dr=0.3,
    mirror=MIRROR,
)
JETFAKE = Source(
    collection="Photon", name="jetfake", candidates="GenJetFake",
    conditioning=JET_CONDITIONING, targets={**KINEMATICS, **_TARGETS},
    constants={**_CONST, "genPartIdx": -1},
    mirror=MIRROR,
)

SOURCES = [FROM_PHOTON, FROM_ELECTRON, JETFAKE]
