"""Gen-level candidates of each FlashSim source.

A *candidate* is a gen object that may give a reco object: a GenJet for a jet, a
final-state gen muon for a muon, a gen photon for an electron (conversion), a GenJet
for a fake lepton. :func:`select` returns the candidates of one kind for a chunk,
each carrying ``idx``: its index in the gen collection it comes from, the value a
reco object's ``genPartIdx``/``genJetIdx`` holds when it was made from it.

Example:
    >>> import uproot
    >>> from flashsim_coffea.nanoaod.genevents import branch_names, from_branches
    >>> tree = uproot.open(SHARED / "nano_tt_v12.root")["Events"]
    >>> gen = from_branches(tree.arrays(filter_name=branch_names(), entry_stop=50))
    >>> muons = select(gen, "GenMuon")
    >>> ak.num(muons)[:6].tolist(), muons.idx[:6].tolist()  # per event: how many, their index in gen.GenPart
    ([0, 0, 2, 1, 0, 1], [[], [], [17, 44], [60], [], [66]])
    >>> gen.GenPart.pdgId[muons.idx][:6].tolist()
    [[], [], [13, 13], [13], [], [-13]]
"""

from __future__ import annotations

import awkward as ak
import numpy as np

#: kind -> (gen collection, |pdgId| or None, minimum pT in GeV). Only status-1 GenPart.
KINDS: dict[str, tuple[str, int | None, float]] = {
    "GenJet": ("GenJet", None, 0.0),
    "GenJetFake": ("GenJet", None, 15.0),
    "GenMuon": ("GenPart", 13, 2.0),
    "GenElectron": ("GenPart", 11, 3.0),
    "GenPhoton": ("GenPart", 22, 5.0),
    "GenVisTau": ("GenVisTau", None, 10.0),
}


def select(gen: ak.Array, kind: str) -> ak.Array:
    """Candidates of ``kind`` (a key of :data:`KINDS`) with their gen index in field ``idx``.

    Arguments:
        gen: one record per gen event (:mod:`flashsim_coffea.nanoaod.genevents`).
        kind: a key of :data:`KINDS`.

    Returns:
        the candidates, jagged per event: every field of their gen collection plus ``idx``.

    Raises :class:`~flashsim_coffea.nanoaod.genevents.GenInputError` when ``gen`` lacks the gen
    collection of ``kind`` (GenVisTau in some NanoAOD v12 files).

    Example:
        >>> import awkward as ak
        >>> gen = ak.Array({"GenJet": [[{"pt": 40.0, "eta": 0.5}, {"pt": 12.0, "eta": 2.0}]]})
        >>> select(gen, "GenJetFake").tolist()  # GenJets above 15 GeV
        [[{'pt': 40.0, 'eta': 0.5, 'idx': 0}]]
    """
    collection, pdg, ptmin = KINDS[kind]
    if collection not in gen.fields:
        from flashsim_coffea.nanoaod.genevents import GenInputError

        raise GenInputError(f"missing gen branch {collection}_pt (needed for {kind} candidates)")
    coll = gen[collection]
    fields = {f: coll[f] for f in coll.fields}
    fields["idx"] = ak.local_index(coll.pt, axis=1)
    full = ak.zip(fields)
    mask = full.pt > ptmin
    if pdg is not None:
        mask = mask & (abs(full.pdgId) == pdg) & (full.status == 1)
    return full[mask]


def gen_charge(cand: ak.Array) -> ak.Array:
    """Electric charge of lepton candidates from their pdgId (e-, mu-: pdgId > 0, charge -1).

    Example:
        >>> gen_charge(ak.Array([[{"pdgId": 13}, {"pdgId": -11}]])).tolist()
        [[-1, 1]]
    """
    return ak.values_astype(-np.sign(cand.pdgId), np.int32)


#: gen fields a transform may refer to (``gen_<name>`` columns).
GEN_FIELDS = ("pt", "eta", "phi", "mass", "charge")


def gen_columns(cand: ak.Array) -> dict[str, ak.Array]:
    """``gen_<field>`` of :data:`GEN_FIELDS` present on the candidates (lepton charge from pdgId).

    Example:
        >>> cand = ak.Array([[{"pt": 40.0, "eta": 0.5, "pdgId": -13}]])
        >>> {k: v.tolist() for k, v in gen_columns(cand).items()}
        {'gen_pt': [[40.0]], 'gen_eta': [[0.5]], 'gen_charge': [[1]]}
    """
    out = {}
    for f in GEN_FIELDS:
        if f == "charge" and "charge" not in cand.fields and "pdgId" in cand.fields:
            out["gen_charge"] = gen_charge(cand)
        elif f in cand.fields:
            out[f"gen_{f}"] = cand[f]
    return out
