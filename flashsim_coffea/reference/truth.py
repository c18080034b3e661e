"""The *truth* record of a block of generated events: what the reference detector sees.

:func:`make_truth` turns a Pythia block (:func:`pythia.generate_block`) into an awkward
array with one record per event:

``particles`` (every final-state particle of the hard event)
    ``pt eta phi mass px py pz energy`` (float64, GeV), ``pdgId`` (int32), ``charge``
    (float32, units of e), ``vx vy vz`` (production vertex, mm, float64),
    ``statusFlags`` (uint16, NanoAOD bits), ``genPartIdx`` (int32, index in the
    event's ``GenPart`` or -1), ``tauIdx`` (int32, ``GenPart`` index of the decayed
    tau it descends from, or -1).
``GenPart``
    NanoAOD v12 GenPart fields (pruned history).
``partons``
    quarks and gluons entering hadronisation (Pythia |status| 71-79): ``pt eta phi pdgId``.
``hadrons``
    weakly decaying B and C hadrons (no B/C hadron among their daughters):
    ``pt eta phi pdgId flavour`` (5 or 4), ``genPartIdx``.
event fields
    ``genWeight`` (float64 here, cast on writing).

Pileup is not part of the truth: the detector draws it from ``Pileup_nPU``.

Example:
    Two Drell-Yan events: in event 0 a d dbar pair makes the Z, whose shower copies end
    in the Z -> e- e+ decay (``genPartIdxMother`` 7, the last copy); the two electrons are
    also final-state ``particles``, linked back by ``genPartIdx``.

    >>> import awkward as ak
    >>> from flashsim_coffea.nanoaod.status_flags import BITS
    >>> from flashsim_coffea.reference.pythia import generate_block
    >>> t = make_truth(generate_block("dy", n=2, seed=1))
    >>> t.fields
    ['particles', 'GenPart', 'partons', 'hadrons', 'genWeight']
    >>> ak.num(t.particles).tolist(), ak.num(t.GenPart).tolist()
    ([842, 255], [40, 11])
    >>> t.GenPart.pdgId[0, :10].tolist()
    [1, -1, 23, 23, 23, 23, 23, 23, 11, -11]
    >>> t.GenPart.genPartIdxMother[0, :10].tolist()
    [-1, -1, 0, 2, 3, 4, 5, 6, 7, 7]
    >>> p = t.particles[0]
    >>> e = p[(abs(p.pdgId) == 11) & (p.pt > 10)]
    >>> e.pdgId.tolist(), e.genPartIdx.tolist(), ((e.statusFlags >> BITS["isPrompt"]) & 1).tolist()
    ([11, -11], [16, 18], [1, 1])
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from flashsim_coffea.reference import history

_QUARKS_GLUON = np.array([1, 2, 3, 4, 5, 21])


def _jagged(fields: dict[str, np.ndarray], mask: np.ndarray, evt: np.ndarray, n_events: int) -> ak.Array:
    counts = np.bincount(evt[mask], minlength=n_events)
    flat = ak.zip({k: v[mask] for k, v in fields.items()}, depth_limit=1)
    return ak.unflatten(flat, counts)


def make_truth(rec: dict) -> ak.Array:
    """Truth record of a Pythia block (fields in the module docstring).

    Arguments:
        rec: a block made by :func:`flashsim_coffea.reference.pythia.generate_block`.

    Returns:
        An awkward array with one record per event: ``particles``, ``GenPart``,
        ``partons``, ``hadrons`` (jagged) and ``genWeight``.
    """
    h = history.build(rec)
    n_events = len(rec["counts"])
    evt = h["event_index"]
    pid = rec["id"].astype(np.int32)
    absid = np.abs(pid)
    px, py, pz, e = rec["px"], rec["py"], rec["pz"], rec["e"]
    mass = np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0.0))
    gidx = h["genPartIdx"]
    gm = h["global_mother"]

    tau_anc = h["tau_ancestor"]
    tau_idx = np.where(tau_anc >= 0, gidx[np.maximum(tau_anc, 0)], -1)
    has_m = gm >= 0

    final = rec["status"] > 0
    particles = _jagged(
        {
            "pt": h["pt"],
            "eta": h["eta"],
            "phi": h["phi"],
            "mass": mass,
            "px": px,
            "py": py,
            "pz": pz,
            "energy": e,
            "pdgId": pid,
            "charge": rec["charge"].astype(np.float32),
            "vx": rec["xProd"],
            "vy": rec["yProd"],
            "vz": rec["zProd"],
            "statusFlags": h["statusFlags"],
            "genPartIdx": gidx.astype(np.int32),
            "tauIdx": tau_idx.astype(np.int32),
        },
        final,
        evt,
        n_events,
    )
    # NanoAOD stores GenPart mass only where it matters (m > 10 GeV, photons, W/Z, BSM); else 0
    keep_mass = (mass > 10) | (absid == 22) | (absid == 23) | (absid == 24)
    genpart = _jagged(
        {
            "pt": h["pt"],
            "eta": h["eta"],
            "phi": h["phi"],
            "mass": np.where(keep_mass, mass, 0.0),
            "pdgId": pid,
            "status": h["status"],
            "statusFlags": h["statusFlags"],
            "genPartIdxMother": h["genPartIdxMother"],
        },
        h["keep"],
        evt,
        n_events,
    )
    st = np.abs(rec["status"])
    partons = _jagged(
        {"pt": h["pt"], "eta": h["eta"], "phi": h["phi"], "pdgId": pid},
        (st >= 71) & (st <= 79) & np.isin(absid, _QUARKS_GLUON),
        evt,
        n_events,
    )
    flav = history.heavy_flavour(absid)
    heavy = flav > 0
    # a heavy hadron is "weakly decaying" if no daughter is a heavy hadron of the same flavour
    has_heavy_dau = np.zeros(len(pid), bool)
    dau = has_m & heavy
    has_heavy_dau[gm[dau][flav[dau] == flav[gm[dau]]]] = True
    hadrons = _jagged(
        {
            "pt": h["pt"],
            "eta": h["eta"],
            "phi": h["phi"],
            "pdgId": pid,
            "flavour": flav.astype(np.int32),
            "genPartIdx": gidx.astype(np.int32),
        },
        heavy & ~has_heavy_dau,
        evt,
        n_events,
    )
    return ak.zip(
        {
            "particles": particles,
            "GenPart": genpart,
            "partons": partons,
            "hadrons": hadrons,
            "genWeight": rec["weight"],
        },
        depth_limit=1,
    )
