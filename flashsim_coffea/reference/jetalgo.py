"""Anti-kT clustering with ghost-associated flavour, shared by GenJets and reco jets.

:func:`cluster` runs fastjet (Cacciari, Salam, Soyez, arXiv:0802.1189 and
arXiv:1111.6097) on every event of a jagged array at once and returns pT-ordered
jets with the indices of their constituents. B/C hadrons and partons are added as
*ghosts* (momentum scaled by 1e-18, so they do not change any jet) and read back
from the constituents: this is the CMS ghost-association definition of
``hadronFlavour`` and ``partonFlavour`` (CMS-BTV-16-002, arXiv:1712.07158, section 3):

* ``hadronFlavour`` = 5 if a weakly decaying B hadron is clustered in the jet,
  else 4 for a C hadron, else 0;
* ``partonFlavour`` = signed PDG id of the hardest b parton if any, else of the
  hardest c parton, else of the hardest parton; 0 if none.

Example:
    One event of four massless particles: the first two make a jet, the third a jet of
    its own, the fourth (5 GeV) stays below ``ptmin``. A B hadron and a b quark ghost
    land in the first jet, a gluon in the second.

    >>> import awkward as ak
    >>> particles = ak.Array([[
    ...     {"px": 50.0, "py": 0.0, "pz": 0.0, "energy": 50.0},
    ...     {"px": 20.0, "py": 2.0, "pz": 1.0, "energy": 20.125},
    ...     {"px": -30.0, "py": 0.0, "pz": 10.0, "energy": 31.623},
    ...     {"px": 0.0, "py": 5.0, "pz": 0.0, "energy": 5.0},
    ... ]])
    >>> hadrons = ak.Array([[{"pt": 10.0, "eta": 0.0, "phi": 0.05, "flavour": 5}]])
    >>> partons = ak.Array([[{"pt": 60.0, "eta": 0.0, "phi": 0.0, "pdgId": 5},
    ...                      {"pt": 30.0, "eta": 0.33, "phi": 3.14, "pdgId": 21}]])
    >>> jets, index = cluster(particles, 0.4, 15.0, hadrons=hadrons, partons=partons)
    >>> jets.pt
    <Array [[70, 30]] type='1 * var * float64'>
    >>> jets.hadronFlavour.tolist(), jets.partonFlavour.tolist()
    ([[5, 0]], [[5, 21]])
    >>> index.tolist()  # constituents (ghosts removed)
    [[[0, 1], [2]]]

References:
    M. Cacciari, G. P. Salam, G. Soyez, "The anti-kt jet clustering algorithm",
    JHEP 04 (2008) 063, arXiv:0802.1189; "FastJet user manual", Eur. Phys. J. C 72
    (2012) 1896, arXiv:1111.6097; CMS, "Identification of heavy-flavour jets with the
    CMS detector in pp collisions at 13 TeV", JINST 13 (2018) P05011, arXiv:1712.07158.
"""

from __future__ import annotations

import os
import sys

import awkward as ak
import numpy as np

_GHOST_SCALE = 1e-18


def banner(show: bool = True) -> None:
    """Settle FastJet's banner for this process: print it now to stderr (``show``), or never.

    FastJet prints its banner on the first clustering of a process, to stdout. Called first,
    this prints it once to stderr instead (a worker process passes ``show=False``: its parent
    prints it); later calls, and the clusterings, print nothing. The C++ library is shared by
    fastjet's awkward and SWIG interfaces, so silencing it through either silences both.
    """
    global _banner_done
    if _banner_done:
        return
    import fastjet._swig

    if not show:
        fastjet._swig.ClusterSequence.set_fastjet_banner_stream(None)
    stdout = os.dup(1)
    sys.stdout.flush()
    os.dup2(2, 1)
    try:
        fastjet._swig.ClusterSequence.print_banner()  # prints on its first call only
    finally:
        sys.stdout.flush()
        os.dup2(stdout, 1)
        os.close(stdout)
    _banner_done = True


_banner_done = False


def _fastjet():
    banner()
    import fastjet

    return fastjet


def _four(p: ak.Array, scale: float = 1.0) -> ak.Array:
    return ak.zip(
        {"px": p.px * scale, "py": p.py * scale, "pz": p.pz * scale, "E": p.energy * scale},
        with_name="Momentum4D",
    )


def _ghost_momenta(g: ak.Array) -> ak.Array:
    pt = g.pt
    return ak.zip(
        {
            "px": pt * np.cos(g.phi),
            "py": pt * np.sin(g.phi),
            "pz": pt * np.sinh(g.eta),
            "energy": pt * np.cosh(g.eta),
        }
    )


