"""Flash NanoAOD files: gen-level NanoAOD in, gen + flash reco NanoAOD out (``flashsim simulate``).

The input files are read ``step`` gen events at a time (an entry range of one file per chunk,
the gen branches of :func:`flashsim_coffea.nanoaod.genevents.branch_names` and the gen
collections of :data:`GEN_COPIED`); each chunk is simulated K times by the engine
(:meth:`flashsim_coffea.sim.engine.FlashSim.simulate`) and appended to the output's ``Events``
tree, so memory follows the chunk, not the file. Chunks are independent tasks (with an
executor: at most ``ahead`` results in flight); the engine's random numbers are keyed by
(seed, run, luminosityBlock, event, replica), so the file does not depend on the chunking or
the executor, and the flash collections equal those of the in-memory coffea processor
(:class:`processors.flashsim.FlashSimProcessor`) for the same seed and K.

The output, NanoAOD v12 names and dtypes (coffea's ``NanoAODSchema``, uproot and ROOT's
RDataFrame read it):

* ``Events``: per flash event, the gen event's ``run/luminosityBlock/event/genWeight`` and gen
  collections (replicated K times: replica ``r`` of gen event ``i`` is entry ``i * K + r``),
  the flash reco collections (``nJet``, ``Jet_pt``, ..., ``MET_pt``, ``PV_npvs``, ``HLT_*``),
  ``FlashSim_genEventIdx`` (the gen event's entry in the concatenated inputs),
  ``FlashSim_replica`` and ``FlashSim_replicas``;
* ``Runs``: ``genEventCount``, ``genEventSumw``, ``genEventSumw2`` of the inputs (their ``Runs``
  trees, or counted from their ``genWeight``) times K, so that weights normalised by them are
  right for the oversampled file, the inputs' own in ``FlashSim_genEventCount`` and
  ``FlashSim_genEventSumw``, and ``FlashSim_replicas``;
* ``flashsim_metadata``: JSON (inputs, seed, replicas, models and their hash, versions; the
  inputs' ``process`` and ``xsec_pb`` when they carry them, which the analyses read).

The file appears only when complete (:func:`flashsim_coffea.reference.generate.atomic_root`).

Example:
    20 events of a real CMS ttbar file, two flash events each, read back with uproot:

    >>> import tempfile, uproot
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     meta = simulate([SHARED / "nano_tt_v12.root"], Path(tmp) / "flash.root", replicas=2, seed=1,
    ...                     step=20, progress=False, entry_stop=20)
    ...     with uproot.open(Path(tmp) / "flash.root") as f:
    ...         ev = f["Events"].arrays(["event", "FlashSim_genEventIdx", "FlashSim_replica", "nJet", "nGenJet"],
    ...                                 library="np")
    ...         runs = f["Runs"].arrays(library="np")
    >>> meta["events"], meta["flash_events"], ev["FlashSim_genEventIdx"][:4], ev["FlashSim_replica"][:4]
    (20, 40, array([0, 0, 1, 1]), array([0, 1, 0, 1], dtype=int32))
    >>> bool((ev["event"][::2] == ev["event"][1::2]).all()), ev["nJet"].dtype.name
    (True, 'int32')
    >>> runs["genEventCount"], runs["FlashSim_genEventCount"], runs["FlashSim_replicas"]
    (array([40]), array([20]), array([2], dtype=int32))
"""

from __future__ import annotations

import gc
import hashlib
import json
import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Executor
from functools import lru_cache
from pathlib import Path

import awkward as ak
import numpy as np

from flashsim_coffea.nanoaod import genevents

GEN_COPIED, EVENT_IDS = genevents.CARRIED, genevents.EVENT_IDS
#: gen events per chunk (default of ``--chunksize``): memory follows ``STEP * K``.
STEP = 10_000


class SimulateInputError(ValueError):
    """An input file ``flashsim simulate`` cannot read (missing, not ROOT, no ``Events``, missing branch)."""


def input_branches(path: str | os.PathLike) -> tuple[int, list[str]]:
    """The number of events of ``path`` and the branches a chunk reads from it; raise
    :class:`SimulateInputError` naming the file and what is wrong.

    Example:
        >>> n, names = input_branches(SHARED / "nano_tt_v12.root")
        >>> n, "GenPart_pt" in names, "GenJetAK8_pt" in names, "Jet_pt" in names, "nGenJet" in names
        (200, True, True, False, False)
        >>> input_branches("missing.root")
        Traceback (most recent call last):
        ...
        flashsim_coffea.simulate.SimulateInputError: missing.root: no such file
    """
    import uproot

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise SimulateInputError(f"{path}: no such file")
    try:
        f = uproot.open(path)
    except Exception as err:  # uproot raises several kinds for a file that is not ROOT
        raise SimulateInputError(f"{path}: not a ROOT file ({type(err).__name__})") from None
    with f:
        if "Events" not in f:
            raise SimulateInputError(f"{path}: no Events tree")
        tree = f["Events"]
        keys = set(tree.keys())
        present = tuple(c for c in genevents.GEN_BRANCHES if c not in genevents.OPTIONAL or f"{c}_pt" in keys)
        needed = ["run", "luminosityBlock", "event", *genevents.branch_names(present)]
        missing = [b for b in needed if b not in keys]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise SimulateInputError(f"{path}: missing gen branch {missing[0]}{more}")
        names = [k for k in tree.keys() if k in EVENT_IDS or k.split("_", 1)[0] in GEN_COPIED and "_" in k]
        return int(tree.num_entries), names


