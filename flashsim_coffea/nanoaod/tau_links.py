"""Tau cross-links to the lepton collections and the anti-muon discriminator built on them.

Shared by the reference detector and the FlashSim engine, so that both derive
``Tau_eleIdx``, ``Tau_muIdx`` and ``Tau_idAntiMu`` from the final (pT-ordered)
collections the same way:

* :func:`signal_cone`: the HPS signal cone, ΔR < clip(3 GeV / pT, 0.05, 0.1)
  (CMSSW ``RecoTauTag/RecoTau`` HPS ``signalConeSize = max(min(0.1, 3.0/pt()), 0.05)``);
* :func:`lepton_index`: ``eleIdx`` / ``muIdx``. CMSSW (``PATObjectCrossLinker``,
  ``matchOneToMany`` by common source candidate) links a tau to the leptons whose PF
  candidate is one of its signal constituents; a lepton goes to the first tau (in Tau
  order) that contains it, and the field is the first such lepton in the lepton
  collection's order. Without PF candidates, "a signal constituent" is "inside the
  signal cone";
* :func:`anti_muon_id`: ``idAntiMu`` = number of passed ``againstMuon3`` working points
  (1 Loose, 2 Tight). CMSSW ``PFRecoTauDiscriminationAgainstMuon2Container`` with
  ``dRmuonMatch`` 0.3 and ``minPtMatchedMuon`` 5 GeV: Loose fails when a matched muon has
  segments in two or more stations, or, for decay mode 0, when the leading track is a muon
  (calorimeter-muon veto: here a muon in the signal cone); Tight also fails on muon hits in
  the outer stations (here: any matched muon with at least one station).

Example:
    Two taus of one event and a one-station muon 0.02 from the first (inside its 0.1 signal
    cone): the first tau (decay mode 0) links it and fails both anti-muon working points
    (calorimeter-muon veto); the second, 0.19 from the muon, fails only Tight:

    >>> import awkward as ak
    >>> mu = ak.Array([[{"pt": 20.0, "eta": 0.02, "phi": 0.0, "nStations": 1}]])
    >>> evt, pt = np.array([0, 0]), np.array([25.0, 22.0])
    >>> eta, phi = np.array([0.0, 0.2]), np.array([0.0, 0.05])
    >>> lepton_index(mu, evt, pt, eta, phi).tolist()
    [0, -1]
    >>> anti_muon_id(mu, evt, pt, eta, phi, np.array([0, 1])).tolist()
    [0, 1]
"""

from __future__ import annotations

import awkward as ak
import numba
import numpy as np

#: HPS signal cone: (numerator GeV, min, max) of clip(k / pT, min, max).
SIGNAL_CONE = (3.0, 0.05, 0.1)
#: againstMuon3: muon matching cone and muon pT threshold (GeV).
MUON_MATCH_DR = 0.3
MUON_MATCH_PT = 5.0


def signal_cone(pt: np.ndarray) -> np.ndarray:
    """HPS signal-cone radius clip(3 GeV / pT, 0.05, 0.1).

    Example:
        >>> signal_cone(np.array([20.0, 40.0, 100.0])).tolist()
        [0.1, 0.075, 0.05]
    """
    k, lo, hi = SIGNAL_CONE
    return np.clip(k / np.maximum(np.asarray(pt, np.float64), 1e-6), lo, hi)


def _flat(a) -> np.ndarray:
    return np.asarray(ak.to_numpy(ak.flatten(a)))


def _offsets(counts) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(np.asarray(counts, np.int64))]).astype(np.int64)


@numba.njit(cache=True)
def _first_in_cone(evt, eta, phi, r, off, leta, lphi):  # pragma: no cover - numba
    out = np.full(len(evt), -1, np.int64)
    claimed = np.zeros(len(leta), np.bool_)
    for i in range(len(evt)):
        e = evt[i]
        for k in range(off[e], off[e + 1]):
            if claimed[k]:
                continue
            dphi = (phi[i] - lphi[k] + np.pi) % (2 * np.pi) - np.pi
            if (eta[i] - leta[k]) ** 2 + dphi**2 < r[i] * r[i]:
                claimed[k] = True
                if out[i] < 0:
                    out[i] = k - off[e]
    return out


