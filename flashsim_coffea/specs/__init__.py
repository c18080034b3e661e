"""Declarative specs of every simulated collection: one module per collection.

Each module defines ``SOURCES``: a list of :class:`~flashsim_coffea.specs.source.Source`
(what gen candidates a reco object can come from, the conditioning, the targets and
their transforms). ``EVENT`` specs (MET, PV, rho) live in :mod:`.event`.
"""

from __future__ import annotations

from flashsim_coffea.specs import electron, event, fatjet, fsrphoton, jet, muon, photon, sv, tau
from flashsim_coffea.specs.source import Source

#: reco collection -> its sources, in simulation order (jets first: others link to them).
COLLECTIONS: dict[str, list[Source]] = {
    "Jet": jet.SOURCES,
    "Muon": muon.SOURCES,
    "Electron": electron.SOURCES,
    "Photon": photon.SOURCES,
    "Tau": tau.SOURCES,
    "FatJet": fatjet.SOURCES_FATJET,
    "SubJet": fatjet.SOURCES_SUBJET,
    "SV": sv.SOURCES,
    "FsrPhoton": fsrphoton.SOURCES,
}

EVENT_SOURCES: list[Source] = event.SOURCES

for _srcs in COLLECTIONS.values():  # a coupled efficiency draw needs the source it follows, earlier, on its candidates
    for _i, _s in enumerate(_srcs):
        if _s.draw_with is not None and not any(o.name == _s.draw_with and o.candidates == _s.candidates
                                                for o in _srcs[:_i]):
            raise ValueError(f"source {_s.key}: draw_with {_s.draw_with!r} is no earlier {_s.collection} source of "
                             f"candidates {_s.candidates}")


def all_sources() -> dict[str, Source]:
    """Every declared source by key, in simulation order.

    Example:
        >>> list(all_sources())[:3]
        ['Jet_genjet', 'Jet_pileup', 'Jet_split']
    """
    out = {s.key: s for srcs in COLLECTIONS.values() for s in srcs}
    out.update({s.key: s for s in EVENT_SOURCES})
    return out


def fakes(collection: str) -> list[str]:
    """Keys of the sources of ``collection`` made from a gen candidate without a gen link (jet fakes, split
    jets), in order: their objects are assigned first, and a count source of the collection (the pileup
    jets) trains on the objects left.

    Example:
        >>> fakes("Jet"), fakes("Muon")
        (['Jet_split', 'Jet_bhadron'], ['Muon_jetfake'])
    """
    return [s.key for s in COLLECTIONS.get(collection, [])
            if s.link is None and s.candidates is not None and s.parent is None]


__all__ = ["COLLECTIONS", "EVENT_SOURCES", "Source", "all_sources", "fakes"]
