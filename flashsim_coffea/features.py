"""Conditioning features: gen attributes of a candidate plus its event context.

A spec names its conditioning as a list of feature names; :func:`compute` evaluates
them for one candidate collection of a chunk and returns a dict of jagged arrays
(one value per candidate). Every feature is computed from gen-level NanoAOD only,
with awkward operations over the whole chunk (no Python loop over events).

Feature names:

* a field of the candidate collection: ``pt``, ``eta``, ``phi``, ``mass``, ...;
* ``log_pt``: log of the candidate pT; ``abs_eta``: its |η| (detector acceptances are
  steps in |η|, which an efficiency MLP learns far more sharply as one edge than as two);
* ``charge``: -sign(pdgId) for leptons (1 for positive), or the ``charge`` field;
* ``flag:<bit name>``: a ``statusFlags`` bit (see :data:`STATUS_BITS`);
* ``is_b``, ``is_c``: hadronFlavour one-hot; ``parton_b``, ``parton_c``, ``parton_g``: |partonFlavour| one-hot;
* ``genjet_dr``, ``genjet_ptrel``: ΔR to the nearest GenJet (pT > 10) and its pT over the candidate's;
* ``mu_dr``, ``mu_ptrel``, ``ele_dr``, ``ele_ptrel``: the same for the nearest final-state gen
  muon / electron (pT > 3), the candidate itself excluded (a gen-lepton candidate sees its
  nearest *other* lepton). Muons and electrons apart: a jet that is a prompt muon and one
  that is a prompt electron give different reco jets (muEF vs chEmEF), and an FSR photon
  near an electron is often merged into its supercluster;
* ``nu_dr``, ``nu_ptrel``: the same for the nearest gen neutrino (semileptonic heavy-flavour decays);
* ``other_dr``, ``other_ptrel``: the nearest *other* object of the same collection;
* event context (:func:`event_context`), broadcast to every candidate: ``nTrueInt``, ``HT``
  (scalar sum of GenJet pT > 30), ``nGenJet`` (GenJet pT > 30), ``GenMET_pt``, the GenJet
  pT tensor ``jet_txx``, ``jet_txy``, ``jet_tyy``, ``jet_tpar``, ``jet_tperp``, forward muons
  ``fwdmu_par``, ``fwdmu_perp``.

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
def _nearest_kernel(a_off, a_eta, a_phi, a_id, b_off, b_eta, b_phi, b_pt, b_id, exclude_self, no_dr):  # pragma: no cover
    n = len(a_eta)
    dr_out = np.full(n, no_dr)
    pt_out = np.zeros(n)
    for e in range(len(a_off) - 1):
        for i in range(a_off[e], a_off[e + 1]):
            best = no_dr * no_dr
            for k in range(b_off[e], b_off[e + 1]):
                if exclude_self and k - b_off[e] == i - a_off[e]:
                    continue
                if a_id[i] >= 0 and a_id[i] == b_id[k]:
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


def _ids(x, ids) -> np.ndarray:
    if ids is None:
        return np.full(int(ak.sum(ak.num(x.pt, axis=1))), -1, np.int64)
    return np.asarray(ak.to_numpy(ak.flatten(ids, axis=None)), np.int64)


def nearest(obj: ak.Array, others: ak.Array, exclude_self: bool = False, obj_ids: ak.Array | None = None,
            other_ids: ak.Array | None = None) -> tuple[ak.Array, ak.Array]:
    """ΔR from each object to the nearest of ``others`` in the same event, and that neighbour's pT.

    Objects with no neighbour within ``NO_NEIGHBOUR_DR`` get ``NO_NEIGHBOUR_DR`` and pT 0.
    ``exclude_self`` drops the pair of an object with itself (``others`` is then ``obj``);
    ``obj_ids``/``other_ids`` (jagged integers, e.g. GenPart indices) drop the pairs whose
    ids are equal and non-negative. One compiled pass over the chunk (numba).

    Example:
        >>> dr, pt = nearest(muons, muons, obj_ids=muons.idx, other_ids=muons.idx)  # doctest: +SKIP
    """
    counts = ak.num(obj, axis=1)
    dr, pt = _nearest_kernel(
        _offsets(obj), _flat64(obj.eta), _flat64(obj.phi), _ids(obj, obj_ids),
        _offsets(others), _flat64(others.eta), _flat64(others.phi), _flat64(others.pt), _ids(others, other_ids),
        exclude_self, NO_NEIGHBOUR_DR,
    )
    return ak.unflatten(dr, counts), ak.unflatten(pt, counts)


def _genjets(gen):
    j = gen.GenJet
    return j[j.pt > 10]


def _final_state(gen, pdg: int, ptmin: float):
    g = gen.GenPart
    g = ak.with_field(g, ak.local_index(g.pt, axis=1), "idx")
    return g[(abs(g.pdgId) == pdg) & (g.status == 1) & (g.pt > ptmin)]


def _muons(gen):
    return _final_state(gen, 13, 3.0)


def _electrons(gen):
    return _final_state(gen, 11, 3.0)


def _neutrinos(gen):
    g = gen.GenPart
    a = abs(g.pdgId)
    return g[((a == 12) | (a == 14) | (a == 16)) & (g.status == 1)]


#: GenJet pT threshold of the jet pT tensor (the reference detector's Type-1 / covariance jets).
TENSOR_JET_PT = 15.0
#: |η| beyond which a muon is not reconstructed (CMS muon system): its pT goes into MET
#: but not into GenMET (neutrinos only).
MUON_ACCEPTANCE_ETA = 2.4


def _signed_sqrt(x):
    return np.sign(x) * np.sqrt(np.abs(x))


def event_context(gen: ak.Array) -> dict[str, ak.Array]:
    """Per-event context (float64, one value per event).

    ``nTrueInt``; ``HT`` and ``nGenJet`` (GenJet pT > 30); ``GenMET_pt``; the GenJet
    (pT > 15) transverse-momentum tensor Σ pT² (cos²φ, cosφ sinφ, sin²φ) as signed square
    roots ``jet_txx``, ``jet_txy``, ``jet_tyy`` (GeV), and its components along and across
    GenMET ``jet_tpar``, ``jet_tperp``: the jet part of the MET covariance (arXiv:1903.06078)
    and of the resolution of MET along and across the true MET; ``fwdmu_par``,
    ``fwdmu_perp``: the vector pT sum of final-state muons beyond the muon acceptance
    (|η| > :data:`MUON_ACCEPTANCE_ETA`) along and across GenMET: MET that is not in GenMET
    (in Z→μμ events 20% have one, and they make most of the reco-MET tail).
    """
    j = gen.GenJet
    hard = j.pt > 30
    t = j[j.pt > TENSOR_JET_PT]
    pt2 = t.pt * t.pt
    c, s = np.cos(t.phi), np.sin(t.phi)
    dphi = t.phi - gen.GenMET.phi
    tensor = {
        "jet_txx": ak.sum(pt2 * c * c, axis=1),
        "jet_txy": ak.sum(pt2 * c * s, axis=1),
        "jet_tyy": ak.sum(pt2 * s * s, axis=1),
        "jet_tpar": ak.sum(pt2 * np.cos(dphi) ** 2, axis=1),
        "jet_tperp": ak.sum(pt2 * np.sin(dphi) ** 2, axis=1),
    }
    mu = _final_state(gen, 13, 0.0)
    fwd = mu[abs(mu.eta) > MUON_ACCEPTANCE_ETA]
    mphi = fwd.phi - gen.GenMET.phi
    muons = {
        "fwdmu_par": ak.sum(fwd.pt * np.cos(mphi), axis=1),
        "fwdmu_perp": ak.sum(fwd.pt * np.sin(mphi), axis=1),
    }
    return {
        "nTrueInt": ak.values_astype(gen.Pileup.nTrueInt, np.float64),
        "HT": ak.sum(ak.where(hard, j.pt, 0.0), axis=1),
        "nGenJet": ak.values_astype(ak.sum(hard, axis=1), np.float64),
        "GenMET_pt": ak.values_astype(gen.GenMET.pt, np.float64),
        **{k: ak.values_astype(_signed_sqrt(v), np.float64) for k, v in tensor.items()},
        **{k: ak.values_astype(v, np.float64) for k, v in muons.items()},
    }


#: names of the per-event features (:func:`event_context`).
EVENT_FEATURES = ("nTrueInt", "HT", "nGenJet", "GenMET_pt", "jet_txx", "jet_txy", "jet_tyy", "jet_tpar", "jet_tperp",
                  "fwdmu_par", "fwdmu_perp")


_NEIGHBOURS: dict[str, Callable] = {"genjet": _genjets, "mu": _muons, "ele": _electrons, "nu": _neutrinos}


def _genpart_ids(cand: ak.Array) -> ak.Array | None:
    """GenPart indices of GenPart candidates (they have ``pdgId`` and ``idx``), else ``None``."""
    return cand.idx if "pdgId" in cand.fields and "idx" in cand.fields else None


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
        if name in EVENT_FEATURES:
            if "context" not in shared:
                shared["context"] = event_context(gen)
            counts = ak.num(cand.pt, axis=1)
            value = ak.unflatten(np.repeat(ak.to_numpy(shared["context"][name]), ak.to_numpy(counts)), counts)
        elif name == "log_pt":
            value = np.log(cand.pt)
        elif name == "abs_eta":
            value = abs(cand.eta)
        elif name == "charge":
            value = _charge(cand)
        elif name.startswith("flag:"):
            bit = STATUS_BITS[name[5:]]
            value = (cand.statusFlags >> bit) & 1
        elif name in _ONE_HOT:
            field, values = _ONE_HOT[name]
            value = abs(cand[field]) == values[0]
        elif name.endswith(("_dr", "_ptrel")) and (kind := name.rsplit("_", 1)[0]) in (*_NEIGHBOURS, "other"):
            if kind not in cache:
                if kind == "other":
                    cache[kind] = nearest(cand, cand, exclude_self=True)
                else:
                    if kind not in shared:
                        shared[kind] = _NEIGHBOURS[kind](gen)
                    nb = shared[kind]
                    cache[kind] = nearest(cand, nb, obj_ids=_genpart_ids(cand),
                                          other_ids=nb.idx if "idx" in nb.fields else None)
            dr, pt = cache[kind]
            value = dr if name.endswith("_dr") else pt / cand.pt
        elif name in cand.fields:
            value = cand[name]
        else:
            raise KeyError(f"unknown conditioning feature {name!r}")
        out[name] = ak.values_astype(value, np.float64)
    return out
