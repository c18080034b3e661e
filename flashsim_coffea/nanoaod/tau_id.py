"""Tau identification fields that are functions of other Tau fields (NanoAOD v12 definitions).

Shared by the reference detector and the FlashSim engine:

* :data:`WP`: DeepTau 2018 v2.5 raw-score thresholds per discriminator (``e``, ``mu``,
  ``jet``), and :func:`deeptau_id`: ``idDeepTau2018v2p5VS{e,mu,jet}`` = the number of
  thresholds the raw score reaches (NanoAOD v12 computes them from the raw score,
  ``taus_cff.py`` ``_tauIdWPMask(..., from_raw=True)``: ``test_bit(raw - thr + 1, 0)``,
  i.e. raw >= thr);
* :func:`decay_mode_finding_old`: ``idDecayModeOldDMs``, the HPS decay modes of the
  "old" decay-mode finding (1-prong + 0/1/2 pi0, 3-prong + 0 pi0);
* :func:`combined_iso`: ``rawIso`` = chargedIso + max(0, neutralIso - 0.2 puCorr)
  (``byCombinedIsolationDeltaBetaCorrRaw3Hits``, delta-beta factor 0.2).

Example:
    >>> deeptau_id(np.array([0.05, 0.5, 0.9999]), "e").tolist()
    [0, 3, 8]
    >>> combined_iso(np.array([1.0]), np.array([3.0]), np.array([10.0])).tolist()  # 1 + max(0, 3 - 2)
    [2.0]
"""

from __future__ import annotations

import numpy as np

from flashsim_coffea.nanoaod.derived import WP_VSJET

#: DeepTau 2018 v2.5 thresholds, VVVLoose..VVTight (e, jet) and VLoose..Tight (mu)
#: [code: cms-sw/cmssw RecoTauTag/RecoTau/python/tauIdWPsDefs.py WORKING_POINTS_v2p5];
#: ``jet`` is :data:`flashsim_coffea.nanoaod.derived.WP_VSJET` (the same values to three decimals).
WP_VSE = np.array([0.099, 0.2384, 0.4136, 0.688, 0.8704, 0.9669, 0.9882, 0.9951])
WP_VSMU = np.array([0.2949, 0.4746, 0.7454, 0.9172])
WP: dict[str, np.ndarray] = {"e": WP_VSE, "mu": WP_VSMU, "jet": WP_VSJET}
#: HPS decay modes accepted by the old decay-mode finding (``decayModeFinding``)
#: [code: cms-sw/cmssw RecoTauTag/Configuration/python/HPSPFTaus_cff.py, OldDMs]
OLD_DMS = (0, 1, 2, 10)
#: delta-beta factors of ``rawIso`` (cone 0.5) and ``rawIsodR03`` (cone 0.3), PU charged sum in a
#: 0.8 cone [code: HPSPFTaus_cff.py hpsPFTauBasicDiscriminators(dR03) ``deltaBetaFactor``; taus_cff.py]
DBETA, DBETA_DR03 = 0.2, 0.072


def deeptau_id(raw: np.ndarray, versus: str) -> np.ndarray:
    """``idDeepTau2018v2p5VS<versus>``: the number of :data:`WP` thresholds ``raw`` reaches.

    Arguments:
        raw: the (stored) raw scores.
        versus: ``"e"``, ``"mu"`` or ``"jet"``.

    Example:
        >>> deeptau_id(np.array([0.2, 0.4746, 0.95]), "mu").tolist()
        [0, 2, 4]
    """
    return np.searchsorted(WP[versus], np.asarray(raw), side="right")


def decay_mode_finding_old(decay_mode: np.ndarray) -> np.ndarray:
    """``idDecayModeOldDMs``: the decay mode is one of :data:`OLD_DMS`.

    Example:
        >>> decay_mode_finding_old(np.array([0, 1, 2, 10, 11])).tolist()
        [True, True, True, True, False]
    """
    return np.isin(np.asarray(decay_mode), OLD_DMS)


def combined_iso(charged: np.ndarray, neutral: np.ndarray, pu: np.ndarray, beta: float = DBETA) -> np.ndarray:
    """Delta-beta corrected isolation sum (GeV): charged + max(0, neutral - beta x pu).

    ``rawIso`` with the stored ``chargedIso``, ``neutralIso``, ``puCorr`` and ``beta`` =
    :data:`DBETA`; ``rawIsodR03`` with the 0.3-cone sums and :data:`DBETA_DR03`.
    Example in the module docstring.
    """
    return np.asarray(charged) + np.maximum(np.asarray(neutral) - beta * np.asarray(pu), 0.0)
