"""Gen-level candidates of each FlashSim source.

A *candidate* is a gen object that may give a reco object: a GenJet for a jet, a
final-state gen muon for a muon, a gen photon for an electron (conversion), a GenJet
for a fake lepton. :func:`select` returns the candidates of one kind for a chunk,
each carrying ``idx``: its index in the gen collection it comes from, the value a
reco object's ``genPartIdx``/``genJetIdx`` holds when it was made from it.

Example:
    >>> muons = select(gen, "GenMuon")  # doctest: +SKIP
    >>> muons.idx  # index in gen.GenPart  # doctest: +SKIP
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
    """Candidates of ``kind`` (a key of :data:`KINDS`) with their gen index in field ``idx``."""
    collection, pdg, ptmin = KINDS[kind]
    if collection not in gen.fields:
        from .genevents import GenInputError

        raise GenInputError(f"missing gen branch {collection}_pt (needed for {kind} candidates)")
    coll = gen[collection]
    fields = {f: coll[f] for f in coll.fields}
    fields["idx"] = ak.local_index(coll.pt, axis=1)
    full = ak.zip(fields)
    mask = full.pt > ptmin
    if pdg is not None:
        mask = mask & (abs(full.pdgId) == pdg) & (full.status == 1)
    return full[mask]


def source_index(kind: str) -> int:
    """A small stable integer per candidate kind (part of the random-number key)."""
    return sorted(KINDS).index(kind)


def gen_charge(cand: ak.Array) -> ak.Array:
    """Electric charge of lepton candidates from their pdgId (e-, mu-: pdgId > 0, charge -1)."""
    return ak.values_astype(-np.sign(cand.pdgId), np.int32)


#: gen fields a transform may refer to (``gen_<name>`` columns).
GEN_FIELDS = ("pt", "eta", "phi", "mass", "charge")


def gen_columns(cand: ak.Array) -> dict[str, ak.Array]:
    """``gen_<field>`` of :data:`GEN_FIELDS` present on the candidates (lepton charge from pdgId)."""
    out = {}
    for f in GEN_FIELDS:
        if f == "charge" and "charge" not in cand.fields and "pdgId" in cand.fields:
            out["gen_charge"] = gen_charge(cand)
        elif f in cand.fields:
            out[f"gen_{f}"] = cand[f]
    return out
