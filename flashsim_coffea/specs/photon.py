"""Photons: from gen photons, from gen electrons, fakes from jets.

Every field of the reference detector's ``Photon`` (26) is learnt, constant or derived:

* learnt: kinematics, ``energyErr``, shower shapes, isolations (the raw sums ``pfChargedIsoPFPV`` and
  ``pfPhoIso03``, ``pfRelIso03_all`` as its excess over ``pfChargedIsoPFPV / pt``), ``mvaID``,
  ``electronVeto``, ``pixelSeed``, ``seedGain``, ``eCorr`` and ``vidNestedWPBitmap`` (seven
  cut levels of 0-3, transform ``vid``);
* constant: ``electronIdx`` -1 (the reference detector writes no photon-electron link);
* derived after sampling (:func:`flashsim_coffea.sim.derive.photon`): ``pfRelIso03_chg`` (``pfChargedIsoPFPV``
  less rho x EA, over pT), ``cutBased`` (minimum over the bitmap), ``mvaID_WP80/90`` (cuts on the score),
  ``isScEtaEB``/``isScEtaEE``, ``genPartFlav``, ``jetIdx``.

Example:
    >>> [(s.key, s.candidates) for s in SOURCES]
    [('Photon_genphoton', 'GenPhoton'), ('Photon_genelectron', 'GenElectron'), ('Photon_jetfake', 'GenJetFake')]
    >>> len(FROM_PHOTON.targets), FROM_PHOTON.targets["vidNestedWPBitmap"]
    (16, {'kind': 'vid', 'cuts': 7, 'bits': 2})
"""

from __future__ import annotations

from flashsim_coffea.specs._lepton import (
    EGAMMA_CONDITIONING,
    FLAG,
    ISOLATION,
    JET_CONDITIONING,
    KINEMATICS,
    MIRROR,
    MVA,
    POSITIVE,
    R9,
    SEED_GAIN,
)
from flashsim_coffea.specs.source import Source

_TARGETS = {
    "energyErr": POSITIVE,
    "r9": R9,
    "sieie": POSITIVE,
    "hoe": ISOLATION,
    # (charged + max(0, neutral - rho EA)) / pt, never below the raw charged sum over pt: learnt as the excess (the
    # rho-corrected pfRelIso03_chg is derived from the raw sum; learnt beside it, the pair was not bound)
    "pfRelIso03_all": {"kind": "excess", "over": "pfChargedIsoPFPV", "per": "pt", "then": ISOLATION},
    "mvaID": MVA,
    "electronVeto": FLAG,
    "pixelSeed": FLAG,
    # raw sums of PF candidates above their thresholds (charged hadrons 0.5 GeV, photons 1 GeV): 0 or at least
    # the threshold, a density that starts with a step there; logged from just under it (through ISO_SUM's
    # log(x + 0.01) the flow smoothed the step: 1.0-1.2 GeV held 7.4 % of FullSim's photons, 3.4 % of flash's)
    "pfChargedIsoPFPV": {"kind": "spike", "value": 0.0, "then": {"kind": "log", "offset": -0.499}},
    "pfPhoIso03": {"kind": "spike", "value": 0.0, "then": {"kind": "log", "offset": -0.999}},
    "vidNestedWPBitmap": {"kind": "vid", "cuts": 7, "bits": 2},
    "seedGain": SEED_GAIN,
    # the EGM scale-and-smearing factor: about 1, a few % wide
    "eCorr": {"kind": "log", "offset": 0.0},
}
_CONST = {"electronIdx": -1}

#: prompt photons are drawn four times as often in the flow's batches: a quarter of the vbf
#: photons are FSR photons next to a muon, where the flow under-filled the isolation's point
#: mass at 0 (flashsim_coffea/models/README.md, tenth set)
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
