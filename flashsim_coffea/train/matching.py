"""Reco <-> gen matching for training-data extraction.

:func:`match` finds, for each gen candidate, the reco object made from it: by the
reco object's link field (``genPartIdx``, ``genJetIdx``) when the file has it, else
by ΔR. By link: when several reco objects claim one candidate, the highest-pT one (the
first: NanoAOD collections are pT-ordered) wins; when several candidates claim one reco
object, the first candidate wins. By ΔR: pairs within ``max_dr`` are matched closest first
(:func:`greedy`), across every ΔR-matched source of a collection at once (:func:`match_dr`).

Example:
    The GenJets and reco jets of event 1 of a real CMS ttbar file:

    >>> from flashsim_coffea.sim.candidates import select
    >>> from flashsim_coffea.train.extract import read
    >>> ev = read([SHARED / "nano_tt_v12.root"], entry_stop=2)
    >>> genjets = select(ev, "GenJet")
    >>> ev.Jet.genJetIdx[1].tolist()  # per reco jet: its GenJet
    [0, 1, 2, 3, 6, 5, 7, -1]
    >>> j = match(genjets, ev.Jet, link="genJetIdx")  # per GenJet: its reco jet (-1: none)
    >>> j[1].tolist()
    [0, 1, 2, 3, -1, 5, 4, 6, -1]
    >>> match(genjets, ev.Jet)[1].tolist()  # by ΔR < 0.4 alone, closest pairs first: here as the links
    [0, 1, 2, 3, -1, 5, 4, 6, -1]
    >>> unmatched(ev.Jet, j)[1].tolist()  # the reco jets no GenJet claims
    [False, False, False, False, False, False, False, True]
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from flashsim_coffea.nanoaod.angles import delta_phi


def _first_true(mask: ak.Array) -> ak.Array:
    """Per row of a doubly-jagged boolean, the index of the first True, else -1."""
    idx = ak.argmax(mask, axis=2, keepdims=False)
    has = ak.any(mask, axis=2)
    return ak.values_astype(ak.where(has, ak.fill_none(idx, -1), -1), np.int64)


def match(cand: ak.Array, reco: ak.Array, link: str | None = None, max_dr: float = 0.4) -> ak.Array:
    """Index into ``reco`` of the object made from each candidate (-1 if none).

    Arguments:
        cand: gen candidates with fields ``idx`` (gen index), ``eta``, ``phi``.
        reco: one reco collection (jagged records).
        link: the reco field holding the gen index; ``None`` or absent -> ΔR matching (:func:`match_dr`).
        max_dr: ΔR limit of the fallback matching.
    """
    if link is None or link not in reco.fields:
        return match_dr({"": cand}, reco, {"": max_dr})[""]
    pairs = ak.cartesian({"c": cand.idx, "r": reco[link]}, axis=1, nested=True)
    first = _first_true(pairs.c == pairs.r)
    # a reco object serves one candidate: a later (softer) candidate claiming the same one loses it
    i = ak.local_index(first, axis=1)
    pair = ak.cartesian({"a": first, "b": first}, axis=1, nested=True)
    order = ak.cartesian({"a": i, "b": i}, axis=1, nested=True)
    taken = ak.any((pair.a == pair.b) & (order.b < order.a) & (pair.a >= 0), axis=2)
    return ak.where(taken, -1, first)


def match_dr(cands: dict[str, ak.Array], reco: ak.Array, max_dr: dict[str, float]) -> dict[str, ak.Array]:
    """Per set of candidates, the index into ``reco`` of the object each is matched to by ΔR (-1: none),
    the sets assigned together by :func:`greedy`: a reco object serves one candidate of any set (a B
    hadron and its D daughter, or a hadron and a τ, never share a secondary vertex).

    Arguments:
        cands: name -> candidates (jagged, fields ``eta``, ``phi``), one entry per event of ``reco``.
        reco: one reco collection.
        max_dr: name -> the ΔR limit of that set.

    Example:
        Two candidates next to one reco object: the closer one gets it, the other the next object.

        >>> cand = ak.Array([[{"eta": 0.0, "phi": 0.0}, {"eta": 0.05, "phi": 0.0}]])
        >>> reco = ak.Array([[{"eta": 0.06, "phi": 0.0}, {"eta": -0.1, "phi": 0.0}]])
        >>> match_dr({"b": cand}, reco, {"b": 0.2})["b"].tolist()
        [[1, 0]]
    """
    names = list(cands)
    both = ak.concatenate([cands[n][["eta", "phi"]] for n in names], axis=1)
    which = ak.concatenate([ak.values_astype(ak.zeros_like(cands[n].eta), np.int64) + i
                            for i, n in enumerate(names)], axis=1)
    limit = np.asarray([max_dr[n] for n in names], np.float64)[ak.to_numpy(ak.flatten(which)).astype(np.int64)]
    dr, c, r = _delta_r_pairs(both, reco)
    keep = dr < limit[c]
    nc = ak.to_numpy(ak.num(both, axis=1)).astype(np.int64)
    nr = ak.to_numpy(ak.num(reco, axis=1)).astype(np.int64)
    flat = greedy(dr[keep], c[keep], r[keep], int(nc.sum()))
    event = np.repeat(np.arange(len(nc)), nc)
    local = ak.unflatten(np.where(flat >= 0, flat - (np.cumsum(nr) - nr)[event], -1), nc)
    return {n: local[which == i] for i, n in enumerate(names)}


def _delta_r_pairs(cand: ak.Array, reco: ak.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ΔR of every (candidate, reco object) pair of each event, with the pair's flat candidate and
    reco indices (positions in ``ak.flatten(cand)`` and ``ak.flatten(reco)``)."""
    nc = ak.to_numpy(ak.num(cand, axis=1)).astype(np.int64)
    nr = ak.to_numpy(ak.num(reco, axis=1)).astype(np.int64)
    pairs = ak.cartesian({"c": cand[["eta", "phi"]], "r": reco[["eta", "phi"]]}, axis=1, nested=True)
    dr = ak.to_numpy(ak.flatten(np.hypot(pairs.c.eta - pairs.r.eta, delta_phi(pairs.c.phi, pairs.r.phi)),
                                axis=None)).astype(np.float64)
    c, r = pair_indices(nc, nr)
    return dr, c, r


