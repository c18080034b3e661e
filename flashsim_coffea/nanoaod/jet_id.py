"""The PF jet ID (``Jet_jetId``, ``FatJet_jetId``): a function of the jet's energy fractions and multiplicities.

UL (2017/18) tight and tightLepVeto [mem, notes section 7]: 2 = tight, 6 = tight + tightLepVeto, 0 = fail.
The reference detector computes it from every input (:func:`jet_id`); NanoAOD writes the fractions and the
constituent count but not the charged and neutral multiplicities, so the flash side derives it where the written
fields decide it (abs(eta) <= 2.7, the charged multiplicity nonzero where ``chHEF`` is: :func:`jet_id_written`)
and keeps the learnt value beyond. On CMS's nano_tt_v12 the formula gives the written ``jetId`` of 99.5 % of the
jets within 2.7 (the reference detector's: all).

Example:
    A central jet with 95 % neutral hadron energy fails; one beyond 2.7 keeps its learnt value:

    >>> jet_id_written(np.array([0.5, 3.5]), chf=np.array([0.02, 0.0]), nhf=np.array([0.95, 0.5]),
    ...                cemf=np.zeros(2), nemf=np.array([0.03, 0.5]), muf=np.zeros(2), n_const=np.array([9, 4]),
    ...                learnt=np.array([6, 6])).tolist()
    [0, 6]
"""

from __future__ import annotations

import numpy as np

#: beyond this abs(eta) the tight ID reads the neutral multiplicity, which NanoAOD does not write
WRITTEN_ETA_MAX = 2.7


def jet_id(aeta, chf, nhf, cemf, nemf, muf, n_const, n_charged, n_neutral, hf_min_neutral: int) -> np.ndarray:
    """UL PF jet ID from every input: 2 = tight, 6 = tight + tightLepVeto, 0 = fail (uint8); ``hf_min_neutral``
    the neutral candidates the forward region (abs(eta) > 3) asks for.

    Example:
        >>> jet_id(np.array([0.5]), np.array([0.3]), np.array([0.2]), np.array([0.1]), np.array([0.3]),
        ...        np.array([0.85]), np.array([12]), np.array([6]), np.array([6]), 10).tolist()  # muon-rich
        [2]
    """
    c1 = aeta <= 2.6
    c2 = (aeta > 2.6) & (aeta <= 2.7)
    c3 = (aeta > 2.7) & (aeta <= 3.0)
    tight = np.select(
        [c1, c2, c3],
        [
            (nhf < 0.90) & (nemf < 0.90) & (n_const > 1) & (chf > 0) & (n_charged > 0),
            (nhf < 0.90) & (nemf < 0.99),
            (nemf > 0.01) & (nemf < 0.99) & (n_neutral > 1),
        ],
        (nemf < 0.90) & (nhf > 0.2) & (n_neutral > hf_min_neutral),
    )
    lepveto = tight & np.where(aeta <= 2.7, (muf < 0.8) & (cemf < 0.8), True)
    return (2 * tight + 4 * lepveto).astype(np.uint8)


def jet_id_written(eta, chf, nhf, cemf, nemf, muf, n_const, learnt) -> np.ndarray:
    """``jetId`` from the written fields where they decide it (abs(eta) <= :data:`WRITTEN_ETA_MAX`), else the
    ``learnt`` one."""
    aeta = np.abs(np.asarray(eta, np.float64))
    chf = np.asarray(chf, np.float64)
    written = jet_id(aeta, chf, np.asarray(nhf), np.asarray(cemf), np.asarray(nemf), np.asarray(muf),
                     np.asarray(n_const), (chf > 0).astype(np.int64), np.zeros(len(aeta), np.int64), 0)
    return np.where(aeta <= WRITTEN_ETA_MAX, written, np.asarray(learnt)).astype(np.uint8)
