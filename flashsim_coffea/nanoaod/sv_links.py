"""The secondary-vertex links of NanoAOD v12: ``Jet_svIdx1/2``, ``Jet_nSVs``, ``Muon_svIdx``, ``Electron_svIdx``.

One rule for the reference detector (:mod:`flashsim_coffea.reference.vertices`) and the flash
side (:func:`flashsim_coffea.sim.derive.sv`), as NanoAOD's ``PATObjectCrossLinker`` fills them
(``matchOneToVertices`` / ``matchVertexToMany``), the jet-constituent test replaced by
ΔR(SV, jet axis) < :data:`DR_LINK`:

* :func:`jet_fields`: ``nSVs`` = number of SVs within ΔR < 0.4 of the jet (an SV may belong to
  two jets), ``svIdx1/2`` the first two of them in SV order (-1 if fewer);
* :func:`lepton_index`: the SV holding the track of the lepton's gen particle, from a table of
  (event, gen index, SV index) rows, else -1.

Example:
    >>> jets = ak.Array([[{"pt": 50.0, "eta": 0.0, "phi": 0.0}, {"pt": 30.0, "eta": 2.0, "phi": 1.0}]])
    >>> sv = ak.Array([[{"eta": 0.1, "phi": 0.0}, {"eta": 3.0, "phi": 0.0}, {"eta": -0.2, "phi": 0.1}]])
    >>> {k: v.tolist() for k, v in jet_fields(jets, sv).items()}
    {'svIdx1': [[0, -1]], 'svIdx2': [[2, -1]], 'nSVs': [[2, 0]]}
    >>> lepton_index(np.array([0, 0]), np.array([7, 3]), np.array([[0, 7, 1]])).tolist()
    [1, -1]
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from flashsim_coffea.nanoaod.angles import delta_phi

#: jet-SV link radius: the AK4 jet radius [design: stands in for NanoAOD's shared-constituent test].
DR_LINK = 0.4
#: the jet fields this module fills, in NanoAOD order.
JET_FIELDS = ("svIdx1", "svIdx2", "nSVs")


def jet_fields(jets: ak.Array, sv: ak.Array, dr: float = DR_LINK) -> dict[str, ak.Array]:
    """``svIdx1``, ``svIdx2``, ``nSVs`` of each jet (jagged like ``jets``): the SVs within ``dr``, in SV order."""
    pair = ak.cartesian([jets[["eta", "phi"]], sv[["eta", "phi"]]], axis=1, nested=True)
    idx = ak.argcartesian([jets.eta, sv.eta], axis=1, nested=True)["1"]
    dphi = delta_phi(pair["0"].phi, pair["1"].phi)
    near = (pair["0"].eta - pair["1"].eta) ** 2 + dphi**2 < dr**2
    linked = idx[near]
    padded = ak.fill_none(ak.pad_none(linked, 2, axis=2), -1)
    return {"svIdx1": padded[:, :, 0], "svIdx2": padded[:, :, 1], "nSVs": ak.num(linked, axis=2)}


def lepton_index(evt: np.ndarray, gen_idx: np.ndarray, table: np.ndarray) -> np.ndarray:
    """SV index of each lepton (event ``evt``, gen particle ``gen_idx``; -1: none): the ``table`` row
    (event, gen index, SV index) of its gen particle, else -1."""
    evt, gpi = np.asarray(evt, np.int64), np.asarray(gen_idx, np.int64)
    table = np.asarray(table, np.int64).reshape(-1, 3)
    big = np.int64(1 << 32)
    keys = table[:, 0] * big + table[:, 1]
    o = np.argsort(keys, kind="stable")
    keys, vals = keys[o], table[o, 2]
    want = evt * big + gpi
    pos = np.clip(np.searchsorted(keys, want), 0, max(len(keys) - 1, 0))
    hit = (gpi >= 0) & (len(keys) > 0) & (keys[pos] == want) if len(keys) else np.zeros(len(gpi), bool)
    return np.where(hit, vals[pos] if len(keys) else -1, -1)