def check_inputs(paths: list) -> list[tuple[str, int, list[str]]]:
    """``(path, events, branches)`` of each input (:func:`input_branches`); every file must have the
    branches of the first (one output tree).

    Example:
        >>> [(Path(p).name, n, len(b)) for p, n, b in check_inputs([SHARED / "nano_tt_v12.root"])]
        [('nano_tt_v12.root', 200, 36)]
    """
    out = []
    for p in paths:
        n, names = input_branches(p)
        if out and set(names) != set(out[0][2]):
            diff = sorted(set(names) ^ set(out[0][2]))[0]
            raise SimulateInputError(f"{os.fspath(p)}: branch {diff} differs from {out[0][0]} (the inputs must have "
                                     "the same gen branches)")
        out.append((os.fspath(p), n, names))
    return out


def models_hash(models_dir: str | os.PathLike) -> str:
    """A 12-character hash of a model set: sha256 over its files' relative paths and contents.

    Example:
        >>> from flashsim_coffea.sim.cards import DEFAULT_MODELS
        >>> len(models_hash(DEFAULT_MODELS)), models_hash(DEFAULT_MODELS) == models_hash(str(DEFAULT_MODELS))
        (12, True)
    """
    root = Path(models_dir)
    h = hashlib.sha256()
    for p in sorted(q for q in root.rglob("*") if q.is_file() and "__pycache__" not in q.parts):
        h.update(p.relative_to(root).as_posix().encode() + b"\0")
        with open(p, "rb") as f:
            h.update(hashlib.file_digest(f, "sha256").digest())
    return h.hexdigest()[:12]


@lru_cache(maxsize=4)
def worker_engine(models_dir: str, collections: tuple[str, ...] | None = None, precision: str | None = None):
    """One engine per process (models load once, not per chunk), shared by ``flashsim simulate`` and
    the coffea processor. A worker process (futures, dask) runs one torch thread unless
    ``OMP_NUM_THREADS`` says otherwise: N workers x 1 thread beat 1 worker x N threads alone and
    beside another job, where N threads spin and collapse (``benchmarks/thread_policy.py``,
    docs/performance.md "Thread policy"). In a dask worker, glibc's mmap threshold that the nanny's
    ``MALLOC_TRIM_THRESHOLD_`` fixed at 128 KiB is raised (:func:`flashsim_coffea.sim.allocator.fit_for_flows`:
    the flows ran at half speed there).
    """
    import torch

    from flashsim_coffea.sim.allocator import fit_for_flows
    from flashsim_coffea.sim.engine import FlashSim

    if multiprocessing.parent_process() is not None and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(1)
    fit_for_flows()
    return FlashSim.load(models_dir, collections=collections, precision=precision)


