"""Truth content of reco jets from the generator record, shared by the reference detector and FlashSim.

The reference fat jets (:mod:`flashsim_coffea.reference.fatjets`) draw their tagger scores and flavour
fields from it; FlashSim derives the same fields of its fat jets with the same functions (``sim/derive.py``):

* :func:`absorb`: the jet that takes each particle (the nearest within R in the anti-kT metric ΔR²/pT²:
  ghost association approximated, Cacciari, Salam, Soyez, arXiv:0802.1188), for B/C hadron counts;
* :func:`jet_truth`: the W/Z/H/top whose decay products all fall inside a jet (CMS JME-18-002,
  arXiv:2004.08262, merged-jet definition), categories :data:`CATEGORIES`;
* :func:`lepton_in_jet`: the hardest lepton within R of a jet (``muonIdx3SJ``, ``electronIdx3SJ``, ``lsf3``;
  CMSSW LeptonInJetProducer).

Example:
    Two jets of one event; a hadron at ΔR 0.3 of the soft jet and 0.5 of the hard one goes to the hard one
    (anti-kT metric); the second hadron is outside both:

    >>> absorb(np.array([0, 2]), np.array([0.0, 0.8]), np.array([0.0, 0.0]), np.array([500.0, 200.0]),
    ...        np.array([0, 0]), np.array([0.5, 3.0]), np.array([0.0, 0.0]), 0.8, True).tolist()
    [0, -1]
"""

from __future__ import annotations

import awkward as ak
import numba
import numpy as np

from flashsim_coffea.nanoaod.derived import offsets as _offsets


@numba.njit(cache=True)
def delta_r(y1, f1, y2, f2):  # pragma: no cover - numba
    """ΔR of two directions (rapidity or η, φ)."""
    dp = abs(f1 - f2)
    if dp > np.pi:
        dp = 2 * np.pi - dp
    return np.sqrt((y1 - y2) ** 2 + dp * dp)


def _flat(a: ak.Array, field: str, dtype=np.float64) -> np.ndarray:
    return ak.to_numpy(ak.flatten(a[field])).astype(dtype)


@numba.njit(cache=True)
def absorb(jet_off, jeta, jphi, jpt, cevt, ceta, cphi, radius, antikt):  # pragma: no cover - numba
    """Index of the jet (global) that takes each candidate: within ``radius``, smallest
    dR^2/pT^2 (anti-kT) or dR (``antikt`` False); -1 if none."""
    out = np.full(len(cevt), -1, np.int64)
    r2 = radius * radius
    for k in range(len(cevt)):
        ev = cevt[k]
        best = 1e300
        for j in range(jet_off[ev], jet_off[ev + 1]):
            de = ceta[k] - jeta[j]
            dp = abs(cphi[k] - jphi[j])
            if dp > np.pi:
                dp = 2 * np.pi - dp
            d2 = de * de + dp * dp
            if d2 < r2:
                m = d2 / (jpt[j] * jpt[j]) if antikt else d2
                if m < best:
                    best = m
                    out[k] = j
    return out



#: jet truth categories (``jet_truth``): the resonance whose decay products are all inside the jet
CATEGORIES = ("QCD", "T", "W", "Z", "Hbb", "Hcc", "H4q", "Hqq", "Xtt", "Xte", "Xtm")


