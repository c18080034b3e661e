"""Run Pythia 8 and copy its event records into flat numpy arrays.

:func:`generate_block` makes ``n`` events of one process with one seed and returns
the complete event records (every history entry, not just final-state particles)
as flat arrays plus per-event counts. Indices (mothers, daughters) are local to
the event, 0-based, with -1 for "none" (Pythia's system entry 0 is dropped).

Pythia is imported lazily so that the rest of the package works without it.

Example:
    Two Drell-Yan events; each record starts with the two beam protons, the incoming
    partons and the Z (all with negative, "decayed or branched" status).

    >>> rec = generate_block("dy", n=2, seed=1)
    >>> rec["counts"]  # history entries per event
    array([3062,  799])
    >>> rec["id"][:5]
    array([2212, 2212,    1,   -1,   23], dtype=int32)
    >>> rec["status"][:5]
    array([-12, -12, -21, -21, -22], dtype=int32)
    >>> rec["mother1"][:5]  # the Z (entry 4) comes from entry 2, the incoming d quark
    array([-1, -1,  5,  6,  2], dtype=int32)
    >>> final = rec["status"][:3062] > 0  # final-state particles of event 0
    >>> int(final.sum()), float(rec["charge"][:3062][final].sum())  # charge of the two protons
    (842, 2.0)

References:
    C. Bierlich et al., "A comprehensive guide to the physics and usage of PYTHIA 8.3",
    SciPost Phys. Codebases 8 (2022), arXiv:2203.11601.
"""

from __future__ import annotations

import numpy as np

from flashsim_coffea.reference.processes import FILTERS, NORMALISATION, settings

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


def _batch_record(batch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_record`` of every event of a ``Pythia.nextBatch`` array (entry 0, the system, left out), and the counts."""
    import awkward as ak

    prt = batch.prt[:, 1:]
    counts = ak.to_numpy(ak.num(prt, axis=1)).astype(np.int64)
    ints = np.stack([ak.to_numpy(ak.flatten(prt[k])) for k in _INT], axis=1).astype(np.int32)
    vprod = prt.vProd
    cols = {"px": prt.p.px, "py": prt.p.py, "pz": prt.p.pz, "e": prt.p.e, "m": prt.m,
            "xProd": ak.fill_none(vprod.px, 0.0), "yProd": ak.fill_none(vprod.py, 0.0),
            "zProd": ak.fill_none(vprod.pz, 0.0)}
    flts = np.stack([ak.to_numpy(ak.flatten(cols[k])).astype(np.float64) for k in _FLT], axis=1)
    return ints.reshape(-1, len(_INT)), flts.reshape(-1, len(_FLT)), counts


def start(process: str, seed: int):
    """An initialised Pythia of ``process`` with random seed ``seed`` (:func:`~.processes.settings`), quiet.

    Raises:
        RuntimeError: if Pythia rejects a setting or fails to initialise.
    """
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in settings(process, seed):
        if not pythia.readString(line):
            raise RuntimeError(f"Pythia rejected setting {line!r}")
    if not pythia.init():
        raise RuntimeError(f"Pythia failed to initialise process {process!r}")
    return pythia


def generate_block(process: str, n: int, seed: int) -> dict[str, np.ndarray | float]:
    """Generate ``n`` events of ``process`` with Pythia seed ``seed``.

    A process with a generator-level filter (:data:`~flashsim_coffea.reference.processes.FILTERS`)
    makes events until ``n`` are kept; every event Pythia makes counts as tried. The filter gives
    each event a keep probability q; the decision is drawn from ``numpy.random.default_rng(seed)``
    (only where 0 < q < 1) and a kept event's weight is Pythia's divided by q.

    Arguments:
        process: a process name of :data:`flashsim_coffea.reference.processes.PROCESSES`.
        n: the number of events (events Pythia fails to make are retried, not counted).
        seed: Pythia's random seed, 1 <= seed < 900000000.

    Returns:
        A dict with ``counts`` (history entries per event, int64), one flat array per
        attribute: ``id status mother1 mother2 daughter1 daughter2`` (int32; mothers and
        daughters local to the event, 0-based, -1 = none) and ``px py pz e m xProd yProd
        zProd`` (float64, GeV and mm), ``charge`` (float64, units of e), ``weight`` (the
        generator weight per event, times 1 / keep probability), and the floats ``sigma_pb`` / ``sigma_err_pb`` /
        ``n_accepted``: Pythia's cross-section estimate of this block; ``n_tried`` (events made,
        = n without a filter), ``sumw_tried`` / ``sumw2_tried`` (their Pythia weights and
        squares, kept or not), ``sumw_cross`` (sum over kept events of Pythia's weight times the
        kept weight, for the efficiency's error) and ``sumw_fiducial`` / ``sumw2_fiducial`` (weights of the tried
        events in the fiducial region of :data:`~flashsim_coffea.reference.processes.NORMALISATION` and their
        squares, else 0).

    Example:
        A filtered Drell-Yan block: 2 events kept out of the tried ones, the first with a VBF-like
        jet pair (weight 1), the second without, kept by the bias (probability 0.1, weight 10).

        >>> rec = generate_block("dy_mumu_vbf", n=2, seed=1)
        >>> len(rec["counts"]), rec["n_tried"] > 2, rec["sumw_tried"] == rec["n_tried"], rec["weight"]
        (2, True, True, array([ 1., 10.]))

    Raises:
        RuntimeError: if Pythia rejects a setting or fails to initialise.
    """
    pythia = start(process, seed)
    keep = FILTERS.get(process)
    fiducial = NORMALISATION[process][1] if process in NORMALISATION else None
    rng = np.random.default_rng(seed)
    ints, flts, counts, weights = [], [], [], []
    tried, sumw_tried, sumw2_tried, sumw_cross, sumw_fid, sumw2_fid = 0, 0.0, 0.0, 0.0, 0.0, 0.0
    while keep is None and fiducial is None and len(counts) < n:
        # no filter: whole batches at once (Pythia's own loop: the same events as next() one by one,
        # failed ones skipped, 1.5x faster than copying each particle through Python)
        batch = pythia.nextBatch(n - len(counts), "skip")
        i, f, c = _batch_record(batch)
        w = np.asarray([float(x[0]) for x in batch.info.weights.tolist()], np.float64)
        tried += len(c)
        for x in w.tolist():  # summed in event order, as below
            sumw_tried += x
            sumw2_tried += x * x
            sumw_cross += x * x
        split = np.cumsum(c)[:-1]
        ints += np.split(i, split)
        flts += np.split(f, split)
        counts += c.tolist()
        weights += w.tolist()
    while len(counts) < n:
        if not pythia.next():
            continue
        w = pythia.infoPython().weight()
        tried += 1
        sumw_tried += w
        sumw2_tried += w * w
        if fiducial is not None and fiducial(pythia.event):
            sumw_fid += w
            sumw2_fid += w * w
        q = 1.0 if keep is None else float(keep(pythia.event))
        if q <= 0.0 or (q < 1.0 and rng.random() >= q):
            continue
        sumw_cross += w * w / q
        w = w / q
        i, f = _record(pythia.event)
        ints.append(i)
        flts.append(f)
        counts.append(len(i))
        weights.append(w)
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
    out["n_tried"] = float(tried)
    out["sumw_tried"] = float(sumw_tried)
    out["sumw2_tried"] = float(sumw2_tried)
    out["sumw_cross"] = float(sumw_cross)
    out["sumw_fiducial"] = float(sumw_fid)
    out["sumw2_fiducial"] = float(sumw2_fid)
    return out