def simulate_chunk(path: str, start: int, stop: int, branches: list[str], models_dir: str, seed: int,
                   replicas: int, offset: int, precision: str | None = None) -> dict:
    """Read entries ``[start, stop)`` of ``path``, simulate them and return ``{"branches", "events",
    "sumw", "sumw2"}``: the output branches of the chunk (records for jagged collections, flat arrays
    otherwise; ``FlashSim_genEventIdx`` counts from ``offset``) and the chunk's gen weight sums.
    ``precision``: of the flows (:mod:`flashsim_coffea.sim.precision`; default: the models index's).

    Example:
        >>> from flashsim_coffea.sim.cards import DEFAULT_MODELS
        >>> path, n, names = check_inputs([SHARED / "nano_tt_v12.root"])[0]
        >>> res = simulate_chunk(path, 10, 13, names, str(DEFAULT_MODELS), seed=1, replicas=2, offset=10)
        >>> b = res["branches"]
        >>> b["FlashSim_genEventIdx"].tolist(), len(b["GenJet"]), b["Jet"].fields[:3], b["MET_pt"].dtype.name
        ([10, 10, 11, 11, 12, 12], 6, ['pt', 'eta', 'phi'], 'float32')
    """
    import uproot

    with uproot.open(path) as f:
        arrays = f["Events"].arrays(branches, entry_start=start, entry_stop=stop)
    gen = genevents.from_branches(arrays, source=path)
    sim = worker_engine(models_dir, precision=precision).simulate(gen, seed=seed, replicas=replicas,
                                                  source=f"{path} (entries {start}-{stop})")
    rep = np.asarray(sim["FlashSim"]["genEventIdx"])
    out: dict = {name: ak.to_numpy(arrays[name])[rep] for name in EVENT_IDS if name in arrays.fields}
    for coll in GEN_COPIED:
        fields = [k.removeprefix(f"{coll}_") for k in arrays.fields if k.startswith(f"{coll}_")]
        if not fields:
            continue
        if arrays[f"{coll}_{fields[0]}"].ndim > 1:
            out[coll] = ak.zip({f: arrays[f"{coll}_{f}"][rep] for f in fields})
        else:
            out.update({f"{coll}_{f}": ak.to_numpy(arrays[f"{coll}_{f}"])[rep] for f in fields})
    for name in sim.fields:
        value = sim[name]
        if value.ndim > 1:  # a jagged collection: n<Name> and <Name>_<field>
            out[name] = value
            continue
        for f in value.fields:
            out[f"{name}_{f}"] = ak.to_numpy(value[f])
    out["FlashSim_genEventIdx"] = out["FlashSim_genEventIdx"] + np.int64(offset)
    w = ak.to_numpy(arrays["genWeight"]).astype(np.float64) if "genWeight" in arrays.fields else np.ones(stop - start)
    return {"branches": out, "events": stop - start, "sumw": float(w.sum()), "sumw2": float((w**2).sum())}


def plan(inputs: list[tuple[str, int, list[str]]], step: int, entry_stop: int | None = None) -> list[tuple]:
    """The chunks: ``(path, start, stop, branches, offset)``, at most ``step`` events each, in input order
    (``entry_stop``: at most that many events per file).

    Example:
        >>> [c[:3] + c[4:] for c in plan([("a.root", 5, []), ("b.root", 3, [])], step=4)]
        [('a.root', 0, 4, 0), ('a.root', 4, 5, 4), ('b.root', 0, 3, 5)]
    """
    jobs, offset = [], 0
    for path, n, names in inputs:
        n = min(n, entry_stop) if entry_stop is not None else n
        for start in range(0, n, step):
            stop = min(start + step, n)
            jobs.append((path, start, stop, names, offset + start))
        offset += n
    return jobs


def _ordered(executor: Executor | None, jobs: list[tuple], kwargs: dict, ahead: int) -> Iterator[dict]:
    """:func:`simulate_chunk` of each job (``kwargs``: its settings), in order; with an executor at most
    ``ahead`` tasks in flight."""
    if executor is None:
        for path, start, stop, names, offset in jobs:
            yield simulate_chunk(path, start, stop, names, offset=offset, **kwargs)
        return
    todo = iter(jobs)
    pending: deque = deque()

    def submit() -> None:
        job = next(todo, None)
        if job is not None:
            path, start, stop, names, offset = job
            pending.append(executor.submit(simulate_chunk, path, start, stop, names, offset=offset, **kwargs))

    for _ in range(ahead):
        submit()
    while pending:
        res = pending.popleft().result()
        submit()
        yield res


def _free_chunk() -> None:
    """Free a written chunk now: its awkward/uproot arrays sit in reference cycles that only a full
    garbage collection frees (with torch and coffea loaded, Python runs one rarely), then hand the
    freed heap back (:func:`flashsim_coffea.train.rows.release_memory`). Without it the resident
    memory grew with every chunk (issue 26)."""
    from flashsim_coffea.train.rows import release_memory

    # a SIGTERM whose handler raises (``flashsim simulate`` exits) must not land in a finaliser the
    # collection runs: Python would print "Exception ignored" there and the killed run would go on
    # to write its file. It is held until the collection is over.
    held: list = []
    main = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGTERM, lambda *a: held.append(a)) if main else None
    try:
        gc.collect()
        release_memory()
    finally:
        if main:
            signal.signal(signal.SIGTERM, old)
    if held:
        if callable(old):
            old(*held[0])
        else:
            os.kill(os.getpid(), signal.SIGTERM)


def input_runs(paths: list[str]) -> dict | None:
    """Sums of ``genEventCount``, ``genEventSumw``, ``genEventSumw2`` over the inputs' ``Runs`` trees
    (None if one input lacks them), and the first input's ``flashsim_metadata`` if any.

    Example:
        >>> input_runs([str(SHARED / "nano_tt_v12.root")]) is None  # this file has no Runs tree
        True
    """
    import uproot

    total = {"genEventCount": 0, "genEventSumw": 0.0, "genEventSumw2": 0.0}
    for p in paths:
        with uproot.open(p) as f:
            if "Runs" not in f or any(k not in f["Runs"].keys() for k in total):
                return None
            runs = f["Runs"].arrays(list(total), library="np")
        for k in total:
            total[k] += runs[k].sum()
    return {"genEventCount": int(total["genEventCount"]), "genEventSumw": float(total["genEventSumw"]),
            "genEventSumw2": float(total["genEventSumw2"])}


