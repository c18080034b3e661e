"""Run Pythia 8 and copy its event records into flat numpy arrays.

:func:`generate_block` makes ``n`` events of one process with one seed and returns
the complete event records (every history entry, not just final-state particles)
as flat arrays plus per-event counts. Indices (mothers, daughters) are local to
the event, 0-based, with -1 for "none" (Pythia's system entry 0 is dropped).

Pythia is imported lazily so that the rest of the package works without it.

Example:
    >>> rec = generate_block("dy", n=2, seed=1)  # doctest: +SKIP
    >>> rec["counts"].shape
    (2,)
"""

from __future__ import annotations

import numpy as np

from .processes import settings

#: Per-particle attributes copied from Pythia, in this order.
_INT = ("id", "status", "mother1", "mother2", "daughter1", "daughter2")
_FLT = ("px", "py", "pz", "e", "m", "xProd", "yProd", "zProd")


def _record(event) -> tuple[np.ndarray, np.ndarray]:
    rows = np.array(
        [
            (q.id(), q.status(), q.mother1(), q.mother2(), q.daughter1(), q.daughter2(),
             q.px(), q.py(), q.pz(), q.e(), q.m(), q.xProd(), q.yProd(), q.zProd())
            for q in event.particles()[1:]
        ],
        dtype=np.float64,
    ).reshape(-1, len(_INT) + len(_FLT))
    return rows[:, : len(_INT)].astype(np.int32), rows[:, len(_INT) :]


def generate_block(process: str, n: int, seed: int) -> dict[str, np.ndarray | float]:
    """Generate ``n`` events of ``process`` with Pythia seed ``seed``.

    Returns a dict with ``counts`` (particles per event), one flat array per
    attribute in ``_INT`` and ``_FLT`` (mothers/daughters re-based to 0, -1 = none),
    ``charge`` (electric charge in units of e), ``weight`` (per-event generator weight), and the cross-section estimate
    ``sigma_pb`` / ``sigma_err_pb`` / ``n_accepted`` of this block.
    """
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in settings(process, seed):
        if not pythia.readString(line):
            raise RuntimeError(f"Pythia rejected setting {line!r}")
    if not pythia.init():
        raise RuntimeError(f"Pythia failed to initialise process {process!r}")
    ints, flts, counts, weights = [], [], [], []
    while len(counts) < n:
        if not pythia.next():
            continue
        i, f = _record(pythia.event)
        ints.append(i)
        flts.append(f)
        counts.append(len(i))
        weights.append(pythia.infoPython().weight())
    info = pythia.infoPython()
    all_i = np.concatenate(ints) if ints else np.zeros((0, len(_INT)), np.int32)
    all_f = np.concatenate(flts) if flts else np.zeros((0, len(_FLT)))
    out: dict[str, np.ndarray | float] = {"counts": np.asarray(counts, dtype=np.int64)}
    for k, name in enumerate(_INT):
        col = all_i[:, k]
        out[name] = col - 1 if name.startswith(("mother", "daughter")) else col
    for k, name in enumerate(_FLT):
        out[name] = all_f[:, k]
    ids, inverse = np.unique(out["id"], return_inverse=True)
    charge = np.array([pythia.particleData.charge(int(i)) for i in ids], dtype=np.float64)
    out["charge"] = charge[inverse] if len(ids) else np.zeros(0)
    out["weight"] = np.asarray(weights, dtype=np.float64)
    out["sigma_pb"] = float(info.sigmaGen()) * 1e9
    out["sigma_err_pb"] = float(info.sigmaErr()) * 1e9
    out["n_accepted"] = float(info.nAccepted())
    return out
