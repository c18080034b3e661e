"""Values NanoAOD v12 writes for a jet where an algorithm does not run on it.

* The Run-3 taggers (ParticleNet AK4 ``btagPNet*``, ``btagRobustParTAK4*``) and the PNet pT
  regression run on jets of raw pT >= 15 GeV; the taggers inside the tracker only (abs(eta) < 2.5),
  except PNet's ``QvG``, which also runs forward. Elsewhere: PNet -1 (``QvG`` -10), RobustParT -1
  (its ``B``, the sum of three -1 probabilities: -3), the regression 0 [code: CMSSW
  ``PhysicsTools/NanoAOD/python/jetsAK4_Puppi_cff.py``; exact on the 1504 jets of ``nano_tt_v12.root``].
* The HF shower shapes (``hfsigmaEtaEta``, ``hfsigmaPhiPhi``, ``hfcentralEtaStripSize``,
  ``hfadjacentEtaStripsSize``) exist for jets of pT > 25 GeV beyond abs(eta) 2.9; else -1, -1, 0, 0
  [code: ``RecoJets/JetProducers/python/hfJetShowerShape_cfi.py``; exact on ``nano_tt_v12.root``].

The reference detector draws these fields only where the algorithm runs (``reference/btag.py``
``run3_scores``, ``reference/jets.py``); the flash engine learns them and then puts the defaults
back with :func:`apply` (``sim/derive.py``), so that the defaults follow the jet's own pT, raw pT and
eta exactly as in NanoAOD. The reference detector reads its thresholds and default values here
(:data:`PARAMS`, :data:`TAGGERS`, :data:`HF`): one number each, listed in docs/reference_detector.md.

Example:
    A central 40 GeV jet, a forward one, and a central one of raw pT 14 GeV:

    >>> cols = {"pt": np.array([40.0, 40.0, 16.0]), "eta": np.array([0.5, 3.2, 0.5]),
    ...         "rawFactor": np.array([0.1, 0.1, 0.125]), "btagPNetB": np.array([0.9, 0.2, 0.3]),
    ...         "btagPNetQvG": np.array([0.5, 0.4, 0.6]), "hfsigmaEtaEta": np.array([0.1, 0.05, 0.02])}
    >>> apply(cols)
    >>> cols["btagPNetB"].tolist(), cols["btagPNetQvG"].tolist(), cols["hfsigmaEtaEta"].tolist()
    ([0.9, -1.0, -1.0], [0.5, 0.4, -10.0], [-1.0, 0.05, -1.0])
"""

from __future__ import annotations

import numpy as np

PARAMS: dict = {
    # Run-3 taggers (PNet, RobustParT) and the PNet regression run on jets of raw pT >= 15 GeV, the taggers
    # inside abs(eta) < 2.5 but PNet's forward QvG [code: jetsAK4_Puppi_cff.py; meas: nano_tt_v12, exact on 1504 jets]
    "tagger_raw_ptmin": 15.0,
    "tagger_eta_max": 2.5,
    # HF shower shapes [code: hfJetShowerShape_cfi.py jetPtThreshold, jetEtaThreshold; meas: nano_tt_v12, exact]
    "hf_pt_min": 25.0,
    "hf_eta_min": 2.9,
}

#: field -> (value where the algorithm does not run, where it runs: "central" = raw pT and abs(eta), "raw" = raw pT only)
TAGGERS: dict[str, tuple[float, str]] = {
    "btagPNetB": (-1.0, "central"),
    "btagPNetCvL": (-1.0, "central"),
    "btagPNetCvB": (-1.0, "central"),
    "btagPNetQvG": (-10.0, "raw"),
    "btagPNetTauVJet": (-1.0, "central"),
    "btagRobustParTAK4B": (-3.0, "central"),
    "btagRobustParTAK4CvL": (-1.0, "central"),
    "btagRobustParTAK4CvB": (-1.0, "central"),
    "btagRobustParTAK4QG": (-1.0, "central"),
    "PNetRegPtRawCorr": (0.0, "raw"),
    "PNetRegPtRawCorrNeutrino": (0.0, "raw"),
    "PNetRegPtRawRes": (0.0, "raw"),
}

#: HF shower-shape field -> its value outside HF / below the pT threshold.
HF: dict[str, float] = {
    "hfsigmaEtaEta": -1.0,
    "hfsigmaPhiPhi": -1.0,
    "hfcentralEtaStripSize": 0,
    "hfadjacentEtaStripsSize": 0,
}


def apply(cols: dict[str, np.ndarray]) -> None:
    """Put NanoAOD's defaults into the tagger, regression and HF fields of ``cols`` (in place).

    Arguments:
        cols: flat jet columns with ``pt``, ``eta`` and ``rawFactor`` (raw pT = pT (1 - rawFactor));
            the fields of :data:`TAGGERS` and :data:`HF` that ``cols`` holds are rewritten, the others
            are left alone. Example in the module docstring.
    """
    pt = np.asarray(cols["pt"], np.float64)
    aeta = np.abs(np.asarray(cols["eta"], np.float64))
    raw = pt * (1.0 - np.asarray(cols.get("rawFactor", np.zeros(len(pt))), np.float64))
    runs = {"raw": raw >= PARAMS["tagger_raw_ptmin"]}
    runs["central"] = runs["raw"] & (aeta < PARAMS["tagger_eta_max"])
    for name, (default, where) in TAGGERS.items():
        if name in cols:
            cols[name] = np.where(runs[where], cols[name], default)
    hf = (pt > PARAMS["hf_pt_min"]) & (aeta > PARAMS["hf_eta_min"])
    for name, default in HF.items():
        if name in cols:
            cols[name] = np.where(hf, cols[name], default)
