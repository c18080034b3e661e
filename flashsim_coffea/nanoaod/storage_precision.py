"""NanoAOD's stored float precision: the mantissa bits each branch keeps, and the rounding.

CMSSW's NanoAOD table producers store many float branches with a reduced mantissa
(``precision=p`` in the ``Var`` of a table: ``p`` explicit fraction bits of the 23 of a
float32, rounded by ``MiniFloatConverter::reduceMantissaToNbitsRounding``), so a real
NanoAOD ``Jet_pt`` takes one of 1024 values per octave. Both the reference detector
(:mod:`flashsim_coffea.reference.generate`, on every block it writes) and the FlashSim
engine (:mod:`flashsim_coffea.sim.engine`, on every collection it returns) round through
this one table, so that flash and FullSim values sit on the same grid: a classifier that
reads values finer than the grid (a gradient-boosted tree's quantile bins are, on narrow
peaks) would otherwise tell flash from FullSim by precision alone.

``PRECISION`` maps a collection (``""``: event-level branches by their full name) to
``{field: p}``; a field that is not listed is stored at full float32 precision (CMSSW's
``precision=-1``). The numbers are those of CMSSW 13 NanoAOD v12, measured as the largest
number of non-zero fraction bits over every value of the branch in
``../shared/data/nanoaod/nano_tt_v12.root`` (200 events; 100–1500 values a branch) and,
for the collections that file lacks (Photon, Tau, SV, FsrPhoton, gen taus and leptons),
in ``nano_dy.root`` (Run-2 NanoAOD, 9–29 values a branch: read against the ``precision=``
of CMSSW's ``photons_cff.py``, ``taus_cff.py``, ``vertices_cff.py``). Fields that neither
file carries take the precision of their kind in the same table producers (taggers and
regressions 10, like their neighbours). ``tests/test_storage_precision.py`` measures the
real files again against this table.

``GenPart`` is not rounded by the reference: CMSSW keeps 8 bits of its pT, η and φ, but
the flash leptons and photons are drawn around their GenPart (Δη resolution 5·10⁻⁴ where
8 bits of η = 2 are 8·10⁻³), so the reference keeps the truth finer than real NanoAOD. On
real NanoAOD input those angles inherit the 8-bit grid.

Example:
    >>> reduce_mantissa(np.array([91.1876, 0.12345, 0.99999]), 10)
    array([91.1875    ,  0.12347412,  0.9995117 ], dtype=float32)
    >>> cols = round_columns("Jet", {"pt": np.array([41.3717]), "jetId": np.array([6])})
    >>> float(cols["pt"][0]), int(cols["jetId"][0])
    (41.375, 6)

References:
    CMSSW ``DataFormats/Math/interface/libminifloat.h`` (``reduceMantissaToNbitsRounding``);
    ``PhysicsTools/NanoAOD/python/*_cff.py`` (the ``precision=`` of each ``Var``).
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np

_P4 = {"eta": 12, "phi": 12, "mass": 10}  # P4Vars: pt full, eta/phi 12, mass 10
_LEPTON = {  # muon and electron fields they share
    "dxy": 10, "dz": 10, "dxyErr": 6, "dzErr": 6, "ip3d": 10, "sip3d": 10,
    "jetRelIso": 8, "jetPtRelv2": 8, "mvaTTH": 14,
}
_TAGGERS_AK4 = ("btagDeepFlavB", "btagDeepFlavCvL", "btagDeepFlavCvB", "btagDeepFlavQG", "btagPNetB",
                "btagPNetCvL", "btagPNetCvB", "btagPNetQvG", "btagPNetTauVJet", "btagRobustParTAK4B",
                "btagRobustParTAK4CvL", "btagRobustParTAK4CvB", "btagRobustParTAK4QG")
_TAGGERS_AK8 = (
    *(f"particleNet_{k}VsQCD" for k in ("Xbb", "Xcc", "Xqq", "Xgg", "Xtt", "Xte", "Xtm")),
    "particleNet_QCD", "particleNet_QCD0HF", "particleNet_QCD1HF", "particleNet_QCD2HF",
    *(f"particleNetWithMass_{k}vsQCD" for k in ("H4q", "Hbb", "Hcc", "T", "W", "Z")),
    "particleNetWithMass_QCD", "particleNet_massCorr", "btagDDBvLV2", "btagDDCvLV2", "btagDDCvBV2",
    "btagDeepB", "btagHbb",
)
_SUBSTRUCTURE = {"tau1": 10, "tau2": 10, "tau3": 10, "tau4": 10, "n2b1": 10, "n3b1": 10}
_MET_VARIANTS = [f"PuppiMET_{v}{s}{d}" for v in ("pt", "phi") for s in ("JES", "JER", "Unclustered")
                 for d in ("Up", "Down")]

#: stored fraction bits per collection and field (absent: full float32)
PRECISION: dict[str, dict[str, int]] = {
    "": {
        "PV_x": 10, "PV_y": 10, "PV_z": 16, "PV_ndof": 8, "PV_chi2": 8, "PV_score": 8,
        "MET_phi": 12, "MET_sumEt": 10, "MET_significance": 10, "MET_covXX": 8, "MET_covXY": 8, "MET_covYY": 8,
        "MET_MetUnclustEnUpDeltaX": 10, "MET_MetUnclustEnUpDeltaY": 10, "MET_sumPtUnclustered": 10,
        "MET_fiducialGenPt": 10, "MET_fiducialGenPhi": 10,
        **{f"{m}_{v}": 10 for m in ("RawMET", "ChsMET", "RawPuppiMET") for v in ("pt", "phi", "sumEt")},
        "PuppiMET_phi": 12, "PuppiMET_sumEt": 10, **dict.fromkeys(_MET_VARIANTS, 10),
        "GenMET_pt": 10, "GenMET_phi": 10,
    },
    "Jet": {
        "pt": 10, "eta": 12, "phi": 12, "mass": 10, "area": 10, "rawFactor": 6,
        "chHEF": 6, "neHEF": 6, "chEmEF": 6, "neEmEF": 6, "muEF": 6, "muonSubtrFactor": 6,
        **dict.fromkeys(_TAGGERS_AK4, 10),
        "PNetRegPtRawCorr": 10, "PNetRegPtRawCorrNeutrino": 10, "PNetRegPtRawRes": 10,
        "hfsigmaEtaEta": 10, "hfsigmaPhiPhi": 10,
    },
    "CorrT1METJet": {"rawPt": 10, "eta": 12, "phi": 12, "area": 10, "muonSubtrFactor": 6},
    "Muon": {
        "eta": 16, "phi": 16, "mass": 10, "ptErr": 6, **_LEPTON, "tkRelIso": 6, "mvaLowPt": 14, "softMva": 6,
        "tunepRelPt": 6, "segmentComp": 14, "dxybs": 10, "bsConstrainedPtErr": 6, "bsConstrainedChi2": 6,
        "mvaMuID": 6,
    },
    "Electron": {
        **_P4, **_LEPTON, "deltaEtaSC": 10, "r9": 10, "sieie": 10, "hoe": 8, "energyErr": 6,
        "eInvMinusPInv": 10, "scEtOverPt": 8, "dr03TkSumPt": 8, "dr03TkSumPtHEEP": 8,
        "dr03EcalRecHitSumEt": 8, "dr03HcalDepth1TowerSumEt": 8,
    },
    "Photon": {
        "eta": 12, "phi": 12, "energyErr": 6, "r9": 10, "sieie": 10, "hoe": 8, "mvaID": 10,
        "pfChargedIsoPFPV": 10, "pfPhoIso03": 10,
    },
    "Tau": {
        **_P4, "dxy": 10, "dz": 14, "chargedIso": 10, "neutralIso": 10, "puCorr": 10,
        "photonsOutsideSignalCone": 10, "leadTkPtOverTauPt": 10, "leadTkDeltaEta": 8, "leadTkDeltaPhi": 8,
        "rawIsodR03": 10, "rawIso": 10, "rawDeepTau2018v2p5VSjet": 10, "rawDeepTau2018v2p5VSe": 10,
        "rawDeepTau2018v2p5VSmu": 10,
    },
    "FatJet": {
        "pt": 10, **_P4, "msoftdrop": 10, "area": 10, "rawFactor": 6, **_SUBSTRUCTURE, "lsf3": 10,
        **dict.fromkeys(_TAGGERS_AK8, 10),
    },
    "SubJet": {**_P4, "btagDeepB": 10, "rawFactor": 6, **_SUBSTRUCTURE},
    "SV": {
        "pt": 10, **_P4, "x": 10, "y": 10, "z": 14, "dlen": 10, "dlenSig": 10, "dxy": 10, "dxySig": 10,
        "pAngle": 10, "chi2": 8, "ndof": 8,
    },
    "FsrPhoton": {"eta": 12, "phi": 12},
    "GenJet": _P4,
    "GenJetAK8": _P4,
    "SubGenJetAK8": _P4,
    "GenVisTau": {"pt": 8, "eta": 8, "phi": 8, "mass": 8},
    "GenDressedLepton": _P4,
    "GenIsolatedPhoton": _P4,
}


def reduce_mantissa(x: Any, bits: int) -> np.ndarray:
    """``x`` as float32 with ``bits`` fraction bits, rounded as CMSSW stores NanoAOD floats.

    Half-way and above rounds the magnitude up, except where the kept fraction is already
    all ones or one below (CMSSW then truncates, so nothing carries into the exponent:
    values just below 1 stay below 1). NaN and ±inf pass unchanged; ``bits >= 23`` is a copy.

    Example:
        >>> reduce_mantissa(np.array([1.0, 0.99999, -3.14159]), 6)
        array([ 1.       ,  0.9921875, -3.15625  ], dtype=float32)
    """
    if bits < 1:
        raise ValueError(f"stored precision must keep at least 1 fraction bit, got {bits}")
    a = np.array(x, dtype=np.float32, copy=True)
    if bits >= 23 or a.size == 0:
        return a
    shift = np.uint32(23 - bits)
    i = a.view(np.uint32)
    mantissa = (i & np.uint32(0x007FFFFF)) >> shift
    up = (i & (np.uint32(1) << (shift - np.uint32(1)))) != 0
    mantissa = np.where(up & (mantissa < np.uint32((1 << bits) - 2)), mantissa + np.uint32(1), mantissa)
    rounded = ((i & np.uint32(0xFF800000)) | (mantissa << shift)).view(np.float32)
    return np.where(np.isfinite(a), rounded, a)


def _round(value: Any, bits: int) -> Any:
    if isinstance(value, ak.Array) and value.ndim > 1:
        counts = ak.num(value)
        return ak.unflatten(reduce_mantissa(ak.to_numpy(ak.flatten(value)), bits), counts)
    return reduce_mantissa(ak.to_numpy(value) if isinstance(value, ak.Array) else value, bits)


def round_columns(collection: str, cols: dict[str, Any]) -> dict[str, Any]:
    """The columns of one collection (``""``: event-level branches by full name) at NanoAOD's
    stored precision: listed fields rounded (float32), the others as given.

    Example:
        >>> round_columns("", {"MET_phi": np.array([1.234567]), "MET_pt": np.array([1.234567])})["MET_phi"]
        array([1.2346191], dtype=float32)
    """
    table = PRECISION.get(collection, {})
    return {k: (_round(v, table[k]) if k in table else v) for k, v in cols.items()}


def round_branches(branches: dict[str, Any]) -> dict[str, Any]:
    """A chunk of NanoAOD branches at stored precision: records of a collection (jagged
    ``ak.Array`` named after it) field by field, event-level arrays by their full name.

    Example:
        >>> import awkward as ak
        >>> out = round_branches({"Jet": ak.Array([[{"pt": 41.3717, "jetId": 6}]]), "PV_z": np.array([0.1234567])})
        >>> out["Jet"].pt.tolist(), out["PV_z"].tolist()
        ([[41.375]], [0.12345695495605469])
    """
    out = {}
    for name, value in branches.items():
        if isinstance(value, ak.Array) and value.fields and name in PRECISION:
            if value.ndim > 1:  # one flatten and one unflatten per collection, not per field
                flat = ak.flatten(value, axis=1)
                fields = round_columns(name, {f: flat[f] for f in flat.fields})
                out[name] = ak.unflatten(ak.zip(fields, depth_limit=1), ak.num(value, axis=1))
            else:
                out[name] = ak.zip(round_columns(name, {f: value[f] for f in value.fields}))
        else:
            out[name] = round_columns("", {name: value})[name]
    return out
