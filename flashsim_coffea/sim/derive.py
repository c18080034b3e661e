"""Fields a flash collection derives instead of learning them, one function per collection.

After the engine has merged the sources of a collection and sorted them by pT, the
function of that collection fills, in place, the fields that follow from the learnt
ones, from the gen record or from the collections already made (cross-links, IDs from
their inputs, ...). They call the same :mod:`flashsim_coffea.nanoaod` functions as the
reference detector, so a derived field means the same on flash and on FullSim events.
Collections are made in the order of :data:`flashsim_coffea.specs.COLLECTIONS`; a
function sees the finished earlier collections in ``chunk.done``. :func:`event` runs
last, on the finished collections (event-level fields such as trigger bits).

Example:
    Muons derive their pdgId, mass and jet link; no jets here, so ``jetIdx`` is -1:

    >>> import awkward as ak
    >>> gen = ak.Array({"GenPart": [[{"pdgId": 13, "statusFlags": 8193, "genPartIdxMother": -1}]]})
    >>> cols = {"pt": np.array([30.0]), "eta": np.array([0.5]), "phi": np.array([0.1]),
    ...         "charge": np.array([-1]), "genPartIdx": np.array([0]), "pfRelIso04_all": np.array([0.1])}
    >>> chunk = Chunk(ev=np.array([0]), flash=np.array([0]), gen=gen, done={}, replicas=1)
    >>> derive("Muon", cols, chunk)
    >>> cols["pdgId"].tolist(), cols["mass"].tolist(), cols["jetIdx"].tolist(), cols["pfIsoId"].tolist()
    ([13], [0.10566], [-1], [4])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import awkward as ak
import numpy as np

from flashsim_coffea.nanoaod import derived


@dataclass(frozen=True)
class Chunk:
    """What a derive function may read besides the collection's own columns.

    Attributes:
        ev: gen event index of each object (sorted as the columns).
        flash: flash event index of each object.
        gen: the gen chunk (one record per gen event).
        done: the collections made so far (name -> jagged awkward array over flash events).
        replicas: K, flash events per gen event.
    """

    ev: np.ndarray
    flash: np.ndarray
    gen: ak.Array
    done: dict
    replicas: int


def _jet_link(cols: dict, chunk: Chunk) -> None:
    jets = chunk.done.get("Jet")
    if jets is None:
        cols["jetIdx"] = np.full(len(chunk.flash), -1)
    else:
        cols["jetIdx"] = derived.jet_index(jets, chunk.flash, cols["eta"], cols["phi"])


def _lepton(cols: dict, chunk: Chunk, pdg: int) -> None:
    _jet_link(cols, chunk)
    link = cols.get("genPartIdx", np.full(len(chunk.flash), -1))
    cols["pdgId"] = (-pdg * np.asarray(cols["charge"])).astype(np.int64)
    cols["mass"] = np.full(len(chunk.flash), derived.MASS[pdg])
    cols["genPartFlav"] = derived.gen_part_flav(chunk.gen.GenPart, chunk.ev, link, conversions=pdg == 11)


def jet(cols: dict, chunk: Chunk) -> None:
    """Jet: nothing derived yet (flavours are copied from the GenJet by the source)."""


def muon(cols: dict, chunk: Chunk) -> None:
    """Muon: ``jetIdx``, ``pdgId``, ``mass``, ``genPartFlav``, ``pfIsoId``."""
    _lepton(cols, chunk, 13)
    cols["pfIsoId"] = derived.pf_iso_id(cols["pfRelIso04_all"])


def electron(cols: dict, chunk: Chunk) -> None:
    """Electron: ``jetIdx``, ``pdgId``, ``mass``, ``genPartFlav`` (conversions included)."""
    _lepton(cols, chunk, 11)


def photon(cols: dict, chunk: Chunk) -> None:
    """Photon: ``jetIdx``, the supercluster η flags, ``genPartFlav``."""
    _jet_link(cols, chunk)
    link = cols.get("genPartIdx", np.full(len(chunk.flash), -1))
    cols["isScEtaEB"], cols["isScEtaEE"] = derived.photon_sc_flags(cols["eta"])
    cols["genPartFlav"] = derived.photon_gen_flav(chunk.gen.GenPart, chunk.ev, link)


def tau(cols: dict, chunk: Chunk) -> None:
    """Tau: ``jetIdx``, the DeepTau VSjet working points, ``genPartFlav``."""
    _jet_link(cols, chunk)
    link = cols.get("genPartIdx", np.full(len(chunk.flash), -1))
    cols["idDeepTau2018v2p5VSjet"] = derived.tau_vsjet_id(cols["rawDeepTau2018v2p5VSjet"])
    cols["genPartFlav"] = np.where(link >= 0, 5, 0)


#: collection -> its derive function.
DERIVE: dict[str, Callable[[dict, Chunk], None]] = {
    "Jet": jet, "Muon": muon, "Electron": electron, "Photon": photon, "Tau": tau,
}


def derive(coll: str, cols: dict, chunk: Chunk) -> None:
    """Fill the derived fields of collection ``coll`` in ``cols`` (in place, after the pT sort)."""
    DERIVE[coll](cols, chunk)