@numba.njit(cache=True)
def _anti_mu(evt, eta, phi, r, dm0, off, mpt, meta, mphi, nst, dr_match, pt_match):  # pragma: no cover - numba
    out = np.full(len(evt), 2, np.int64)
    for i in range(len(evt)):
        e = evt[i]
        loose_fail = False
        tight_fail = False
        for k in range(off[e], off[e + 1]):
            dphi = (phi[i] - mphi[k] + np.pi) % (2 * np.pi) - np.pi
            d2 = (eta[i] - meta[k]) ** 2 + dphi**2
            if dm0[i] and d2 < r[i] * r[i]:
                loose_fail = True
            if d2 < dr_match * dr_match and mpt[k] > pt_match:
                if nst[k] >= 2:
                    loose_fail = True
                if nst[k] >= 1:
                    tight_fail = True
        out[i] = (0 if loose_fail else 1) + (0 if (loose_fail or tight_fail) else 1)
    return out


def lepton_index(leptons: ak.Array | None, evt: np.ndarray, pt: np.ndarray, eta: np.ndarray,
                 phi: np.ndarray) -> np.ndarray:
    """``Tau_eleIdx`` / ``Tau_muIdx``: the first lepton inside the tau's signal cone, else -1.

    Arguments:
        leptons: the final jagged Electron or Muon collection (``eta``, ``phi``), or None.
        evt, pt, eta, phi: event index, pT, η and φ of each tau (flat, in Tau order: the taus
            of an event contiguous and pT-descending).

    Returns:
        int64 indices into the event's lepton collection; a lepton is linked to one tau only,
        the first that contains it. Example in the module docstring.
    """
    n = len(evt)
    if leptons is None or n == 0:
        return np.full(n, -1, np.int64)
    off = _offsets(ak.num(leptons))
    return _first_in_cone(np.asarray(evt, np.int64), np.asarray(eta, np.float64), np.asarray(phi, np.float64),
                          signal_cone(pt), off, _flat(leptons.eta).astype(np.float64),
                          _flat(leptons.phi).astype(np.float64))


def anti_muon_id(muons: ak.Array | None, evt: np.ndarray, pt: np.ndarray, eta: np.ndarray, phi: np.ndarray,
                 decay_mode: np.ndarray) -> np.ndarray:
    """``Tau_idAntiMu`` (0-2): againstMuon3 working points passed (see the module docstring).

    Arguments:
        muons: the final jagged Muon collection (``pt``, ``eta``, ``phi``, ``nStations``), or None.
        evt, pt, eta, phi, decay_mode: per tau (flat, in Tau order).

    Example:
        >>> import awkward as ak
        >>> mu = ak.Array([[{"pt": 20.0, "eta": 1.0, "phi": 0.0, "nStations": 3}], []])
        >>> anti_muon_id(mu, np.array([0, 0, 1]), np.full(3, 30.0), np.array([1.05, -1.0, 0.0]),
        ...              np.zeros(3), np.array([1, 1, 0])).tolist()
        [0, 2, 2]
    """
    n = len(evt)
    if muons is None or n == 0:
        return np.full(n, 2, np.int64)
    off = _offsets(ak.num(muons))
    return _anti_mu(np.asarray(evt, np.int64), np.asarray(eta, np.float64), np.asarray(phi, np.float64),
                    signal_cone(pt), np.asarray(decay_mode) == 0, off, _flat(muons.pt).astype(np.float64),
                    _flat(muons.eta).astype(np.float64), _flat(muons.phi).astype(np.float64),
                    _flat(muons.nStations).astype(np.int64), MUON_MATCH_DR, MUON_MATCH_PT)
