"""Make reference samples: Pythia 8 events + reference detector, written as NanoAOD.

Events are made in blocks of :data:`BLOCK` events. Block ``b`` of a sample is fully
determined by ``(process, seed, b)``: its Pythia seed, its pileup and its detector
randomness all derive from ``numpy.random.SeedSequence([seed, process id, b])``, the
process id a hash of the process name (:func:`process_id`: adding a process to the
registry changes no other process's events). So the output does not depend on the number
of workers, and the same arguments give a bit-identical file.

Event ids: ``run = 1``, ``luminosityBlock = b + 1``, ``event = b * BLOCK + i + 1``.

A large sample can be written as several files (``first_event``, a multiple of :data:`BLOCK`):
the files of ``events=N, first_event=0``, ``events=M, first_event=N`` hold together exactly the
events of one ``events=N + M`` file, so a production is cut into parts that finish one by one
(and resume after an interruption) without changing a single event.

Example:
    Three Drell-Yan events written to a temporary file:

    >>> import tempfile
    >>> from pathlib import Path
    >>> import uproot
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     meta = generate("dy", events=3, seed=1, out=Path(tmp) / "dy.root", progress=False)
    ...     with uproot.open(Path(tmp) / "dy.root") as f:
    ...         ev = f["Events"].arrays(["luminosityBlock", "event", "nMuon", "nJet"], library="np")
    ...         runs = f["Runs"].arrays(library="np")
    >>> meta["process"], meta["events"], meta["seed"], meta["code_version"] == code_version()
    ('dy', 3, 1, True)
    >>> ev["luminosityBlock"], ev["event"]
    (array([1, 1, 1], dtype=uint32), array([1, 2, 3], dtype=uint64))
    >>> ev["nMuon"], ev["nJet"]
    (array([0, 0, 2], dtype=int32), array([ 5, 12,  8], dtype=int32))
    >>> runs["genEventCount"], runs["genEventSumw"]
    (array([3]), array([3.]))
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import Executor

import awkward as ak
import numpy as np

from flashsim_coffea.nanoaod import storage_precision
from flashsim_coffea.nanoaod.schema import SCHEMA, cast
from flashsim_coffea.reference import PILEUP_MU
from flashsim_coffea.reference.code_version import code_version
from flashsim_coffea.reference.processes import FILTERS, NORMALISATION, PROCESSES

#: Events per block (unit of parallelism and of reproducibility).
BLOCK = 200


def process_id(process: str) -> int:
    """A 32-bit id of ``process`` from its name alone (first bytes of its SHA-256).

    Example:
        >>> process_id("dy") == process_id("dy") != process_id("dy_mumu")
        True
    """
    return int.from_bytes(hashlib.sha256(process.encode()).digest()[:4], "little")


def _streams(process: str, seed: int, block: int) -> list[np.random.SeedSequence]:
    return np.random.SeedSequence([seed, process_id(process), block]).spawn(3)


def simulate_block(process: str, seed: int, block: int, n: int, pileup_mu: float = PILEUP_MU,
                   block_size: int = BLOCK) -> dict:
    """Generate and reconstruct block ``block`` (``n`` events) of a sample.

    Arguments:
        process: a process name of :data:`~flashsim_coffea.reference.processes.PROCESSES`.
        seed: the sample's seed.
        block: the block number (event ids and random streams follow from it).
        n: the number of events (at most :data:`BLOCK`).
        pileup_mu: the mean number of PU interactions (0: no pileup).
        block_size: events per block of the sample (event ids are ``block * block_size + i + 1``).

    Returns:
        ``{"branches", "sigma_pb", "sigma_err_pb", "n_accepted", "sumw", "sumw2", "n_tried",
        "sumw_tried", "sumw2_tried", "sumw_cross", "sumw_fiducial"}`` where ``branches`` maps collection names
        to jagged records and event-level branch names to flat arrays, all with NanoAOD v12
        dtypes; the rest is Pythia's cross-section estimate, the sums of generator weights of the
        block's events and of the events tried by its generator-level filter (see
        :func:`~flashsim_coffea.reference.pythia.generate_block`).

    Example:
        >>> res = simulate_block("dy", seed=1, block=0, n=2)
        >>> b = res["branches"]
        >>> b["event"], b["Pileup_nPU"]
        (array([1, 2], dtype=uint64), array([33, 57], dtype=int32))
        >>> ak.num(b["Jet"]).tolist(), b["GenVisTau"].pt  # the first event is a Z -> tautau
        ([10, 16], <Array [[30.8, 15.5], []] type='2 * var * float32'>)
    """
    from flashsim_coffea.reference import detector, jetalgo, pythia, truth

    jetalgo.banner(show=False)  # a worker process never prints FastJet's banner (generate prints it once)
    s_pythia, s_pileup, s_detector = _streams(process, seed, block)
    pythia_seed = int(s_pythia.generate_state(1)[0] % 899_999_999) + 1
    rec = pythia.generate_block(process, n, pythia_seed)
    t = truth.make_truth(rec)
    rng_pu = np.random.default_rng(s_pileup)
    n_true = np.clip(rng_pu.normal(pileup_mu, 0.25 * pileup_mu, n), 0.0, 2.5 * pileup_mu) if pileup_mu > 0 else np.zeros(n)
    n_true = np.round(n_true.astype(np.float32), 2)  # NanoAOD keeps ~10 mantissa bits
    n_pu = rng_pu.poisson(n_true).astype(np.int32)
    event = {
        "run": np.ones(n, np.uint32),
        "luminosityBlock": np.full(n, block + 1, np.uint32),
        "event": (np.uint64(block) * np.uint64(block_size) + np.arange(1, n + 1, dtype=np.uint64)),
        "genWeight": np.asarray(t.genWeight, np.float32),
        "Pileup_nTrueInt": n_true.astype(np.float32),
        "Pileup_nPU": n_pu,
    }
    out = detector.simulate(t, n_true, n_pu, np.random.default_rng(s_detector))
    branches: dict[str, np.ndarray | ak.Array] = {}
    for name, value in {**event, **out}.items():
        if name in SCHEMA:
            branches[name] = cast(name, value)
        else:
            branches[name] = np.asarray(value, dtype=np.dtype(SCHEMA[""][name]))
    return {
        "branches": storage_precision.round_branches(branches),
        "sigma_pb": rec["sigma_pb"],
        "sigma_err_pb": rec["sigma_err_pb"],
        "n_accepted": rec["n_accepted"],
        "sumw": float(np.sum(rec["weight"])),
        "sumw2": float(np.sum(rec["weight"] ** 2)),
        **{k: rec[k] for k in ("n_tried", "sumw_tried", "sumw2_tried", "sumw_cross", "sumw_fiducial",
                                "sumw2_fiducial")},
    }


def _ratio_err(part: float, part2: float, cross: float, total: float, total2: float) -> tuple[float, float]:
    """``e = part / total`` and its error, ``part = sum_i x_i`` over the kept events and ``total =
    sum_i w_i`` over the tried ones (``x_i`` the kept weight, ``w_i`` the tried one; ``part2 = sum x^2``,
    ``cross = sum x w``, ``total2 = sum w^2``): variance ``sum_i (x_i - e w_i)^2 / total^2``, which is
    the binomial ``e (1 - e) / N`` for unit weights.

    Example:
        >>> e, err = _ratio_err(25.0, 25.0, 25.0, 100.0, 100.0)
        >>> e, round(err, 5), round((0.25 * 0.75 / 100) ** 0.5, 5)
        (0.25, 0.0433, 0.0433)
    """
    e = part / total
    var = (part2 - 2.0 * e * cross + e**2 * total2) / total**2
    return e, float(np.sqrt(max(var, 0.0)))


def cross_section(process: str, sigma_pb: float, sigma_err_pb: float, sums: dict) -> dict:
    """The metadata of a sample's cross-section from Pythia's estimate and the filter counts.

    ``xsec_pb`` (what the analyses weight with) is Pythia's sigma times the filter efficiency
    ``sumw / sumw_tried`` (1 without a filter; ``sumw`` sums the kept events' weights, which
    include 1 / keep probability, so the efficiency is the share of the cross-section the sample
    stands for); for a process of
    :data:`~flashsim_coffea.reference.processes.NORMALISATION` it is the reference fiducial
    cross-section times ``sumw / sumw_fiducial`` instead. Errors: Monte Carlo statistics only
    (Pythia's and the binomial error of the ratios).

    Arguments:
        process: the process name.
        sigma_pb, sigma_err_pb: Pythia's cross-section estimate and its error (pb).
        sums: ``sumw sumw2 sumw_tried sumw2_tried sumw_cross sumw_fiducial sumw2_fiducial n_tried`` summed
            over the blocks.

    Example:
        A filter keeping 250 of 1000 events of a 40 pb process:

        >>> sums = {"sumw": 250.0, "sumw2": 250.0, "sumw_tried": 1000.0, "sumw2_tried": 1000.0,
        ...         "sumw_cross": 250.0, "sumw_fiducial": 0.0, "sumw2_fiducial": 0.0, "n_tried": 1000.0}
        >>> xs = cross_section("dy_mumu_vbf", 40.0, 0.4, sums)
        >>> xs["xsec_pb"], xs["filter_efficiency"], round(xs["filter_efficiency_err"], 4), xs["events_tried"]
        (10.0, 0.25, 0.0137, 1000)
    """
    eff, eff_err = _ratio_err(sums["sumw"], sums["sumw2"], sums["sumw_cross"], sums["sumw_tried"], sums["sumw2_tried"])
    out = {
        "xsec_generator_pb": sigma_pb,
        "xsec_generator_err_pb": sigma_err_pb,
        "filter": FILTERS[process].__name__ if process in FILTERS else None,
        "filter_efficiency": eff,
        "filter_efficiency_err": eff_err,
        "events_tried": int(sums["n_tried"]),
    }
    if process in NORMALISATION:
        sigma_fid, fiducial, source = NORMALISATION[process]
        fid, fid2 = sums["sumw_fiducial"], sums["sumw2_fiducial"]
        # the fiducial events are a subset of the tried ones, with the same weights: cross term = sum w^2
        frac, frac_err = _ratio_err(fid, fid2, fid2, sums["sumw_tried"], sums["sumw2_tried"])
        ok = frac > 0
        out.update({
            "xsec_reference_pb": sigma_fid,
            "xsec_reference_source": source,
            "fiducial": fiducial.__name__,
            "fiducial_fraction": frac,
            "xsec_pb": sigma_fid * eff / frac if ok else None,
            "xsec_err_pb": sigma_fid * eff / frac * float(np.hypot(eff_err / eff, frac_err / frac)) if ok else None,
        })
        return out
    rel = np.hypot(sigma_err_pb / sigma_pb, eff_err / eff) if sigma_pb > 0 and eff > 0 else 0.0
    out.update({"xsec_pb": sigma_pb * eff, "xsec_err_pb": float(sigma_pb * eff * rel)})
    return out


def _blocks(events: int, first_event: int = 0) -> list[tuple[int, int]]:
    """``(block, events in it)`` of events ``[first_event, first_event + events)`` of a sample.

    Example:
        >>> _blocks(450), _blocks(250, first_event=400)
        ([(0, 200), (1, 200), (2, 50)], [(2, 200), (3, 50)])
    """
    stop = first_event + events
    return [(b, min(BLOCK, stop - b * BLOCK)) for b in range(first_event // BLOCK, (stop + BLOCK - 1) // BLOCK)]


def _run(process: str, seed: int, events: int, pileup_mu: float, executor: Executor | None,
         first_event: int = 0) -> Iterator[dict]:
    """The blocks' results in block order (computed in this process, or as tasks of ``executor``)."""
    jobs = _blocks(events, first_event)
    if executor is None:
        for b, n in jobs:
            yield simulate_block(process, seed, b, n, pileup_mu, BLOCK)
        return
    futures = [executor.submit(simulate_block, process, seed, b, n, pileup_mu, BLOCK) for b, n in jobs]
    for f in futures:
        yield f.result()


def branch_types(branches: dict) -> dict:
    """uproot ``mktree`` types of a chunk's branches (awkward types of records, numpy dtypes of flat arrays)."""
    return {k: (v.type if isinstance(v, ak.Array) else v.dtype) for k, v in branches.items()}


@contextlib.contextmanager
def atomic_root(out: str | os.PathLike) -> Iterator:
    """``uproot.recreate`` of a temporary file beside ``out``, renamed to ``out`` when the block ends
    without error and removed otherwise (an interrupted writer leaves no partial ``out``).

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     try:
        ...         with atomic_root(Path(tmp) / "x.root") as f:
        ...             f["note"] = "half written"
        ...             raise KeyboardInterrupt
        ...     except KeyboardInterrupt:
        ...         pass
        ...     sorted(p.name for p in Path(tmp).iterdir())
        []
    """
    import uproot

    out = os.fspath(out)
    tmp = f"{out}.tmp{os.getpid()}"
    try:
        with uproot.recreate(tmp) as f:
            yield f
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_runs(f, count: int, sumw: float, sumw2: float, **extra: np.ndarray) -> None:
    """The NanoAOD ``Runs`` tree (one run, ``run = 1``) of an open uproot file, with ``extra`` branches."""
    runs = {"run": np.uint32, "genEventCount": np.int64, "genEventSumw": np.float64, "genEventSumw2": np.float64}
    f.mktree("Runs", {**runs, **{k: v.dtype for k, v in extra.items()}}).extend(
        {
            "run": np.array([1], np.uint32),
            "genEventCount": np.array([count], np.int64),
            "genEventSumw": np.array([sumw]),
            "genEventSumw2": np.array([sumw2]),
            **extra,
        }
    )


def generate(
    process: str,
    events: int,
    seed: int,
    out: str | os.PathLike,
    *,
    executor: Executor | None = None,
    pileup_mu: float = PILEUP_MU,
    first_event: int = 0,
    progress: bool = True,
) -> dict:
    """Write ``events`` events of ``process`` to the ROOT file ``out``.

    The file holds a TTree ``Events`` (NanoAOD v12 names and dtypes, readable by
    coffea's ``NanoAODSchema``), a TTree ``Runs`` (``genEventCount``,
    ``genEventSumw``, ``genEventSumw2``) and a string ``flashsim_metadata`` (JSON:
    process, cross-section in pb, seed, pileup, code version; with a generator-level filter
    ``xsec_pb`` is the cross-section of the kept events, see :func:`cross_section`; ``Runs``
    counts the kept events). The file appears only when complete (written under a temporary
    name, then renamed).

    Arguments:
        process: a process name of :data:`~flashsim_coffea.reference.processes.PROCESSES`.
        events: the number of events.
        seed: the sample's seed.
        out: the output path.
        executor: blocks (:data:`BLOCK` events, seeded by their number) run as its tasks: a dask
            ``Client.get_executor()`` (:func:`flashsim_coffea.cluster.executor`, a local or a
            facility's cluster) or a ``ProcessPoolExecutor``; default: one after another in this
            process. The output does not depend on it.
        pileup_mu: the mean number of PU interactions.
        first_event: the file holds events ``[first_event, first_event + events)`` of the sample
            (a multiple of :data:`BLOCK`; one part of a sample written as several files).
        progress: show a progress bar.

    Returns:
        The metadata dict, with ``seconds`` and the measured throughput ``events_per_second``.
        Example in the module docstring.
    """
    from tqdm.auto import tqdm

    from flashsim_coffea.reference import jetalgo

    if process not in PROCESSES:
        raise ValueError(f"unknown process {process!r}; choose from {', '.join(sorted(PROCESSES))}")
    if events <= 0:
        raise ValueError(f"--events must be positive, got {events}")
    if first_event < 0 or first_event % BLOCK:
        raise ValueError(f"--first-event must be a non-negative multiple of {BLOCK} (the block size), got {first_event}")
    jetalgo.banner()  # FastJet's, once, before the progress bar (worker processes never print it)
    start = time.perf_counter()
    sigma, sigma_err, accepted = [], [], []
    sums = dict.fromkeys(("sumw", "sumw2", "n_tried", "sumw_tried", "sumw2_tried", "sumw_cross", "sumw_fiducial",
                          "sumw2_fiducial"), 0.0)
    with atomic_root(out) as f, tqdm(total=events, unit="ev", desc=f"{process} (seed {seed})",
                                     disable=not progress) as bar:
        tree = None
        for res in _run(process, seed, events, pileup_mu, executor, first_event):
            br = res["branches"]
            if tree is None:
                tree = f.mktree("Events", branch_types(br), title="Events")
            tree.extend(br)
            sigma.append(res["sigma_pb"])
            sigma_err.append(res["sigma_err_pb"])
            accepted.append(res["n_accepted"])
            for k in sums:
                sums[k] += res[k]
            bar.update(len(br["run"]))
        acc = np.asarray(accepted)
        meta = {
            "process": process,
            "description": PROCESSES[process][0],
            "events": events,
            "seed": seed,
            "first_event": first_event,
            "pileup_mu": pileup_mu,
            **cross_section(
                process,
                float(np.sum(np.asarray(sigma) * acc) / acc.sum()),
                float(np.sqrt(np.sum((np.asarray(sigma_err) * acc) ** 2)) / acc.sum()),
                sums,
            ),
            "sqrt_s_GeV": 13600.0,
            "generator": "Pythia 8 (pythia8mc), CMS CP5 tune settings",
            "detector": "flashsim-coffea parametric CMS-like reference detector",
            "code_version": code_version(),
            "flashsim_version": package_version(),
        }
        f["flashsim_metadata"] = json.dumps(meta, sort_keys=True)
        write_runs(f, events, sums["sumw"], sums["sumw2"])
    elapsed = time.perf_counter() - start
    return {**meta, "seconds": elapsed, "events_per_second": events / elapsed}


def read_metadata(path: str | os.PathLike) -> dict:
    """The ``flashsim_metadata`` JSON of a reference sample, as a dict (see :func:`generate`)."""
    import uproot

    with uproot.open(path) as f:
        return json.loads(str(f["flashsim_metadata"]))


def package_version() -> str:
    """The installed ``flashsim-coffea`` version (``"unknown"`` when not installed).

    Read from the distribution metadata, not ``flashsim_coffea.__version__``: the reference
    package imports only :mod:`flashsim_coffea.nanoaod` of the rest of the project.
    """
    try:
        return importlib.metadata.version("flashsim-coffea")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