def jet_truth(genpart: ak.Array, particles: ak.Array, evt: np.ndarray, eta: np.ndarray, phi: np.ndarray,
              radius: float = 0.8) -> dict:
    """The resonance content of each jet from the generator record.

    A W, Z, H or top is *inside* a jet when all its decay quarks (top: the b and the W's quarks; H -> WW/ZZ:
    the four quarks; ditau: the two taus) lie within ``radius`` of the jet axis. Priority: top, H, Z, W.
    A ditau is ``Xte`` / ``Xtm`` when a tau-decay electron / muon (pT > 1 GeV) is inside, else ``Xtt``.

    Arguments:
        genpart: NanoAOD ``GenPart`` (jagged); particles: the truth final-state particles (jagged).
        evt, eta, phi: per jet (flat) its event and axis.

    Returns:
        ``category`` (index into :data:`CATEGORIES`), ``flavour`` of a W/Z pair (5 bb, 4 with a c, 0 light)
        and ``res_mass`` (the resonance's mass, NaN for QCD).

    Example:
        One event: a Z -> b bbar (both b inside the first jet) and a W -> u dbar whose d is outside the second:

        >>> gp = ak.Array([[{"pdgId": 23, "genPartIdxMother": -1, "eta": 0.0, "phi": 0.0, "mass": 91.0},
        ...                 {"pdgId": 5, "genPartIdxMother": 0, "eta": 0.2, "phi": 0.1, "mass": 0.0},
        ...                 {"pdgId": -5, "genPartIdxMother": 0, "eta": -0.2, "phi": -0.1, "mass": 0.0},
        ...                 {"pdgId": 24, "genPartIdxMother": -1, "eta": 1.0, "phi": 2.0, "mass": 80.0},
        ...                 {"pdgId": 2, "genPartIdxMother": 3, "eta": 1.2, "phi": 2.0, "mass": 0.0},
        ...                 {"pdgId": -1, "genPartIdxMother": 3, "eta": 0.1, "phi": 2.9, "mass": 0.0}]])
        >>> parts = ak.Array([[{"pdgId": 211, "pt": 5.0, "eta": 0.0, "phi": 0.0, "tauIdx": -1}]])
        >>> t = jet_truth(gp, parts, np.array([0, 0]), np.array([0.0, 1.1]), np.array([0.0, 2.0]))
        >>> [CATEGORIES[c] for c in t["category"]], t["flavour"].tolist(), t["res_mass"].tolist()
        (['Z', 'QCD'], [5, 0], [91.0, nan])
    """
    nj = len(evt)
    cat = np.zeros(nj, np.int64)
    flav = np.zeros(nj, np.int64)
    res_mass = np.full(nj, np.nan)
    if nj == 0:
        return {"category": cat, "flavour": flav, "res_mass": res_mass}
    goff = _offsets(ak.num(genpart))
    pdg = _flat(genpart, "pdgId", np.int64)
    mom_local = _flat(genpart, "genPartIdxMother", np.int64)
    gevt = np.repeat(np.arange(len(goff) - 1), np.diff(goff))
    mom = np.where(mom_local >= 0, goff[gevt] + mom_local, -1)
    apdg = np.abs(pdg)
    gmass = _flat(genpart, "mass")
    geta, gphi = _flat(genpart, "eta"), _flat(genpart, "phi")
    # tau-decay leptons, for the ditau categories
    pa = np.abs(_flat(particles, "pdgId", np.int64))
    pt_p = _flat(particles, "pt")
    tl = (_flat(particles, "tauIdx", np.int64) >= 0) & ((pa == 11) | (pa == 13)) & (pt_p > 1.0)
    pevt = np.repeat(np.arange(len(particles)), np.asarray(ak.num(particles)))
    tl_evt, tl_pdg = pevt[tl], pa[tl]
    tl_eta, tl_phi = _flat(particles, "eta")[tl], _flat(particles, "phi")[tl]
    cat, flav, res_mass = _jet_truth_kernel(goff, apdg, mom, gmass, geta, gphi, evt.astype(np.int64),
                                            np.asarray(eta, np.float64), np.asarray(phi, np.float64),
                                            _offsets(np.bincount(tl_evt, minlength=len(goff) - 1)), tl_pdg,
                                            tl_eta, tl_phi, radius)
    return {"category": cat, "flavour": flav, "res_mass": res_mass}


