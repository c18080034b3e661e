"""Running an analysis: filesets (reference samples, JSON, file metadata, sumw), executors, :func:`run`.

A fileset (JSON, :func:`load_fileset`, or the embedded reference samples made by
``flashsim_coffea.reference.cache.sample``, :func:`reference_fileset`) gets its cross-section,
sum of weights and entries (:func:`complete_metadata`), then goes through
``coffea.processor.Runner`` (iterative, futures or dask executor) or dask-awkward
``apply_to_fileset`` (:func:`run`), once with the :class:`~analyses.analysis.Analysis` itself
(FullSim) and once through ``processors.flashsim.FlashSimProcessor`` (:func:`flash_processor`).

Example:
    >>> type(make_executor("iterative", 1)).__name__
    'IterativeExecutor'
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
from coffea import processor
from coffea.nanoevents import NanoAODSchema

from analyses.analysis import Analysis

#: the background processes of the embedded reference fileset.
BACKGROUNDS = ("dy", "ttbar")


def sumw_of(path: str | os.PathLike) -> float | None:
    """Sum of generator weights from the ``Runs`` tree (``genEventSumw`` or Run-2 ``genEventSumw_``)."""
    import uproot

    with uproot.open(path) as f:
        if "Runs" not in f:
            return None
        runs = f["Runs"]
        for name in ("genEventSumw", "genEventSumw_"):
            if name in runs.keys():
                return float(np.sum(runs[name].array(library="np")))
    return None


def file_metadata(path: str | os.PathLike) -> dict:
    """xsec (pb), sumw and number of entries of one file (``flashsim_metadata`` when present)."""
    import uproot

    md: dict = {}
    with uproot.open(path) as f:
        if "flashsim_metadata" in f:
            md.update(json.loads(str(f["flashsim_metadata"])))
        md["entries"] = int(f["Events"].num_entries)
    md["sumw"] = sumw_of(path)
    return md


def reference_fileset(signal: str, events: int, seed: int, backgrounds: tuple[str, ...] = BACKGROUNDS) -> dict:
    """The embedded default: cached reference samples of the signal and backgrounds."""
    from flashsim_coffea.reference import cache

    fileset = {}
    for i, proc in enumerate((signal, *backgrounds)):
        print(f"[fileset] reference sample {proc}: {events} events, seed {seed + i}", flush=True)
        path = cache.sample(proc, events, seed + i)
        fileset[proc] = {"files": {os.fspath(path): "Events"}, "metadata": {"process": proc}}
    return fileset


def load_fileset(path: str | os.PathLike) -> dict:
    """A Runner fileset from JSON: ``{dataset: {"files": [...] | {path: "Events"}, "metadata": {...}}}``
    or ``{dataset: [files]}``; ``metadata.process`` defaults to the dataset name."""
    raw = json.loads(Path(path).read_text())
    out = {}
    for ds, spec in raw.items():
        if isinstance(spec, list):
            spec = {"files": spec}
        files = spec["files"]
        if isinstance(files, list):
            files = {f: "Events" for f in files}
        out[ds] = {"files": dict(files), "metadata": {"process": ds, **spec.get("metadata", {})}}
    return out


def complete_metadata(fileset: dict, max_events: int | None = None) -> dict:
    """Add ``xsec_pb`` (from file metadata unless given), ``sumw`` and ``entries`` to each dataset.

    With ``max_events`` only the first events of each dataset are run; sumw is scaled by the
    fraction of entries used (exact for unweighted samples).
    """
    out = {}
    for ds, spec in fileset.items():
        md = dict(spec.get("metadata", {}))
        metas = [file_metadata(f) for f in spec["files"]]
        entries = sum(m["entries"] for m in metas)
        if md.get("xsec_pb") is None:
            xs = [m.get("xsec_pb") for m in metas if m.get("xsec_pb") is not None]
            md["xsec_pb"] = float(np.mean(xs)) if xs else None
        if md.get("sumw") is None:
            sw = [m["sumw"] for m in metas]
            md["sumw"] = float(sum(sw)) if all(s is not None for s in sw) else None
        used = min(entries, max_events) if max_events else entries
        if md["sumw"] is not None and entries:
            md["sumw"] *= used / entries
        md["entries"] = used
        if md["xsec_pb"] is None:
            print(f"[fileset] {ds}: no cross-section, weights are genWeight only", file=sys.stderr)
        out[ds] = {"files": spec["files"], "metadata": md}
    return out


def make_executor(kind: str, workers: int):
    """A ``coffea.processor`` executor (``dask`` starts a LocalCluster with 1 thread per worker)."""
    if kind == "iterative":
        return processor.IterativeExecutor()
    if kind == "futures":
        return processor.FuturesExecutor(workers=workers)
    if kind == "dask":
        try:
            from distributed import Client, LocalCluster
        except ImportError as err:
            raise SystemExit(f"--executor dask needs dask.distributed ({err}); pip install 'coffea[dask]'") from err
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        return processor.DaskExecutor(client=Client(cluster))
    raise SystemExit(f"unknown executor {kind!r}")


def run(fileset: dict, proc: Any, executor: str = "iterative", workers: int = 2, chunksize: int = 50_000,
        max_events: int | None = None) -> dict:
    """Run ``proc`` over ``fileset`` with ``processor.Runner`` (NanoAODSchema) or dask-awkward."""
    if executor == "dask-awkward":
        return _run_dask_awkward(fileset, proc, chunksize, max_events)
    if max_events:
        chunksize = min(chunksize, max_events)
    runner = processor.Runner(
        make_executor(executor, workers), schema=NanoAODSchema, chunksize=chunksize,
        maxchunks=(-(-max_events // chunksize) if max_events else None),
    )
    return runner(fileset, proc, treename="Events")


def _run_dask_awkward(fileset: dict, proc: Any, chunksize: int, max_events: int | None) -> dict:
    """dask-awkward: ``preprocess`` + ``apply_to_fileset``; the (eager) analysis runs per partition
    through ``to_delayed``. For FlashSim the partitions are flash events mapped lazily from the gen
    branches (only those are read); for FullSim every branch of a partition is read."""
    try:
        import dask
        from coffea.dataset_tools import DataGroupSpec, apply_to_fileset, max_chunks, preprocess
    except ImportError as err:
        raise SystemExit(f"--executor dask-awkward needs coffea[dask-awkward] ({err}); use iterative/futures/dask") from err
    if max_events:
        chunksize = min(chunksize, max_events)
    available, _ = preprocess(DataGroupSpec(fileset), step_size=chunksize)
    if max_events:
        available = max_chunks(available, -(-max_events // chunksize))

    flash = getattr(proc, "flash", None)
    analysis = getattr(proc, "analysis", proc)

    def per_dataset(events):
        # FlashSim: the flash events are a lazily mapped dask-awkward collection that reads only
        # gen branches; the (eager) analysis then runs on each computed partition.
        source = flash(events) if flash is not None else events
        parts = [dask.delayed(analysis.process)(p) for p in source.to_delayed()]
        return dask.delayed(processor.accumulate)(parts)

    graphs = apply_to_fileset(per_dataset, available, schemaclass=NanoAODSchema)
    (out,) = dask.compute(graphs)
    return processor.accumulate(out.values())


def flash_processor(analysis: Analysis, replicas: int, seed: int, models_dir: str | None = None):
    """``FlashSimProcessor(analysis)`` (imported lazily); ``None`` with a message if unavailable."""
    try:
        from processors.flashsim import FlashSimProcessor
    except ImportError as err:
        print(f"[flash] FlashSim processor unavailable ({err}); running FullSim only", file=sys.stderr)
        return None
    return FlashSimProcessor(analysis, models_dir=models_dir, replicas=replicas, seed=seed)
