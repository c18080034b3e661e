"""NanoAOD v12 names and dtypes of every branch the project writes.

One table, ``SCHEMA``, maps a collection (or ``""`` for event-level scalars) to its
fields and numpy dtypes. The reference detector and the FlashSim engine both cast
their output through :func:`cast`, so a file or an in-memory collection always
carries NanoAOD v12 dtypes.

Where a branch exists in ``nano_tt_v12.root`` (a CMSSW 13 NanoAOD v12 ttbar file)
its dtype is copied from there (the test ``tests/test_nanoaod.py`` checks that).
Collections missing from that file (Photon, Tau, GenVisTau, GenDressedLepton,
GenIsolatedPhoton) follow the v12 conventions of the CMSSW code that wrote v12:
indices int16, small counts and codes uint8, ids and charges int32. ``Jet_puId``
does not exist in v12 (PUPPI jets); it is written as Run-2 NanoAOD does (int32,
``4*loose + 2*medium + 1*tight``) because the seed analyses cut on it.

Example:
    >>> import awkward as ak
    >>> mu = ak.Array([[{"pt": 30.0, "genPartIdx": 3}]])
    >>> print(cast("Muon", mu).type)
    1 * var * {pt: float32, genPartIdx: int16}
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from flashsim_coffea.nanoaod.met_filters import FLAGS
from flashsim_coffea.nanoaod.triggers import PATHS

_F = "float32"
_KIN = {"pt": _F, "eta": _F, "phi": _F, "mass": _F}
#: fields muons and electrons share (isolation flavours, lepton-jet variables, charge quality, ttH score)
_LEPTON_SHARED = {
    "pfRelIso03_chg": _F,
    "miniPFRelIso_chg": _F,
    "jetRelIso": _F,
    "jetPtRelv2": _F,
    "jetNDauCharged": "uint8",
    "tightCharge": "uint8",
    "mvaTTH": _F,
}

SCHEMA: dict[str, dict[str, str]] = {
    # ---- event level -----------------------------------------------------------
    "": {
        "run": "uint32",
        "luminosityBlock": "uint32",
        "event": "uint64",
        "genWeight": _F,
        "Pileup_nTrueInt": _F,
        "Pileup_nPU": "int32",
        "GenMET_pt": _F,
        "GenMET_phi": _F,
        "MET_pt": _F,
        "MET_phi": _F,
        "MET_sumEt": _F,
        "MET_significance": _F,
        "MET_covXX": _F,
        "MET_covXY": _F,
        "MET_covYY": _F,
        "PV_npvs": "uint8",
        "PV_npvsGood": "uint8",
        "PV_x": _F,
        "PV_y": _F,
        "PV_z": _F,
        "Rho_fixedGridRhoFastjetAll": _F,
        "Rho_fixedGridRhoFastjetCentral": _F,
        # MET flavours, PV fit, rho variants, pileup summary (reference/met.py, reference/pileup.py)
        "MET_MetUnclustEnUpDeltaX": _F,
        "MET_MetUnclustEnUpDeltaY": _F,
        "MET_sumPtUnclustered": _F,
        "MET_fiducialGenPt": _F,
        "MET_fiducialGenPhi": _F,
        **{f"{m}_{v}": _F for m in ("RawMET", "ChsMET", "PuppiMET", "RawPuppiMET") for v in ("pt", "phi", "sumEt")},
        **{f"PuppiMET_{v}{s}{d}": _F for v in ("pt", "phi") for s in ("JER", "JES", "Unclustered") for d in ("Up", "Down")},
        "PV_chi2": _F,
        "PV_ndof": _F,
        "PV_score": _F,
        "Rho_fixedGridRhoAll": _F,
        "Rho_fixedGridRhoFastjetCentralCalo": _F,
        "Rho_fixedGridRhoFastjetCentralChargedPileUp": _F,
        "Rho_fixedGridRhoFastjetCentralNeutral": _F,
        "Pileup_sumEOOT": "int32",
        "Pileup_sumLOOT": "int32",
        "Pileup_pudensity": _F,
        "Pileup_gpudensity": _F,
        # trigger bits (nanoaod/triggers.py PATHS) and MET filters (nanoaod/met_filters.py FLAGS), bool
        **dict.fromkeys(PATHS, "bool"),
        **dict.fromkeys(FLAGS, "bool"),
    },
    # ---- generator level -------------------------------------------------------
    "GenPart": {
        **_KIN,
        "pdgId": "int32",
        "status": "int32",
        "statusFlags": "uint16",
        "genPartIdxMother": "int16",
    },
    "GenJet": {**_KIN, "partonFlavour": "int16", "hadronFlavour": "uint8"},
    "GenJetAK8": {**_KIN, "partonFlavour": "int16", "hadronFlavour": "uint8"},
    "SubGenJetAK8": dict(_KIN),  # issue 23: soft-drop subjets of GenJetAK8 (reference/genlevel.py)
    "GenVisTau": {**_KIN, "charge": "int16", "genPartIdxMother": "int16", "status": "uint8"},
    "GenDressedLepton": {**_KIN, "pdgId": "int32", "hasTauAnc": "bool"},
    "GenIsolatedPhoton": dict(_KIN),
    # ---- reconstructed ---------------------------------------------------------
    "Muon": {
        **_KIN,
        "charge": "int32",
        "pdgId": "int32",
        "ptErr": _F,
        "dxy": _F,
        "dxyErr": _F,
        "dz": _F,
        "dzErr": _F,
        "ip3d": _F,
        "sip3d": _F,
        "pfRelIso03_all": _F,
        "pfRelIso04_all": _F,
        "miniPFRelIso_all": _F,
        "tkRelIso": _F,
        "looseId": "bool",
        "mediumId": "bool",
        "tightId": "bool",
        "pfIsoId": "uint8",
        "isGlobal": "bool",
        "isTracker": "bool",
        "isPFcand": "bool",
        "nStations": "uint8",
        "nTrackerLayers": "uint8",
        "genPartIdx": "int16",
        "genPartFlav": "uint8",
        "jetIdx": "int16",
        "svIdx": "int16",  # issue 23: the SV holding the muon track (v12)
        # issue 22: isolation flavours, lepton-jet variables, IDs and scores
        **_LEPTON_SHARED,
        "mvaLowPt": _F,
        "softId": "bool",
        "softMva": _F,
        "softMvaId": "bool",
        "highPtId": "uint8",
        "tunepRelPt": _F,
        "isStandalone": "bool",
        "segmentComp": _F,
        "dxybs": _F,
        "bsConstrainedPt": _F,
        "bsConstrainedPtErr": _F,
        "bsConstrainedChi2": _F,
        "mvaMuID": _F,
        "mvaMuID_WP": "uint8",
        "mediumPromptId": "bool",
        "highPurity": "bool",
        "inTimeMuon": "bool",
        "triggerIdLoose": "bool",
        "tkIsoId": "uint8",
        "miniIsoId": "uint8",
        "multiIsoId": "uint8",
        "puppiIsoId": "uint8",
        "fsrPhotonIdx": "int16",  # issue 23: link to FsrPhoton (reference/fsr.py), added after the FSR stage
    },
    "Electron": {
        **_KIN,
        "charge": "int32",
        "pdgId": "int32",
        "deltaEtaSC": _F,
        "dxy": _F,
        "dxyErr": _F,
        "dz": _F,
        "dzErr": _F,
        "ip3d": _F,
        "sip3d": _F,
        "pfRelIso03_all": _F,
        "miniPFRelIso_all": _F,
        "r9": _F,
        "sieie": _F,
        "hoe": _F,
        "energyErr": _F,
        "cutBased": "uint8",
        "mvaIso": _F,
        "mvaIso_WP80": "bool",
        "mvaIso_WP90": "bool",
        "convVeto": "bool",
        "lostHits": "uint8",
        "genPartIdx": "int16",
        "genPartFlav": "uint8",
        "jetIdx": "int16",
        "photonIdx": "int16",
        "svIdx": "int16",  # issue 23 (v12)
        "vidNestedWPBitmap": "int32",
        "vidNestedWPBitmapHEEP": "int32",
        "cutBased_HEEP": "bool",
        "mvaNoIso": _F,
        "mvaNoIso_WP80": "bool",
        "mvaNoIso_WP90": "bool",
        "mvaHZZIso": _F,
        "eInvMinusPInv": _F,
        "scEtOverPt": _F,
        "dr03TkSumPt": _F,
        "dr03TkSumPtHEEP": _F,
        "dr03EcalRecHitSumEt": _F,
        "dr03HcalDepth1TowerSumEt": _F,
        "isPFcand": "bool",
        "seedGain": "uint8",
        "seediEtaOriX": "int8",
        "seediPhiOriY": "int32",
        **_LEPTON_SHARED,
        "fsrPhotonIdx": "int16",  # issue 23: link to FsrPhoton (reference/fsr.py), added after the FSR stage
    },
    "Photon": {
        "pt": _F,
        "eta": _F,
        "phi": _F,
        "energyErr": _F,
        "r9": _F,
        "sieie": _F,
        "hoe": _F,
        "pfRelIso03_all": _F,
        "mvaID": _F,
        "mvaID_WP80": "bool",
        "mvaID_WP90": "bool",
        "cutBased": "uint8",
        "electronVeto": "bool",
        "pixelSeed": "bool",
        "isScEtaEB": "bool",
        "isScEtaEE": "bool",
        "genPartIdx": "int16",
        "genPartFlav": "uint8",
        "jetIdx": "int16",
        "electronIdx": "int16",
        "pfRelIso03_chg": _F,
        "pfChargedIsoPFPV": _F,
        "pfPhoIso03": _F,
        "vidNestedWPBitmap": "int32",
        "seedGain": "uint8",
        "eCorr": _F,
    },
    "Tau": {
        **_KIN,
        "charge": "int32",
        "dxy": _F,
        "dz": _F,
        "decayMode": "uint8",
        "idDecayModeNewDMs": "bool",
        "idDecayModeOldDMs": "bool",
        "leadTkPtOverTauPt": _F,
        "leadTkDeltaEta": _F,
        "leadTkDeltaPhi": _F,
        "chargedIso": _F,
        "neutralIso": _F,
        "puCorr": _F,
        "photonsOutsideSignalCone": _F,
        "rawIso": _F,
        "rawIsodR03": _F,
        "rawDeepTau2018v2p5VSjet": _F,
        "idDeepTau2018v2p5VSjet": "uint8",
        "rawDeepTau2018v2p5VSe": _F,
        "idDeepTau2018v2p5VSe": "uint8",
        "rawDeepTau2018v2p5VSmu": _F,
        "idDeepTau2018v2p5VSmu": "uint8",
        "idAntiMu": "uint8",
        "genPartIdx": "int16",
        "genPartFlav": "uint8",
        "jetIdx": "int16",
        "eleIdx": "int16",
        "muIdx": "int16",
    },
    "Jet": {
        **_KIN,
        "area": _F,
        "rawFactor": _F,
        "btagDeepFlavB": _F,
        "btagDeepFlavCvL": _F,
        "btagDeepFlavCvB": _F,
        "btagDeepFlavQG": _F,
        "btagPNetB": _F,
        "btagPNetCvL": _F,
        "btagPNetCvB": _F,
        "btagPNetQvG": _F,
        "btagPNetTauVJet": _F,
        "btagRobustParTAK4B": _F,
        "btagRobustParTAK4CvL": _F,
        "btagRobustParTAK4CvB": _F,
        "btagRobustParTAK4QG": _F,
        "PNetRegPtRawCorr": _F,
        "PNetRegPtRawCorrNeutrino": _F,
        "PNetRegPtRawRes": _F,
        "chHEF": _F,
        "neHEF": _F,
        "chEmEF": _F,
        "neEmEF": _F,
        "muEF": _F,
        "nConstituents": "uint8",
        "nElectrons": "uint8",
        "nMuons": "uint8",
        "muonIdx1": "int16",
        "muonIdx2": "int16",
        "electronIdx1": "int16",
        "electronIdx2": "int16",
        "svIdx1": "int16",  # issue 23: SV links (v12)
        "svIdx2": "int16",
        "nSVs": "uint8",
        "jetId": "uint8",
        "puId": "int32",
        "hadronFlavour": "uint8",
        "partonFlavour": "int16",
        "genJetIdx": "int16",
        "muonSubtrFactor": _F,
        "hfsigmaEtaEta": _F,
        "hfsigmaPhiPhi": _F,
        "hfcentralEtaStripSize": "int32",
        "hfadjacentEtaStripsSize": "int32",
    },
    # FSR photons of NanoAOD's leptonFSRphotons (reference/fsr.py): float fields as nano_dy.root; the
    # indices int16 as the v12 table (cmssw PhysicsTools/NanoAOD/python/fsrPhotons_cff.py "int16"; the
    # pre-v12 nano_dy.root writes muonIdx as int32 and has no electronIdx)
    "FsrPhoton": {"pt": _F, "eta": _F, "phi": _F, "relIso03": _F, "dROverEt2": _F, "muonIdx": "int16",
                  "electronIdx": "int16"},
    # secondary vertices (IVF; reference/vertices.py): v12 dtypes of VertexTableProducer / vertices_cff
    # (floats as nano_dy.root, charge int16, ntracks uint8)
    "SV": {
        **_KIN,
        **dict.fromkeys(("x", "y", "z", "dlen", "dlenSig", "dxy", "dxySig", "pAngle", "chi2", "ndof"), _F),
        "ntracks": "uint8",
        "charge": "int16",
    },
    # the jets below the Jet threshold that Type-1 MET corrects (v12 dtypes)
    "CorrT1METJet": {"rawPt": _F, "eta": _F, "phi": _F, "area": _F, "muonSubtrFactor": _F},
    # issue 23: AK8 jets and their soft-drop subjets (reference/fatjets.py); FatJet dtypes as nano_tt_v12
    "FatJet": {
        **_KIN,
        "msoftdrop": _F,
        "area": _F,
        "rawFactor": _F,
        **{f"tau{i}": _F for i in range(1, 5)},
        "n2b1": _F,
        "n3b1": _F,
        **{f"particleNet_{c}VsQCD": _F for c in ("Xbb", "Xcc", "Xqq", "Xgg", "Xtt", "Xte", "Xtm")},
        **{f"particleNet_{c}": _F for c in ("QCD", "QCD0HF", "QCD1HF", "QCD2HF")},
        **{f"particleNetWithMass_{c}vsQCD": _F for c in ("H4q", "Hbb", "Hcc", "T", "W", "Z")},
        "particleNetWithMass_QCD": _F,
        "particleNet_massCorr": _F,
        "btagDDBvLV2": _F,
        "btagDDCvLV2": _F,
        "btagDDCvBV2": _F,
        "btagDeepB": _F,
        "btagHbb": _F,
        "lsf3": _F,
        "muonIdx3SJ": "int16",
        "electronIdx3SJ": "int16",
        "jetId": "uint8",
        "nConstituents": "uint8",
        "hadronFlavour": "uint8",
        "nBHadrons": "uint8",
        "nCHadrons": "uint8",
        "genJetAK8Idx": "int16",
        "subJetIdx1": "int16",
        "subJetIdx2": "int16",
    },
    # not in nano_tt_v12: the nano_dy fields, v12 conventions (floats float32, flavour and counts uint8)
    "SubJet": {
        **_KIN,
        "btagDeepB": _F,
        "rawFactor": _F,
        **{f"tau{i}": _F for i in range(1, 5)},
        "n2b1": _F,
        "n3b1": _F,
        "hadronFlavour": "uint8",
        "nBHadrons": "uint8",
        "nCHadrons": "uint8",
    },
}

#: NanoAOD writes the counter of every collection as ``n<Collection>`` with this dtype (v10+).
COUNTER_DTYPE = "int32"


def cast(collection: str, array: ak.Array) -> ak.Array:
    """Cast the fields of ``array`` to the NanoAOD v12 dtypes of ``collection``.

    Fields not in ``SCHEMA[collection]`` raise ``KeyError`` naming them, so nothing
    un-NanoAOD-like slips out. Fields the schema has but the array lacks stay absent.

    Arguments:
        collection: a key of :data:`SCHEMA` (``""`` for event-level scalars).
        array: a record array (jagged for collections, flat for event level).

    Returns:
        ``array`` with every field cast (a new array).

    Example:
        >>> print(cast("", ak.Array([{"run": 1, "event": 42, "MET_pt": 31.5}])).type)
        1 * {run: uint32, event: uint64, MET_pt: float32}
        >>> cast("Muon", ak.Array([[{"pt": 30.0, "isolation": 0.1}]]))
        Traceback (most recent call last):
        ...
        KeyError: "Muon: fields not in the NanoAOD v12 schema: ['isolation']"
    """
    schema = SCHEMA[collection]
    unknown = [f for f in array.fields if f not in schema]
    if unknown:
        raise KeyError(f"{collection or 'event'}: fields not in the NanoAOD v12 schema: {unknown}")
    return ak.zip({f: ak.values_astype(array[f], np.dtype(schema[f])) for f in array.fields})