@numba.njit(cache=True)
def _origin(i, apdg, mom):  # pragma: no cover - numba
    """The first non-copy ancestor of the copy chain of particle ``i`` (-1 if none)."""
    q = i
    while mom[q] >= 0 and apdg[mom[q]] == apdg[i]:
        q = mom[q]
    return mom[q]


@numba.njit(cache=True)
def _jet_truth_kernel(goff, apdg, mom, gmass, geta, gphi, jevt, jeta, jphi, toff, tpdg, teta, tphi, r):
    # pragma: no cover - numba
    nj = len(jevt)
    cat = np.zeros(nj, np.int64)
    flav = np.zeros(nj, np.int64)
    rmass = np.full(nj, np.nan)
    prio = np.array([0, 6, 2, 3, 5, 5, 5, 5, 4, 4, 4])  # priority of each category (top first)
    for j in range(nj):
        ev = jevt[j]
        for res in range(goff[ev], goff[ev + 1]):
            a = apdg[res]
            if a != 6 and a != 23 and a != 24 and a != 25:
                continue
            # res must be a last copy: no daughter of the same id
            last = True
            for q in range(goff[ev], goff[ev + 1]):
                if mom[q] == res and apdg[q] == a:
                    last = False
                    break
            if not last:
                continue
            n_q, n_b, n_c, n_tau, n_in, n_other = 0, 0, 0, 0, 0, 0
            for q in range(goff[ev], goff[ev + 1]):
                aq = apdg[q]
                direct = mom[q] == res and aq != a
                via = False
                if not direct and (aq <= 5 or aq == 15) and mom[q] >= 0:
                    m = mom[q]
                    am = apdg[m]
                    if (am == 24 or am == 23) and aq != am:
                        o = _origin(m, apdg, mom)
                        via = o == res
                if not (direct or via):
                    continue
                if aq == 24 or aq == 23:
                    continue  # the W of a top / the bosons of H -> WW, ZZ: their quarks count (via)
                if aq <= 5 or aq == 21:
                    n_q += 1
                    n_b += aq == 5
                    n_c += aq == 4
                elif aq == 15:
                    n_tau += 1
                else:
                    n_other += 1
                    continue
                if delta_r(geta[q], gphi[q], jeta[j], jphi[j]) < r:
                    n_in += 1
            n_dec = n_q + n_tau
            if n_dec == 0 or n_in < n_dec or n_other > 0 and a != 25:
                continue
            c = 0
            if a == 6 and n_q == 3:
                c = 1
            elif a == 24 and n_q == 2:
                c = 2
            elif a == 23 and n_q == 2:
                c = 3
            elif a == 25 and n_q == 2 and n_b == 2:
                c = 4
            elif a == 25 and n_q == 2 and n_c == 2:
                c = 5
            elif a == 25 and n_q == 4:
                c = 6
            elif a == 25 and n_q == 2:
                c = 7
            elif (a == 25 or a == 23) and n_tau == 2:
                c = 8
                for t in range(toff[ev], toff[ev + 1]):
                    if delta_r(teta[t], tphi[t], jeta[j], jphi[j]) < r:
                        c = 9 if tpdg[t] == 11 else 10
            if c > 0 and prio[c] > prio[cat[j]]:
                cat[j] = c
                flav[j] = 5 if n_b >= 2 else (4 if n_c >= 1 else 0)
                rmass[j] = gmass[res]
    return cat, flav, rmass


@numba.njit(cache=True)
def lepton_in_jet(jevt, jeta, jphi, loff, lpt, leta, lphi, r):  # pragma: no cover - numba
    """Per jet, the event-local index of the hardest lepton within ``r`` (-1 none)."""
    out = np.full(len(jevt), -1, np.int64)
    for j in range(len(jevt)):
        best = -1.0
        ev = jevt[j]
        for i in range(loff[ev], loff[ev + 1]):
            if delta_r(leta[i], lphi[i], jeta[j], jphi[j]) < r and lpt[i] > best:
                best = lpt[i]
                out[j] = i - loff[ev]
    return out