def cluster(
    particles: ak.Array,
    radius: float,
    ptmin: float,
    hadrons: ak.Array | None = None,
    partons: ak.Array | None = None,
) -> tuple[ak.Array, ak.Array]:
    """Cluster ``particles`` (jagged, fields ``px py pz energy``) with anti-kT.

    Arguments:
        particles: the inputs per event.
        radius: the distance parameter R.
        ptmin: minimum jet pT (GeV).
        hadrons: optional ghosts with ``pt eta phi flavour`` (5 or 4).
        partons: optional ghosts with ``pt eta phi pdgId``.

    Returns:
        ``jets``: pT-ordered records ``pt eta phi mass px py pz energy`` and, when
        ghosts are given, ``hadronFlavour`` (int32) and ``partonFlavour`` (int32);
        ``index``: per jet, the indices of its constituents in ``particles``.
    """
    fastjet = _fastjet()
    n_part = ak.num(particles)
    pieces = [_four(particles)]
    if hadrons is not None:
        pieces.append(_four(_ghost_momenta(hadrons), _GHOST_SCALE))
    if partons is not None:
        pieces.append(_four(_ghost_momenta(partons), _GHOST_SCALE))
    inputs = ak.concatenate(pieces, axis=1) if len(pieces) > 1 else pieces[0]
    seq = fastjet.ClusterSequence(inputs, fastjet.JetDefinition(fastjet.antikt_algorithm, radius))
    # ghosts carry no momentum, so jets above ptmin are the same with or without them
    raw = seq.inclusive_jets(ptmin)
    index = seq.constituent_index(ptmin)
    px, py, pz, e = raw.px, raw.py, raw.pz, raw.E
    pt = np.hypot(px, py)
    order = ak.argsort(pt, axis=1, ascending=False)
    p = np.sqrt(px**2 + py**2 + pz**2)
    eta = np.arcsinh(pz / np.maximum(pt, 1e-9))
    mass = np.sqrt(np.maximum(e**2 - p**2, 0.0))
    fields = {"pt": pt, "eta": eta, "phi": np.arctan2(py, px), "mass": mass, "px": px, "py": py, "pz": pz, "energy": e}
    idx = index[order]
    if hadrons is not None or partons is not None:
        n_had = ak.num(hadrons) if hadrons is not None else n_part * 0
        fields["hadronFlavour"] = _hadron_flavour(index, n_part, hadrons, n_had)
        fields["partonFlavour"] = _parton_flavour(index, n_part, partons, n_had)
        idx = idx[idx < n_part]
    jets = ak.zip({k: v[order] for k, v in fields.items()})
    return jets, idx


def take(values: ak.Array, rows: ak.Array) -> ak.Array:
    """``values[event][rows[event][jet]]`` for jagged ``values`` and doubly jagged ``rows``.

    Example:
        >>> take(ak.Array([[10, 20, 30], [40]]), ak.Array([[[0, 1], [2]], [[0]]])).tolist()
        [[[10, 20], [30]], [[40]]]
    """
    n = ak.num(values)
    starts = np.cumsum(np.asarray(n)) - np.asarray(n)
    flat_rows = ak.to_numpy(ak.flatten(rows + starts, axis=None)).astype(np.int64)
    flat = ak.to_numpy(ak.flatten(values))[flat_rows]
    return ak.unflatten(ak.unflatten(flat, ak.flatten(ak.num(rows, axis=2))), ak.num(rows, axis=1))


def _ghost_rows(index: ak.Array, offset: ak.Array, count: ak.Array) -> ak.Array:
    """Per jet, the ghost-local indices of constituents in [offset, offset + count)."""
    rel = index - offset
    return rel[(rel >= 0) & (rel < count)]


def _hadron_flavour(index: ak.Array, n_part: ak.Array, hadrons: ak.Array | None, n_had: ak.Array) -> ak.Array:
    if hadrons is None:
        return ak.values_astype(ak.num(index, axis=2) * 0, np.int32)
    rows = _ghost_rows(index, n_part, n_had)
    flav = take(hadrons.flavour, rows)
    return ak.values_astype(ak.fill_none(ak.max(flav, axis=2), 0), np.int32)


def _parton_flavour(index: ak.Array, n_part: ak.Array, partons: ak.Array | None, n_had: ak.Array) -> ak.Array:
    if partons is None:
        return ak.values_astype(ak.num(index, axis=2) * 0, np.int32)
    rows = _ghost_rows(index, n_part + n_had, ak.num(partons))
    pid = take(partons.pdgId, rows)
    apid = abs(pid)
    # rank: b first, then c, then any parton; within a rank the hardest
    rank = ak.where(apid == 5, 2, ak.where(apid == 4, 1, 0))
    key = rank * 1e6 + take(partons.pt, rows)
    best = ak.argmax(key, axis=2, keepdims=True)
    return ak.values_astype(ak.fill_none(ak.firsts(pid[best], axis=2), 0), np.int32)
