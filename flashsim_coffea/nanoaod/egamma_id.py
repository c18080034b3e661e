"""e/gamma ID decisions that are functions of other NanoAOD fields (CMSSW VID conventions).

Shared by the reference detector (which derives the bitmaps from the ID inputs) and the
flash side (which simulates the bitmaps and scores and derives the rest), so both write
them the same way:

* :func:`pack_vid` / :func:`unpack_vid`: CMSSW's VID *nested* working-point bitmap
  (``EleVIDNestedWPBitmapProducer``, ``PhoVIDNestedWPBitmapProducer``): for each cut of the
  cut flow, the number of nested WPs whose threshold the object passes, in ``bits`` bits
  (3 for the 4 electron WPs, 2 for the 3 photon WPs), cut ``i`` at bit ``bits * i``;
* :func:`cut_based`: ``cutBased`` = the highest WP whose every cut passes = the minimum
  over the cuts of the bitmap (checked on nano_tt_v12: 310/310 electrons; nano_dy: 28/28
  photons);
* :func:`all_pass`: ``cutBased_HEEP`` = every 1-bit cut of ``vidNestedWPBitmapHEEP`` set
  (310/310 on nano_tt_v12);
* :func:`dr03_written`: the ``dr03*`` detector isolations are written above 35 GeV only;
* :func:`mva_wp`: an MVA working point with a pT- and abs(eta_SC)-dependent cut
  ``C - A exp(-pT / B)`` per abs(eta_SC) region, the form of the EGM Run-3 electron MVA
  WPs; :data:`MVA_NOISO_WP` holds the reference detector's ``mvaNoIso_WP80/WP90`` cuts.

Example:
    An electron passing all 10 cuts at tight (4) except the isolation (cut 7) at loose (2):

    >>> levels = np.array([[4, 4, 4, 4, 4, 4, 4, 2, 4, 4]])
    >>> bm = pack_vid(levels, 3)
    >>> int(bm[0]), int(cut_based(bm, len(ELECTRON_CUTS), 3)[0])
    (609372452, 2)
    >>> unpack_vid(bm, 10, 3).tolist() == levels.tolist()
    True
"""

from __future__ import annotations

import numpy as np

#: electron cut-based ID (RunIIIWinter22 V1, as Fall17 V2) cut flow: the order of the bitmap's 3-bit fields.
ELECTRON_CUTS = (
    "MinPtCut", "GsfEleSCEtaMultiRangeCut", "GsfEleDEtaInSeedCut", "GsfEleDPhiInCut", "GsfEleFull5x5SigmaIEtaIEtaCut",
    "GsfEleHadronicOverEMEnergyScaledCut", "GsfEleEInverseMinusPInverseCut", "GsfEleRelPFIsoScaledCut",
    "GsfEleConversionVetoCut", "GsfEleMissingHitsCut",
)
#: HEEP V7.0 cut flow: one bit per cut (``vidNestedWPBitmapHEEP``).
HEEP_CUTS = (
    "MinPtCut", "GsfEleSCEtaMultiRangeCut", "GsfEleDEtaInSeedCut", "GsfEleDPhiInCut",
    "GsfEleFull5x5SigmaIEtaIEtaWithSatCut", "GsfEleFull5x5E2x5OverE5x5WithSatCut", "GsfEleHadronicOverEMLinearCut",
    "GsfEleTrkPtIsoCut", "GsfEleEmHadD1IsoRhoCut", "GsfEleDxyCut", "GsfEleMissingHitsCut", "GsfEleEcalDrivenCut",
)
#: photon cut-based ID (Fall17 V2) cut flow: 2 bits per cut.
PHOTON_CUTS = (
    "MinPtCut", "PhoSCEtaMultiRangeCut", "PhoSingleTowerHadOverEmCut", "PhoFull5x5SigmaIEtaIEtaCut",
    "PhoAnyPFIsoWithEACut", "PhoAnyPFIsoWithEAAndQuadScalingCut", "PhoAnyPFIsoWithEACut",
)
#: NanoAOD v12 writes the electron detector isolations (``dr03TkSumPt``, ``dr03TkSumPtHEEP``,
#: ``dr03EcalRecHitSumEt``, ``dr03HcalDepth1TowerSumEt``) only for pT > 35 GeV, 0 below [meas] nano_tt_v12
#: (all 244 electrons below are 0, all 66 above non-zero ECAL sums).
DR03_PT_MIN = 35.0
#: abs(eta_SC) upper edges of the MVA WP regions (EB1, EB2, EE).
MVA_REGIONS = (0.8, 1.479)
#: an MVA WP: (C, A, B) per region.
WPTable = tuple[tuple[float, float, float], ...]
#: ``mvaNoIso_WP80/WP90`` of the reference detector's score: (C, A, B) per region EB1, EB2, EE; pass if
#: score > C - A exp(-pT/B). Fitted to 80% / 90% efficiency for prompt electrons (genPartFlav 1 or 15) in pT
#: and region bins of the reference detector's Drell-Yan and ttbar (5000 electrons: 81.4% / 90.4%, flat within
#: 2% across the regions and pT < 15, 15-30, > 30 GeV) [derived].
MVA_NOISO_WP: dict[str, WPTable] = {
    "WP80": ((0.89, 0.2, 12.0), (0.92, 0.4, 12.0), (0.90, 0.3, 12.0)),
    "WP90": ((0.62, 0.3, 12.0), (0.70, 0.8, 12.0), (0.69, 0.3, 12.0)),
}