def pair_indices(n_a: np.ndarray, n_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices of every (a, b) pair of each event, a-major (``ak.cartesian(..., nested=True)``'s order),
    given the per-event counts of the flat arrays ``a`` and ``b``.

    Example:
        >>> [i.tolist() for i in pair_indices(np.array([2, 0, 1]), np.array([2, 3, 1]))]
        [[0, 0, 1, 1, 2], [0, 1, 0, 1, 5]]
    """
    n_a, n_b = np.asarray(n_a, np.int64), np.asarray(n_b, np.int64)
    per_event = n_a * n_b
    event = np.repeat(np.arange(len(n_a)), per_event)
    k = np.arange(int(per_event.sum())) - np.repeat(np.cumsum(per_event) - per_event, per_event)  # within its event
    a = np.repeat(np.cumsum(n_a) - n_a, per_event) + k // np.maximum(n_b[event], 1)
    b = np.repeat(np.cumsum(n_b) - n_b, per_event) + k % np.maximum(n_b[event], 1)
    return a, b


def greedy(dr: np.ndarray, c: np.ndarray, r: np.ndarray, n_cand: int) -> np.ndarray:
    """Greedy one-to-one assignment by ΔR: the closest (candidate, reco) pair is matched first, its
    two members leave, and so on. Returns per candidate the reco index (-1: none).

    Solved in rounds: every pair that is the closest of both its candidate and its reco object is
    matched at once (the closest pair overall always is), the same result as pair-by-pair.

    Example:
        >>> greedy(np.array([0.1, 0.05, 0.2]), np.array([0, 1, 1]), np.array([0, 0, 1]), 3).tolist()
        [-1, 0, -1]
    """
    out = np.full(n_cand, -1, dtype=np.int64)
    order = np.lexsort((r, c, dr))  # by ΔR; ties: the earlier candidate, then the earlier reco object
    dr, c, r = dr[order], c[order], r[order]
    alive = np.ones(len(dr), dtype=bool)
    while alive.any():
        idx = np.flatnonzero(alive)
        _, first_c = np.unique(c[idx], return_index=True)  # each candidate's closest live pair
        _, first_r = np.unique(r[idx], return_index=True)
        best = np.intersect1d(idx[first_c], idx[first_r])
        out[c[best]] = r[best]
        alive &= ~np.isin(c, c[best]) & ~np.isin(r, r[best])
    return out


def unmatched(reco: ak.Array, *matches: ak.Array) -> ak.Array:
    """Boolean per reco object: not claimed by any candidate in ``matches`` (outputs of :func:`match`)."""
    local = ak.local_index(reco, axis=1)
    used = ak.zeros_like(local, dtype=bool)
    for m in matches:
        hit = ak.any(local[:, :, None] == m[:, None, :], axis=2)
        used = used | hit
    return ~used
