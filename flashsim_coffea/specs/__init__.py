"""Declarative specs of every simulated collection: one module per collection.

Each module defines ``SOURCES``: a list of :class:`~flashsim_coffea.specs.source.Source`
(what gen candidates a reco object can come from, the conditioning, the targets and
their transforms). ``EVENT`` specs (MET, PV, rho) live in :mod:`.event`.
"""

from __future__ import annotations

from . import electron, event, jet, muon, photon, tau
from .source import Source

#: reco collection -> its sources, in simulation order (jets first: others link to them).
COLLECTIONS: dict[str, list[Source]] = {
    "Jet": jet.SOURCES,
    "Muon": muon.SOURCES,
    "Electron": electron.SOURCES,
    "Photon": photon.SOURCES,
    "Tau": tau.SOURCES,
}

EVENT_SOURCES: list[Source] = event.SOURCES

__all__ = ["COLLECTIONS", "EVENT_SOURCES", "Source"]