def pack_vid(levels: np.ndarray, bits: int) -> np.ndarray:
    """The VID nested bitmap (int32) from per-cut levels ``(n, n_cuts)`` (0 .. 2**bits - 1).

    Example:
        >>> pack_vid(np.array([[1, 0, 1], [1, 1, 1]]), 1).tolist()
        [5, 7]
    """
    lv = np.asarray(levels, np.int64)
    if lv.size and (lv.min() < 0 or lv.max() >= 1 << bits):
        raise ValueError(f"levels must be in [0, {(1 << bits) - 1}]")
    shifts = bits * np.arange(lv.shape[1], dtype=np.int64)
    return np.sum(lv << shifts[None, :], axis=1).astype(np.int32)


def unpack_vid(bitmap: np.ndarray, n_cuts: int, bits: int) -> np.ndarray:
    """Per-cut levels ``(n, n_cuts)`` of a VID nested bitmap (inverse of :func:`pack_vid`).

    Example:
        >>> unpack_vid(np.array([0b110110]), 3, 2).tolist()
        [[2, 1, 3]]
    """
    bm = np.asarray(bitmap, np.int64)
    shifts = bits * np.arange(n_cuts, dtype=np.int64)
    return (bm[:, None] >> shifts[None, :]) & ((1 << bits) - 1)


def cut_based(bitmap: np.ndarray, n_cuts: int, bits: int) -> np.ndarray:
    """``cutBased`` (uint8): the highest nested WP passed by every cut, the bitmap's minimum level.

    Example:
        >>> cut_based(np.array([0b110110, 0b111111]), 3, 2).tolist()
        [1, 3]
    """
    if len(np.asarray(bitmap)) == 0:
        return np.zeros(0, np.uint8)
    return unpack_vid(bitmap, n_cuts, bits).min(axis=1).astype(np.uint8)


def all_pass(bitmap: np.ndarray, n_cuts: int) -> np.ndarray:
    """Whether every one of the ``n_cuts`` 1-bit cuts is set (``cutBased_HEEP``).

    Example:
        >>> all_pass(np.array([4095, 4093]), 12).tolist()
        [True, False]
    """
    full = (1 << n_cuts) - 1
    return (np.asarray(bitmap, np.int64) & full) == full


def dr03_written(pt: np.ndarray, value: np.ndarray) -> np.ndarray:
    """A ``dr03*`` detector isolation as NanoAOD v12 writes it: ``value`` above :data:`DR03_PT_MIN`, 0 below.

    Example:
        >>> dr03_written(np.array([20.0, 50.0]), np.array([3.0, 4.0])).tolist()
        [0.0, 4.0]
    """
    return np.where(np.asarray(pt) > DR03_PT_MIN, value, 0.0)


def mva_region(eta_sc: np.ndarray) -> np.ndarray:
    """MVA WP region index: 0 (abs(eta_SC) < 0.8), 1 (< 1.479), 2 (endcap).

    Example:
        >>> mva_region(np.array([0.2, 1.0, 2.0])).tolist()
        [0, 1, 2]
    """
    return np.searchsorted(np.asarray(MVA_REGIONS), np.abs(eta_sc), side="right")


def mva_cut(pt: np.ndarray, eta_sc: np.ndarray, table: WPTable) -> np.ndarray:
    """The WP's cut value ``C - A exp(-pT/B)`` for each object (``table``: (C, A, B) per region).

    Example:
        >>> mva_cut(np.array([10.0, 1000.0]), np.array([0.1, 2.0]), MVA_NOISO_WP["WP90"]).round(3).tolist()
        [0.49, 0.69]
    """
    t = np.asarray(table, np.float64)[mva_region(eta_sc)]
    return t[:, 0] - t[:, 1] * np.exp(-np.asarray(pt, np.float64) / t[:, 2])


def mva_wp(score: np.ndarray, pt: np.ndarray, eta_sc: np.ndarray, table: WPTable) -> np.ndarray:
    """Whether ``score`` passes the WP ``table`` (:func:`mva_cut`); ``eta_sc`` = eta + deltaEtaSC.

    Example:
        >>> mva_wp(np.array([0.6, 0.6]), np.array([10.0, 1000.0]), np.array([0.1, 0.1]), MVA_NOISO_WP["WP90"]).tolist()
        [True, False]
    """
    return np.asarray(score) > mva_cut(pt, eta_sc, table)
