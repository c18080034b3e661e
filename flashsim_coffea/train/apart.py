"""Inverse-probability weights of the training objects that lie apart from gen candidates by construction.

Every training pileup jet lies apart from the GenJets (ΔR > 0.8) and from the b hadrons outside them
(ΔR > 0.4): the jets there are split and bhadron jets (:mod:`flashsim_coffea.train.extract`). A flow trained
on them learns that exclusion averaged over the training events, and the engine's redraw of the flash jets
near a candidate of the simulated event (:attr:`~flashsim_coffea.specs.source.Source.apart_from`) applies it
a second time: too few pileup jets where the GenJets are dense (zh_llbb 10k events, |η| < 1.3: shipped flash
4434 jets without a GenJet, FullSim 4969; |η| 3-5: 20401 against 19117).

Weighted by ``1 / a``, ``a`` the fraction of the azimuth at the object's η that lies apart from every
candidate of its event, the training objects have the density before the exclusion (for a density flat in φ
given the conditioning, as the flows' is: the events' conditioning does not hold the candidates' positions);
the engine's redraw then applies the exclusion once, in each simulated event. This is inverse probability
weighting (Horvitz & Thompson, J. Am. Stat. Assoc. 47 (1952) 663) of a selection known per event.

Example:
    A jet at η = 0 beside a GenJet at (0, 0) with ΔR 0.8: 0.8 / π of the circle is excluded.

    >>> a = away_fraction(np.array([0, 1]), np.array([0.0]), [(np.array([0, 1]), np.array([0.0]),
    ...                   np.array([0.0]), 0.8)])
    >>> round(float(a[0]), 2), round(1 - 0.8 / np.pi, 2)
    (0.75, 0.75)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flashsim_coffea.train.matching import pair_indices

#: azimuth points per object at which :func:`away_fraction` tests the exclusion (5 degrees apart).
GRID = 72

#: the smallest fraction a weight divides by: at most 5x (an object in a crowded event, whose region
#: the few others like it stand for, should not take over a training batch).
MIN_FRACTION = 0.2


def away_fraction(off: np.ndarray, eta: np.ndarray,
                  candidates: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, float]],
                  grid: int = GRID) -> np.ndarray:
    """Per object (flat, grouped by event by ``off``), the fraction of the azimuth at its ``eta`` farther
    than ``dr`` from every candidate of its event, for each ``(offsets, eta, phi, dr)`` of ``candidates``.

    Example:
        >>> away_fraction(np.array([0, 2]), np.array([0.0, 2.0]), [(np.array([0, 1]), np.array([0.0]),
        ...               np.array([1.0]), 0.4)]).round(3).tolist()  # exactly 1 - 0.8 / 2π = 0.873; 2 away in η
        [0.875, 1.0]
    """
    eta = np.asarray(eta, np.float64)
    phi_grid = -np.pi + (np.arange(grid) + 0.5) * (2 * np.pi / grid)
    blocked = np.zeros((len(eta), grid), bool)
    n_a = np.diff(np.asarray(off, np.int64))
    for c_off, c_eta, c_phi, dr in candidates:
        ia, ib = pair_indices(n_a, np.diff(np.asarray(c_off, np.int64)))
        d_eta = np.abs(eta[ia] - np.asarray(c_eta, np.float64)[ib])
        keep = d_eta < dr
        ia, ib, half = ia[keep], ib[keep], np.sqrt(dr**2 - d_eta[keep] ** 2)
        d_phi = np.abs((phi_grid[None, :] - np.asarray(c_phi, np.float64)[ib, None] + np.pi) % (2 * np.pi) - np.pi)
        np.logical_or.at(blocked, ia, d_phi < half[:, None])
    return 1.0 - blocked.mean(axis=1)


def apart_weights(off: np.ndarray, eta: np.ndarray,
                  candidates: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, float]]) -> np.ndarray:
    """``1 / max(a, MIN_FRACTION)`` of :func:`away_fraction` ``a``: the objects' training weights.

    Example:
        >>> apart_weights(np.array([0, 1]), np.array([0.0]), [(np.array([0, 1]), np.array([0.0]),
        ...               np.array([0.0]), 0.8)]).round(3).tolist()
        [1.333]
    """
    return 1.0 / np.maximum(away_fraction(off, eta, candidates), MIN_FRACTION)
