"""Make reference samples: Pythia 8 events + reference detector, written as NanoAOD.

Events are made in blocks of :data:`BLOCK` events. Block ``b`` of a sample is fully
determined by ``(process, seed, b)``: its Pythia seed, its pileup and its detector
randomness all derive from ``numpy.random.SeedSequence([seed, process id, b])``, the
process id a hash of the process name (:func:`process_id`: adding a process to the
registry changes no other process's events). So the output does not depend on the number
of workers, and the same arguments give a bit-identical file.

Event ids: ``run = 1``, ``luminosityBlock = b + 1``, ``event = b * BLOCK + i + 1``.

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

import hashlib
import importlib.metadata
import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import Executor

import awkward as ak
import numpy as np

from flashsim_coffea.nanoaod.schema import SCHEMA, cast
from flashsim_coffea.reference import PILEUP_MU
from flashsim_coffea.reference.code_version import code_version
from flashsim_coffea.reference.processes import PROCESSES

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
        ``{"branches", "sigma_pb", "sigma_err_pb", "n_accepted", "sumw", "sumw2"}`` where
        ``branches`` maps collection names to jagged records and event-level branch names
        to flat arrays, all with NanoAOD v12 dtypes; the rest is Pythia's cross-section
        estimate and the sums of generator weights of the block.

    Example:
        >>> res = simulate_block("dy", seed=1, block=0, n=2)
        >>> b = res["branches"]
        >>> b["event"], b["Pileup_nPU"]
        (array([1, 2], dtype=uint64), array([33, 57], dtype=int32))
        >>> ak.num(b["Jet"]).tolist(), b["GenVisTau"].pt  # the first event is a Z -> tautau
        ([10, 16], <Array [[30.8, 15.6], []] type='2 * var * float32'>)
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
        "branches": branches,
        "sigma_pb": rec["sigma_pb"],
        "sigma_err_pb": rec["sigma_err_pb"],
        "n_accepted": rec["n_accepted"],
        "sumw": float(np.sum(rec["weight"])),
        "sumw2": float(np.sum(rec["weight"] ** 2)),
    }


def _blocks(events: int) -> list[tuple[int, int]]:
    return [(b, min(BLOCK, events - b * BLOCK)) for b in range((events + BLOCK - 1) // BLOCK)]


def _run(process: str, seed: int, events: int, pileup_mu: float, executor: Executor | None) -> Iterator[dict]:
    """The blocks' results in block order (computed in this process, or as tasks of ``executor``)."""
    jobs = _blocks(events)
    if executor is None:
        for b, n in jobs:
            yield simulate_block(process, seed, b, n, pileup_mu, BLOCK)
        return
    futures = [executor.submit(simulate_block, process, seed, b, n, pileup_mu, BLOCK) for b, n in jobs]
    for f in futures:
        yield f.result()


def _types(branches: dict) -> dict:
    return {k: (v.type if isinstance(v, ak.Array) else v.dtype) for k, v in branches.items()}


def generate(
    process: str,
    events: int,
    seed: int,
    out: str | os.PathLike,
    *,
    executor: Executor | None = None,
    pileup_mu: float = PILEUP_MU,
    progress: bool = True,
) -> dict:
    """Write ``events`` events of ``process`` to the ROOT file ``out``.

    The file holds a TTree ``Events`` (NanoAOD v12 names and dtypes, readable by
    coffea's ``NanoAODSchema``), a TTree ``Runs`` (``genEventCount``,
    ``genEventSumw``, ``genEventSumw2``) and a string ``flashsim_metadata`` (JSON:
    process, cross-section in pb, seed, pileup, code version). The file appears only
    when complete (written under a temporary name, then renamed).

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
        progress: show a progress bar.

    Returns:
        The metadata dict, with ``seconds`` and the measured throughput ``events_per_second``.
        Example in the module docstring.
    """
    import uproot
    from tqdm.auto import tqdm

    from flashsim_coffea.reference import jetalgo

    if process not in PROCESSES:
        raise ValueError(f"unknown process {process!r}; choose from {', '.join(sorted(PROCESSES))}")
    if events <= 0:
        raise ValueError(f"--events must be positive, got {events}")
    out = os.fspath(out)
    tmp = f"{out}.tmp{os.getpid()}"
    jetalgo.banner()  # FastJet's, once, before the progress bar (worker processes never print it)
    start = time.perf_counter()
    sigma, sigma_err, accepted, sumw, sumw2 = [], [], [], 0.0, 0.0
    try:
        with uproot.recreate(tmp) as f, tqdm(
            total=events, unit="ev", desc=f"{process} (seed {seed})", disable=not progress
        ) as bar:
            tree = None
            for res in _run(process, seed, events, pileup_mu, executor):
                br = res["branches"]
                if tree is None:
                    tree = f.mktree("Events", _types(br), title="Events")
                tree.extend(br)
                sigma.append(res["sigma_pb"])
                sigma_err.append(res["sigma_err_pb"])
                accepted.append(res["n_accepted"])
                sumw += res["sumw"]
                sumw2 += res["sumw2"]
                bar.update(len(br["run"]))
            acc = np.asarray(accepted)
            meta = {
                "process": process,
                "description": PROCESSES[process][0],
                "events": events,
                "seed": seed,
                "pileup_mu": pileup_mu,
                "xsec_pb": float(np.sum(np.asarray(sigma) * acc) / acc.sum()),
                "xsec_err_pb": float(np.sqrt(np.sum((np.asarray(sigma_err) * acc) ** 2)) / acc.sum()),
                "sqrt_s_GeV": 13600.0,
                "generator": "Pythia 8 (pythia8mc), CMS CP5 tune settings",
                "detector": "flashsim-coffea parametric CMS-like reference detector",
                "code_version": code_version(),
                "flashsim_version": package_version(),
            }
            f["flashsim_metadata"] = json.dumps(meta, sort_keys=True)
            runs = {"run": np.uint32, "genEventCount": np.int64, "genEventSumw": np.float64, "genEventSumw2": np.float64}
            f.mktree("Runs", runs).extend(
                {
                    "run": np.array([1], np.uint32),
                    "genEventCount": np.array([events], np.int64),
                    "genEventSumw": np.array([sumw]),
                    "genEventSumw2": np.array([sumw2]),
                }
            )
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
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
