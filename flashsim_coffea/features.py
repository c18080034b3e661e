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


def nearest(obj: ak.Array, others: ak.Array, exclude_self: bool = False) -> tuple[ak.Array, ak.Array]:
    """ΔR from each object to the nearest of ``others`` in the same event, and that neighbour's pT.

    Objects with no neighbour get ``NO_NEIGHBOUR_DR`` and pT 0. ``exclude_self`` drops
    the pair of an object with itself (``others`` is then ``obj``).
    """
    pairs = ak.cartesian({"a": obj[["pt", "eta", "phi"]], "b": others[["pt", "eta", "phi"]]}, axis=1, nested=True)
    dr = np.hypot(pairs.a.eta - pairs.b.eta, delta_phi(pairs.a.phi, pairs.b.phi))
    if exclude_self:
        i = ak.local_index(obj.pt, axis=1)
        j = ak.local_index(others.pt, axis=1)
        same = ak.cartesian({"i": i, "j": j}, axis=1, nested=True)
        dr = ak.where(same.i == same.j, np.inf, dr)
    best = ak.argmin(dr, axis=2, keepdims=True)
    best_dr = ak.fill_none(ak.firsts(dr[best], axis=2), np.inf)
    best_pt = ak.fill_none(ak.firsts(pairs.b.pt[best], axis=2), 0.0)
    found = best_dr < NO_NEIGHBOUR_DR
    return ak.where(found, best_dr, NO_NEIGHBOUR_DR), ak.where(found, best_pt, 0.0)


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


def _neighbour(kind: str) -> Callable:
    def pick(gen, cand):
        if kind == "genjet":
            return nearest(cand, _genjets(gen))
        if kind == "lep":
            return nearest(cand, _leptons(gen))
        if kind == "nu":
            return nearest(cand, _neutrinos(gen))
        return nearest(cand, cand, exclude_self=True)

    return pick


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


def compute(gen: ak.Array, cand: ak.Array, names: list[str]) -> dict[str, ak.Array]:
    """Evaluate the feature ``names`` for candidates ``cand`` of chunk ``gen`` (float64, jagged like ``cand``)."""
    out: dict[str, ak.Array] = {}
    context = None
    cache: dict[str, tuple[ak.Array, ak.Array]] = {}
    for name in names:
        if name in ("nTrueInt", "HT", "nGenJet", "GenMET_pt"):
            context = context or event_context(gen)
            value = ak.broadcast_arrays(context[name], cand.pt)[0]
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
                cache[kind] = _neighbour(kind)(gen, cand)
            dr, pt = cache[kind]
            value = dr if name.endswith("_dr") else pt / cand.pt
        elif name in cand.fields:
            value = cand[name]
        else:
            raise KeyError(f"unknown conditioning feature {name!r}")
        out[name] = ak.values_astype(value, np.float64)
    return out
