"""Conditioning features: gen attributes of a candidate plus its event context.

A spec names its conditioning as a list of feature names; :func:`compute` evaluates
them for one candidate collection of a chunk and returns a dict of jagged arrays
(one value per candidate). Every feature is computed from gen-level NanoAOD only,
with awkward operations over the whole chunk (no Python loop over events).

Feature names:

* a field of the candidate collection: ``pt``, ``eta``, ``phi``, ``mass``, ...;
* ``log_pt``: log of the candidate pT;
* ``charge``: -sign(pdgId) for leptons (1 for positive), or the ``charge`` field;
* ``flag:<bit name>``: a ``statusFlags`` bit (see :data:`STATUS_BITS`);
* ``is_b``, ``is_c``: hadronFlavour one-hot; ``parton_b``, ``parton_c``, ``parton_g``: |partonFlavour| one-hot;
* ``genjet_dr``, ``genjet_ptrel``: ΔR to the nearest GenJet (pT > 10) and its pT over the candidate's;
* ``lep_dr``, ``lep_ptrel``: the same for the nearest final-state gen electron or muon (pT > 3);
* ``nu_dr``, ``nu_ptrel``: the same for the nearest gen neutrino (semileptonic heavy-flavour decays);
* ``other_dr``, ``other_ptrel``: the nearest *other* object of the same collection;
* event context, broadcast to every candidate: ``nTrueInt``, ``HT`` (scalar sum of GenJet
  pT > 30), ``nGenJet`` (GenJet pT > 30), ``GenMET_pt``.

Example:
    >>> feats = compute(gen, gen.GenJet, ["log_pt", "eta", "is_b", "nu_dr", "nTrueInt"])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable

import awkward as ak
import numba
import numpy as np

#: NanoAOD GenPart statusFlags bit numbers.
STATUS_BITS = {
    "isPrompt": 0,
    "isDecayedLeptonHadron": 1,
    "isTauDecayProduct": 2,
    "isPromptTauDecayProduct": 3,
    "isDirectTauDecayProduct": 4,
    "isDirectPromptTauDecayProduct": 5,
    "isDirectHadronDecayProduct": 6,
    "isHardProcess": 7,
    "fromHardProcess": 8,
    "isHardProcessTauDecayProduct": 9,
    "isDirectHardProcessTauDecayProduct": 10,
    "fromHardProcessBeforeFSR": 11,
    "isFirstCopy": 12,
    "isLastCopy": 13,
    "isLastCopyBeforeFSR": 14,
}

#: ΔR given when there is no neighbour (larger than any real ΔR in the detector).
NO_NEIGHBOUR_DR = 8.0


def delta_phi(a, b):
    """φ(a) − φ(b) wrapped to [−π, π)."""
    return (a - b + np.pi) % (2 * np.pi) - np.pi


@numba.njit(cache=True)
def _nearest_kernel(a_off, a_eta, a_phi, b_off, b_eta, b_phi, b_pt, exclude_self, no_dr):  # pragma: no cover
    n = len(a_eta)
    dr_out = np.full(n, no_dr)
    pt_out = np.zeros(n)
    for e in range(len(a_off) - 1):
        for i in range(a_off[e], a_off[e + 1]):
            best = no_dr * no_dr
            for k in range(b_off[e], b_off[e + 1]):
                if exclude_self and k - b_off[e] == i - a_off[e]:
                    continue
                dphi = (a_phi[i] - b_phi[k] + np.pi) % (2 * np.pi) - np.pi
                d2 = (a_eta[i] - b_eta[k]) ** 2 + dphi * dphi
                if d2 < best:
                    best = d2
                    dr_out[i] = np.sqrt(d2)
                    pt_out[i] = b_pt[k]
    return dr_out, pt_out


def _flat64(x) -> np.ndarray:
    return np.asarray(ak.to_numpy(ak.flatten(x, axis=None)), np.float64)


def _offsets(x) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(ak.to_numpy(ak.num(x, axis=1)))]).astype(np.int64)


def nearest(obj: ak.Array, others: ak.Array, exclude_self: bool = False) -> tuple[ak.Array, ak.Array]:
    """ΔR from each object to the nearest of ``others`` in the same event, and that neighbour's pT.

    Objects with no neighbour within ``NO_NEIGHBOUR_DR`` get ``NO_NEIGHBOUR_DR`` and pT 0.
    ``exclude_self`` drops the pair of an object with itself (``others`` is then ``obj``).
    One compiled pass over the chunk (numba).
    """
    counts = ak.num(obj, axis=1)
    dr, pt = _nearest_kernel(
        _offsets(obj), _flat64(obj.eta), _flat64(obj.phi),
        _offsets(others), _flat64(others.eta), _flat64(others.phi), _flat64(others.pt),
        exclude_self, NO_NEIGHBOUR_DR,
    )
    return ak.unflatten(dr, counts), ak.unflatten(pt, counts)


def _genjets(gen):
    j = gen.GenJet
    return j[j.pt > 10]


def _leptons(gen):
    g = gen.GenPart
    a = abs(g.pdgId)
    return g[((a == 11) | (a == 13)) & (g.status == 1) & (g.pt > 3)]


def _neutrinos(gen):
    g = gen.GenPart
    a = abs(g.pdgId)
    return g[((a == 12) | (a == 14) | (a == 16)) & (g.status == 1)]


def event_context(gen: ak.Array) -> dict[str, ak.Array]:
    """Per-event context: ``nTrueInt``, ``HT``, ``nGenJet`` (GenJet pT > 30) and ``GenMET_pt``."""
    j = gen.GenJet
    hard = j.pt > 30
    return {
        "nTrueInt": ak.values_astype(gen.Pileup.nTrueInt, np.float64),
        "HT": ak.sum(ak.where(hard, j.pt, 0.0), axis=1),
        "nGenJet": ak.values_astype(ak.sum(hard, axis=1), np.float64),
        "GenMET_pt": ak.values_astype(gen.GenMET.pt, np.float64),
    }


_NEIGHBOURS: dict[str, Callable] = {"genjet": _genjets, "lep": _leptons, "nu": _neutrinos}


def _charge(cand):
    if "charge" in cand.fields:
        return ak.values_astype(cand.charge, np.float64)
    return ak.values_astype(-np.sign(cand.pdgId), np.float64)


_ONE_HOT = {
    "is_b": ("hadronFlavour", (5,)),
    "is_c": ("hadronFlavour", (4,)),
    "parton_b": ("partonFlavour", (5,)),
    "parton_c": ("partonFlavour", (4,)),
    "parton_g": ("partonFlavour", (21,)),
}


def compute(gen: ak.Array, cand: ak.Array, names: list[str], shared: dict | None = None) -> dict[str, ak.Array]:
    """Evaluate the feature ``names`` for candidates ``cand`` of chunk ``gen`` (float64, jagged like ``cand``).

    ``shared``: a dict kept by the caller across calls on the same chunk, caching the
    event context and the neighbour collections.
    """
    out: dict[str, ak.Array] = {}
    shared = {} if shared is None else shared
    cache: dict[str, tuple[ak.Array, ak.Array]] = {}
    for name in names:
        if name in ("nTrueInt", "HT", "nGenJet", "GenMET_pt"):
            if "context" not in shared:
                shared["context"] = event_context(gen)
            counts = ak.num(cand.pt, axis=1)
            value = ak.unflatten(np.repeat(ak.to_numpy(shared["context"][name]), ak.to_numpy(counts)), counts)
        elif name == "log_pt":
            value = np.log(cand.pt)
        elif name == "charge":
            value = _charge(cand)
        elif name.startswith("flag:"):
            bit = STATUS_BITS[name[5:]]
            value = (cand.statusFlags >> bit) & 1
        elif name in _ONE_HOT:
            field, values = _ONE_HOT[name]
            value = abs(cand[field]) == values[0]
        elif name.endswith(("_dr", "_ptrel")):
            kind = name.rsplit("_", 1)[0]
            if kind not in cache:
                if kind == "other":
                    cache[kind] = nearest(cand, cand, exclude_self=True)
                else:
                    if kind not in shared:
                        shared[kind] = _NEIGHBOURS[kind](gen)
                    cache[kind] = nearest(cand, shared[kind])
            dr, pt = cache[kind]
            value = dr if name.endswith("_dr") else pt / cand.pt
        elif name in cand.fields:
            value = cand[name]
        else:
            raise KeyError(f"unknown conditioning feature {name!r}")
        out[name] = ak.values_astype(value, np.float64)
    return out
