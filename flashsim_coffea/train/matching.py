"""Reco <-> gen matching for training-data extraction.

:func:`match` finds, for each gen candidate, the reco object made from it: by the
reco object's link field (``genPartIdx``, ``genJetIdx``) when the file has it, else
by ΔR (nearest within ``max_dr``). When several reco objects claim one candidate, the
highest-pT one (the first: NanoAOD collections are pT-ordered) wins; when several
candidates claim one reco object, the first candidate wins.

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
    >>> match(genjets, ev.Jet)[1].tolist()  # by ΔR < 0.4 alone
    [0, 1, 2, 3, 6, 5, 4, -1, -1]
    >>> unmatched(ev.Jet, j)[1].tolist()  # the reco jets no GenJet claims
    [False, False, False, False, False, False, False, True]
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from flashsim_coffea.sim.features import delta_phi


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
        link: the reco field holding the gen index; ``None`` or absent -> ΔR matching.
        max_dr: ΔR limit of the fallback matching.
    """
    if link is not None and link in reco.fields:
        pairs = ak.cartesian({"c": cand.idx, "r": reco[link]}, axis=1, nested=True)
        claims = pairs.c == pairs.r
    else:
        pairs = ak.cartesian({"c": cand[["eta", "phi"]], "r": reco[["eta", "phi"]]}, axis=1, nested=True)
        dr = np.hypot(pairs.c.eta - pairs.r.eta, delta_phi(pairs.c.phi, pairs.r.phi))
        best = ak.argmin(dr, axis=2, keepdims=True)
        claims = (ak.local_index(dr, axis=2) == best) & (dr < max_dr)
    first = _first_true(claims)
    # a reco object serves one candidate: a later (softer) candidate claiming the same one loses it
    i = ak.local_index(first, axis=1)
    pair = ak.cartesian({"a": first, "b": first}, axis=1, nested=True)
    order = ak.cartesian({"a": i, "b": i}, axis=1, nested=True)
    taken = ak.any((pair.a == pair.b) & (order.b < order.a) & (pair.a >= 0), axis=2)
    return ak.where(taken, -1, first)


def unmatched(reco: ak.Array, *matches: ak.Array) -> ak.Array:
    """Boolean per reco object: not claimed by any candidate in ``matches`` (outputs of :func:`match`)."""
    local = ak.local_index(reco, axis=1)
    used = ak.zeros_like(local, dtype=bool)
    for m in matches:
        hit = ak.any(local[:, :, None] == m[:, None, :], axis=2)
        used = used | hit
    return ~used
