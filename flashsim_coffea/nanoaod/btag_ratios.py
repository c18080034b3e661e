"""The AK4 b-tag discriminants of one tagger as ratios of its class probabilities.

NanoAOD v12 writes, per tagger (DeepJet ``btagDeepFlav*``, ParticleNet ``btagPNet*``, RobustParT
``btagRobustParTAK4*``), ``B`` = P(b) (its b, bb and leptonic-b classes), ``CvL`` = P(c) / (P(c) + P(udsg)) and
``CvB`` = P(c) / (P(c) + P(b)). The classes sum to one, so P(c) = (1 - B) CvL and

    CvB = (1 - B) CvL / ((1 - B) CvL + B),

one of the three is a function of the other two [code: CMSSW ``PhysicsTools/NanoAOD/python/jetsAK4_*_cff.py``,
the ``CvL``/``CvB`` expressions of the probabilities]. On ``nano_tt_v12.root`` (1213-1504 jets per tagger) the
written ``CvB`` equals it to a median of 2e-4 in log (the 10-bit stored precision; 5-15 % differ by more than 5 %,
where ``B`` is near 1 and its stored 1 - B coarse) [meas]. The reference detector draws ``B`` and ``CvL`` and
computes ``CvB`` this way inside the tracker (``reference/btag.py``); the flash side learns all three and then
derives ``CvB`` from its own ``B`` and ``CvL`` (``sim/derive.py``), where the three flows' independent noise had put
15-20 % of the shipped set's central flash jets more than 5 % off it (FullSim 2-4 %: the float32 rounding).

Example:
    A b jet (B 0.9), a c jet (B 0.05, CvL 0.6) and a light jet:

    >>> c_vs_b(np.array([0.9, 0.05, 0.02]), np.array([0.5, 0.6, 0.1])).round(4).tolist()
    [0.0526, 0.9194, 0.8305]
"""

from __future__ import annotations

import numpy as np

#: tagger -> its ``(B, CvL, CvB)`` Jet fields
TAGGERS: dict[str, tuple[str, str, str]] = {
    "DeepFlav": ("btagDeepFlavB", "btagDeepFlavCvL", "btagDeepFlavCvB"),
    "PNet": ("btagPNetB", "btagPNetCvL", "btagPNetCvB"),
    "RobustParT": ("btagRobustParTAK4B", "btagRobustParTAK4CvL", "btagRobustParTAK4CvB"),
}


def c_vs_b(b: np.ndarray, cvl: np.ndarray) -> np.ndarray:
    """``CvB`` from ``B`` and ``CvL`` of the same tagger (module docstring): P(c) / (P(c) + P(b)) with
    P(c) = (1 - B) CvL, float64."""
    b = np.asarray(b, np.float64)
    pc = (1.0 - b) * np.asarray(cvl, np.float64)
    return pc / np.maximum(pc + b, 1e-12)
