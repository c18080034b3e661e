"""Jet -> lepton links of NanoAOD (``Jet_muonIdx1/2``, ``Jet_electronIdx1/2``, ``Jet_nMuons``, ``Jet_nElectrons``).

NanoAOD's cross-linker (``PATObjectCrossLinker``, CMSSW ``PhysicsTools/NanoAOD``) gives each
jet the list of leptons of the final ``Muon`` (``Electron``) collection linked to it, in the
lepton collection's order; the Jet table writes the size of that list (``nMuons``,
``nElectrons``) and its first two entries (``muonIdx1``, ``muonIdx2``, ...; -1 where the list
is shorter). The lepton side of the same link is ``Muon_jetIdx`` (``Electron_jetIdx``), so
every field here is a function of the leptons' ``jetIdx`` and the number of jets: in the real
v12 ttbar file (``nano_tt_v12.root``) all 1504 jets satisfy ``nMuons == #{muons with jetIdx ==
jet}`` and ``muonIdx1/2`` are the first two of them, and the same for electrons [meas].

The reference detector and the flash engine both call :func:`lepton_links` (after the lepton
collections are final and pT-ordered), so the links are consistent on both sides by
construction.

Example:
    Event 0 has three jets and three muons: muons 0 and 2 sit in jet 1, muon 1 in no jet;
    event 1 has one jet and no muon:

    >>> import awkward as ak
    >>> idx1, idx2, n = lepton_links([3, 1], ak.Array([[1, -1, 1], []]))
    >>> idx1.tolist(), idx2.tolist(), n.tolist()
    ([[-1, 0, -1], [-1]], [[-1, 2, -1], [-1]], [[0, 2, 0], [0]])
"""

from __future__ import annotations

import awkward as ak
import numpy as np

#: Jet fields this module derives, by lepton collection: (first index, second index, count).
FIELDS = {
    "Muon": ("muonIdx1", "muonIdx2", "nMuons"),
    "Electron": ("electronIdx1", "electronIdx2", "nElectrons"),
}


def lepton_links(n_jets, jet_idx: ak.Array) -> tuple[ak.Array, ak.Array, ak.Array]:
    """First and second lepton linked to each jet, and the number linked.

    Arguments:
        n_jets: the number of jets per event (array-like of ints, or the jagged ``Jet``
            collection itself).
        jet_idx: the jagged ``jetIdx`` of the lepton collection (final order; -1 = no jet).
            Indices outside ``[0, n_jets)`` count as -1.

    Returns:
        ``(idx1, idx2, count)``: jagged int64 arrays shaped like the jets. ``idx1``/``idx2``
        are the lepton-collection indices of the first two leptons whose ``jetIdx`` is the
        jet (-1 if none), ``count`` how many there are. Example in the module docstring.
    """
    if isinstance(n_jets, ak.Array) and n_jets.ndim > 1:
        n_jets = ak.num(n_jets)
    nj = np.asarray(n_jets, dtype=np.int64)
    joff = np.concatenate([[0], np.cumsum(nj)]).astype(np.int64)
    n_tot = int(joff[-1])
    n_lep = np.asarray(ak.num(jet_idx), dtype=np.int64)
    j = np.asarray(ak.to_numpy(ak.flatten(jet_idx)), dtype=np.int64)
    evt = np.repeat(np.arange(len(nj)), n_lep)
    local = np.arange(len(j)) - np.repeat(np.cumsum(n_lep) - n_lep, n_lep)
    ok = (j >= 0) & (j < nj[evt]) if len(j) else np.zeros(0, bool)
    g = joff[evt[ok]] + j[ok]  # global jet id of each linked lepton, in lepton order
    lep = local[ok]
    count = np.bincount(g, minlength=n_tot)
    order = np.argsort(g, kind="stable")  # within a jet, leptons keep the collection order
    gs = g[order]
    first = np.ones(len(gs), bool)
    first[1:] = gs[1:] != gs[:-1]
    start = np.flatnonzero(first)
    rank = np.arange(len(gs)) - np.repeat(start, np.diff(np.append(start, len(gs))))
    idx1 = np.full(n_tot, -1, np.int64)
    idx2 = np.full(n_tot, -1, np.int64)
    idx1[gs[rank == 0]] = lep[order][rank == 0]
    idx2[gs[rank == 1]] = lep[order][rank == 1]
    return tuple(ak.unflatten(a, nj) for a in (idx1, idx2, count))


def jet_lepton_fields(n_jets, muon_jet_idx: ak.Array | None, electron_jet_idx: ak.Array | None) -> dict:
    """The six Jet link fields by NanoAOD name, from the muons' and electrons' ``jetIdx``.

    Arguments:
        n_jets: the number of jets per event (or the jagged ``Jet`` collection).
        muon_jet_idx, electron_jet_idx: ``Muon_jetIdx`` / ``Electron_jetIdx`` (jagged), or
            None for a collection that is absent (its fields are then -1 / 0).

    Returns:
        ``{"muonIdx1", "muonIdx2", "nMuons", "electronIdx1", "electronIdx2", "nElectrons"}``
        -> jagged int64 arrays (cast with the NanoAOD schema before writing).

    Example:
        >>> out = jet_lepton_fields([2], ak.Array([[0, 0, 1]]), None)
        >>> out["muonIdx2"].tolist(), out["nMuons"].tolist(), out["electronIdx1"].tolist()
        ([[1, -1]], [[2, 1]], [[-1, -1]])
    """
    if isinstance(n_jets, ak.Array) and n_jets.ndim > 1:
        n_jets = ak.num(n_jets)
    nj = np.asarray(n_jets, dtype=np.int64)
    out = {}
    for coll, jet_idx in (("Muon", muon_jet_idx), ("Electron", electron_jet_idx)):
        if jet_idx is None:
            jet_idx = ak.unflatten(np.zeros(0, np.int64), np.zeros(len(nj), np.int64))
        out.update(zip(FIELDS[coll], lepton_links(nj, jet_idx)))
    return out