def _input_metadata(path: str) -> dict:
    import uproot

    with uproot.open(path) as f:
        return json.loads(str(f["flashsim_metadata"])) if "flashsim_metadata" in f else {}


def simulate(
    inputs: list,
    out: str | os.PathLike,
    *,
    replicas: int = 1,
    models_dir: str | os.PathLike | None = None,
    seed: int = 1,
    step: int = STEP,
    executor: Executor | None = None,
    ahead: int = 4,
    progress: bool = True,
    entry_stop: int | None = None,
    precision: str | None = None,
) -> dict:
    """Write the flash NanoAOD file ``out`` of the gen-level NanoAOD files ``inputs`` (see the module doc).

    Arguments:
        inputs: gen-level NanoAOD files (reference samples, real CMS NanoAOD).
        out: the output ROOT file (written under a temporary name, renamed when complete).
        replicas: K flash events per gen event.
        models_dir: the model set (default: the shipped one).
        seed: the simulation seed (same seed and K: identical flash events).
        step: gen events per chunk.
        executor: chunks run as its tasks (:func:`flashsim_coffea.cluster.executor`); default: this process.
        ahead: with an executor, chunks in flight at most (memory: ``ahead`` chunks' results).
        progress: show a progress bar (gen events).
        entry_stop: at most this many events of each input.
        precision: of the flows (:mod:`flashsim_coffea.sim.precision`; default: the models index's).

    Returns:
        The metadata written to ``flashsim_metadata``. Raises :class:`SimulateInputError` for an
        unreadable input (before any work) and ``GenInputError`` for a NaN/inf gen value (no file written).
    """
    from tqdm.auto import tqdm

    from flashsim_coffea.reference.code_version import code_version
    from flashsim_coffea.reference.generate import atomic_root, branch_types, package_version, write_runs
    from flashsim_coffea.sim.cards import DEFAULT_MODELS, read_index
    from flashsim_coffea.sim.engine import DEFAULT_PRECISION
    from flashsim_coffea.sim.precision import resolve

    if replicas < 1:
        raise ValueError(f"replicas must be >= 1, got {replicas}")
    models_dir = os.fspath(models_dir if models_dir is not None else DEFAULT_MODELS)
    checked = check_inputs(inputs)
    jobs = plan(checked, step, entry_stop)
    paths = [p for p, _, _ in checked]
    events = sum(stop - start for _, start, stop, _, _ in jobs)
    if events == 0:
        raise SimulateInputError(f"{', '.join(paths)}: no events")
    runs = input_runs(paths) if entry_stop is None else None
    in_meta = _input_metadata(paths[0])
    sumw = sumw2 = 0.0
    with atomic_root(out) as f, tqdm(total=events, unit="ev", desc=f"flash x{replicas}", disable=not progress) as bar:
        tree = None
        settings = {"models_dir": models_dir, "seed": seed, "replicas": replicas, "precision": precision}
        for res in _ordered(executor, jobs, settings, ahead):
            if tree is None:
                tree = f.mktree("Events", branch_types(res["branches"]), title="Events")
            tree.extend(res["branches"])
            sumw += res["sumw"]
            sumw2 += res["sumw2"]
            bar.update(res["events"])
            del res
            _free_chunk()
        if runs is None:
            runs = {"genEventCount": events, "genEventSumw": sumw, "genEventSumw2": sumw2}
        meta = {
            "kind": "flash",
            "inputs": paths,
            "events": events,
            "flash_events": events * replicas,
            "replicas": replicas,
            "precision": resolve(precision or read_index(models_dir).get("precision", DEFAULT_PRECISION), "cpu"),
            "seed": seed,
            "models": models_dir,
            "models_hash": models_hash(models_dir),
            "process": in_meta.get("process"),
            "xsec_pb": in_meta.get("xsec_pb"),
            "pileup_mu": in_meta.get("pileup_mu"),
            "input_code_version": in_meta.get("code_version"),
            "code_version": code_version(),
            "flashsim_version": package_version(),
            "sumw": runs["genEventSumw"] * replicas,
        }
        f["flashsim_metadata"] = json.dumps(meta, sort_keys=True)
        write_runs(f, runs["genEventCount"] * replicas, runs["genEventSumw"] * replicas,
                   runs["genEventSumw2"] * replicas,
                   FlashSim_genEventCount=np.array([runs["genEventCount"]], np.int64),
                   FlashSim_genEventSumw=np.array([runs["genEventSumw"]], np.float64),
                   FlashSim_replicas=np.array([replicas], np.int32))
    return meta
