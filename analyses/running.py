"""Running an analysis: filesets (reference samples, JSON, file metadata, sumw), executors, :func:`run`.

A fileset (JSON, :func:`load_fileset`, or the embedded reference samples made by
``flashsim_coffea.reference.cache.sample``, :func:`reference_fileset`) gets its cross-section,
sum of weights and entries (:func:`complete_metadata`), then goes through
``coffea.processor.Runner`` (iterative, futures or dask executor) or dask-awkward
``apply_to_fileset`` (:func:`run`), once with the :class:`~analyses.analysis.Analysis` itself
(FullSim) and once through ``processors.flashsim.FlashSimProcessor`` (:func:`flash_processor`).
A user's fileset is checked before any of this (:func:`load_fileset` its JSON, :func:`check_fileset`
its files): the problems raise :class:`FilesetError`, one line naming the file, dataset, key or value.

Example:
    >>> type(make_executor("iterative", 1)).__name__
    'IterativeExecutor'
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
from coffea import processor

from analyses.analysis import Analysis
from analyses.selection import RECO_BRANCHES
from processors.schema import NanoAODSchema

#: the background processes of each analysis' embedded reference fileset (``flashsim generate``
#: processes with generator-level filters; their ``xsec_pb`` metadata is sigma x filter efficiency and
#: their ``genWeight`` holds 1 / keep probability, so :func:`~analyses.selection.event_weight` is exact).
BACKGROUNDS = {
    "vbf_hmumu": ("dy_mumu_vbf", "ttbar_dilep", "vbf_x_mumu"),
    "zh_llbb": ("dy_mumu_zh", "ttbar_dilep"),
}


def _sumw(f: Any) -> float | None:
    """Sum of generator weights of an open file's ``Runs`` tree (``genEventSumw`` or Run-2 ``genEventSumw_``)."""
    if "Runs" not in f:
        return None
    runs = f["Runs"]
    for name in ("genEventSumw", "genEventSumw_"):
        if name in runs.keys():
            return float(np.sum(runs[name].array(library="np")))
    return None


def _metadata(f: Any, treename: str) -> dict:
    """xsec (pb) and the rest of ``flashsim_metadata`` when present, ``entries`` and ``sumw`` of an open file."""
    md: dict = json.loads(str(f["flashsim_metadata"])) if "flashsim_metadata" in f else {}
    md["entries"] = int(f[treename].num_entries)
    md["sumw"] = _sumw(f)
    return md


def sumw_of(path: str | os.PathLike) -> float | None:
    """Sum of generator weights from the ``Runs`` tree (``genEventSumw`` or Run-2 ``genEventSumw_``)."""
    import uproot

    with uproot.open(path) as f:
        return _sumw(f)


def file_metadata(path: str | os.PathLike, treename: str = "Events") -> dict:
    """xsec (pb), sumw and number of entries of one file (``flashsim_metadata`` when present)."""
    import uproot

    with uproot.open(path) as f:
        return _metadata(f, treename)


def reference_fileset(signal: str, events: int, seed: int, backgrounds: tuple[str, ...] | None = None) -> dict:
    """The embedded default: cached reference samples of the signal and its analysis' backgrounds
    (:data:`BACKGROUNDS` of the analysis whose signal is ``signal``, unless given)."""
    from flashsim_coffea.reference import cache

    if backgrounds is None:
        backgrounds = BACKGROUNDS[signal]
    fileset = {}
    for i, proc in enumerate((signal, *backgrounds)):
        print(f"[fileset] reference sample {proc}: {events} events, seed {seed + i}", flush=True)
        path = cache.sample(proc, events, seed + i)
        fileset[proc] = {"files": {os.fspath(path): "Events"}, "metadata": {"process": proc}}
    return fileset


class FilesetError(ValueError):
    """A fileset the analyses cannot run; the message is one line naming the file, dataset, key or value."""


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def load_fileset(path: str | os.PathLike) -> dict:
    """A Runner fileset from JSON: ``{dataset: {"files": [...] | {path: "Events"}, "metadata": {...}}}``
    or ``{dataset: [files]}``; ``metadata.process`` defaults to the dataset name.

    Raises :class:`FilesetError` for a missing or malformed file, a dataset without files and a
    metadata value of the wrong type (``xsec_pb`` and ``sumw``: a positive number or null).

    Example:
        >>> import tempfile
        >>> bad = Path(tempfile.mkdtemp()) / "fs.json"
        >>> _ = bad.write_text('{"dy": {"files": ["dy.root"], "metadata": {"xsec_pb": "6000"}}}')
        >>> try:
        ...     load_fileset(bad)
        ... except FilesetError as err:
        ...     print(str(err).replace(str(bad), "fs.json"))
        fs.json: dataset 'dy': metadata.xsec_pb must be a positive number or null, got '6000'
    """
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise FilesetError(f"{path}: no such fileset file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise FilesetError(f"{path}: cannot read the fileset ({_one_line(err)})") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise FilesetError(f"{path}: not valid JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
    if not isinstance(raw, dict) or not raw:
        raise FilesetError(f'{path}: expected a JSON object {{dataset: {{"files": [...], "metadata": {{...}}}}}}, '
                           f"got {type(raw).__name__ if raw else 'an empty one'}")
    out = {}
    for ds, spec in raw.items():
        where = f"{path}: dataset {ds!r}"
        if isinstance(spec, list):
            spec = {"files": spec}
        if not isinstance(spec, dict) or "files" not in spec:
            raise FilesetError(f'{where}: expected a list of files or an object with a "files" key')
        files = spec["files"]
        if isinstance(files, list):
            files = {f: "Events" for f in files} if all(isinstance(f, str) for f in files) else None
        if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
            raise FilesetError(f'{where}: "files" must be a list of paths or an object {{path: tree name}}')
        if not files:
            raise FilesetError(f'{where}: "files" is empty')
        md = spec.get("metadata", {})
        if not isinstance(md, dict):
            raise FilesetError(f'{where}: "metadata" must be an object, got {md!r}')
        for key in ("xsec_pb", "sumw"):
            v = md.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or not (math.isfinite(v) and v > 0)):
                raise FilesetError(f"{where}: metadata.{key} must be a positive number or null, got {v!r}")
        if not isinstance(md.get("process", ""), str):
            raise FilesetError(f"{where}: metadata.process must be a string, got {md['process']!r}")
        out[ds] = {"files": dict(files), "metadata": {"process": ds, **md}}
    return out


def missing_branches(have: set[str], fullsim: bool = True, flash: bool = False) -> list[str]:
    """The branches of ``have`` lacking for the FullSim pass (:data:`~analyses.selection.RECO_BRANCHES`)
    and/or the flash pass (the gen branches the engine reads, their counters and the event ids).

    Example:
        >>> missing_branches({"run", "luminosityBlock", "event"}, fullsim=False, flash=True)[:3]
        ['GenPart_pt', 'GenPart_eta', 'GenPart_phi']
    """
    from flashsim_coffea.nanoaod import genevents

    need = list(RECO_BRANCHES) if fullsim else []
    if flash:
        counters = []
        for coll, fields in genevents.GEN_BRANCHES.items():
            if coll in genevents.OPTIONAL and f"{coll}_pt" not in have:
                continue  # an optional gen collection (GenVisTau) drops only its reco collection
            need += [f"{coll}_{f}" for f in fields]
            counters += [] if coll in genevents.SCALAR_COLLECTIONS else [f"n{coll}"]
        need += [*counters, "run", "luminosityBlock", "event"]
    return [b for b in dict.fromkeys(need) if b not in have]


def check_file(path: str, treename: str = "Events", fullsim: bool = True, flash: bool = False) -> dict:
    """Raise :class:`FilesetError` unless ``path`` is a ROOT file whose ``treename`` TTree has the
    branches the requested passes read (:func:`missing_branches`); local files must exist.
    Returns the file's metadata (as :func:`file_metadata`, read while the file is open).

    Example:
        >>> check_file(str(SHARED / "nano_tt_v12.root"), fullsim=True, flash=True)["entries"]
        200
        >>> try:
        ...     check_file(str(SHARED / "nano_tt_v12.root"), treename="Runs")
        ... except FilesetError as err:
        ...     print(str(err).replace(str(SHARED), "SHARED"))
        SHARED/nano_tt_v12.root: no TTree 'Runs' (it holds: Events;1), not a NanoAOD file?
    """
    import uproot

    remote = "://" in path and not path.startswith("file://")
    if not remote:
        local = Path(path.removeprefix("file://"))
        if not local.exists():
            raise FilesetError(f"{path}: no such file")
        if not local.is_file():
            raise FilesetError(f"{path}: not a file")
        with open(local, "rb") as f:
            head = f.read(4)
        if head != b"root":
            raise FilesetError(f"{path}: not a ROOT file (it starts with {head!r}, not b'root')")
    try:
        with uproot.open(path) as f:
            if treename not in f:
                keys = ", ".join(f.keys(recursive=False)[:5]) or "nothing"
                raise FilesetError(f"{path}: no TTree {treename!r} (it holds: {keys}), not a NanoAOD file?")
            tree = f[treename]
            if isinstance(tree, uproot.TTree):
                have = set(tree.keys())
            elif isinstance(tree, uproot.behaviors.RNTuple.RNTuple):
                # fields "Muon.pt" (or "<anything>.Muon_pt"), counters implicit: compare flat names only
                fields = tree.keys()
                have = {k.replace(".", "_") for k in fields} | {k.rsplit(".", 1)[-1] for k in fields}
                have |= {b for b in missing_branches(have, fullsim, flash) if b[0] == "n" and b[1].isupper()}
            else:
                raise FilesetError(f"{path}: {treename!r} is a {type(tree).__name__}, not a TTree or RNTuple")
            md = _metadata(f, treename)
    except FilesetError:
        raise
    except Exception as err:
        raise FilesetError(f"{path}: cannot be read as a ROOT file ({_one_line(err)})") from None
    for passes, lacking in (("the FullSim pass (reco collections)", missing_branches(have, fullsim, False)),
                            ("the flash pass (gen collections)", missing_branches(have, False, flash))):
        if lacking:
            more = f" (and {len(lacking) - 1} more)" if len(lacking) > 1 else ""
            raise FilesetError(f"{path}: tree {treename!r} has no branch {lacking[0]}{more} needed by {passes}")
    return md


def check_fileset(fileset: dict, fullsim: bool = True, flash: bool = False) -> dict:
    """Check every file of ``fileset`` (:func:`check_file`) before any pass runs; the
    :class:`FilesetError` also names the dataset (``path (dataset 'dy'): ...``).

    Returns the fileset with each dataset's ``file_metadata`` (``{path: metadata}``), which
    :func:`complete_metadata` uses instead of opening the files again."""
    out = {}
    for ds, spec in fileset.items():
        metas = {}
        for path, treename in spec["files"].items():
            try:
                metas[path] = check_file(path, treename, fullsim, flash)
            except FilesetError as err:
                raise FilesetError(f"{path} (dataset {ds!r}){str(err).removeprefix(path)}") from None
        out[ds] = {**spec, "file_metadata": metas}
    return out


def complete_metadata(fileset: dict, max_events: int | None = None) -> dict:
    """Add ``xsec_pb`` (from file metadata unless given), ``sumw`` and ``entries`` to each dataset.

    With ``max_events`` only the first events of each dataset are run; sumw is scaled by the
    fraction of entries used (exact for unweighted samples). Files are opened once: a dataset's
    ``file_metadata`` (from :func:`check_fileset`) is used when present.
    """
    out = {}
    for ds, spec in fileset.items():
        md = dict(spec.get("metadata", {}))
        files = spec["files"] if isinstance(spec["files"], dict) else {f: "Events" for f in spec["files"]}
        known = spec.get("file_metadata", {})
        metas = [known[f] if f in known else file_metadata(f, tree) for f, tree in files.items()]
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
            print(f"[fileset] {ds}: no cross-section (metadata.xsec_pb), weights are genWeight only", file=sys.stderr)
        elif not md["sumw"]:
            print(f"[fileset] {ds}: no sum of gen weights (metadata.sumw or a Runs tree), weights are genWeight only",
                  file=sys.stderr)
        out[ds] = {"files": spec["files"], "metadata": md}
    return out


def make_executor(kind: str, workers: int, client: Any = None):
    """A ``coffea.processor`` executor; ``dask`` runs on ``client`` (a ``distributed.Client``)."""
    if kind == "iterative":
        return processor.IterativeExecutor()
    if kind == "futures":
        return processor.FuturesExecutor(workers=workers)
    if kind == "dask":
        if client is None:
            raise ValueError("the dask executor needs a distributed.Client (flashsim_coffea.cluster.client)")
        return processor.DaskExecutor(client=client)
    raise SystemExit(f"unknown executor {kind!r}")


def run(fileset: dict, proc: Any, executor: str = "iterative", workers: int = 2, chunksize: int = 50_000,
        max_events: int | None = None, client: Any = None) -> dict:
    """Run ``proc`` over ``fileset`` with ``processor.Runner`` (NanoAODSchema) or dask-awkward.

    ``client``: a ``distributed.Client`` (of a facility's dask-gateway or dask-jobqueue
    cluster, or :func:`flashsim_coffea.cluster.client`) that the ``dask`` and ``dask-awkward``
    executors run on; without one, ``dask`` starts a LocalCluster of ``workers`` processes for
    this call and ``dask-awkward`` uses dask's default scheduler.
    """
    if executor == "dask" and client is None:
        from flashsim_coffea import cluster

        with cluster.client(workers) as c:
            return run(fileset, proc, executor, workers, chunksize, max_events, c)
    if executor == "dask-awkward":
        return _run_dask_awkward(fileset, proc, chunksize, max_events, client)
    if max_events:
        chunksize = min(chunksize, max_events)
    runner = processor.Runner(
        make_executor(executor, workers, client), schema=NanoAODSchema, chunksize=chunksize,
        maxchunks=(-(-max_events // chunksize) if max_events else None),
    )
    return runner(fileset, proc, treename="Events")


def _run_dask_awkward(fileset: dict, proc: Any, chunksize: int, max_events: int | None, client: Any = None) -> dict:
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
    (out,) = dask.compute(graphs, scheduler=None if client is None else client.get)
    return processor.accumulate(out.values())


def flash_processor(analysis: Analysis, replicas: int, seed: int, models_dir: str | None = None):
    """``FlashSimProcessor(analysis)`` (imported lazily); ``None`` with a message if unavailable."""
    try:
        from processors.flashsim import FlashSimProcessor
    except ImportError as err:
        print(f"[flash] FlashSim processor unavailable ({err}); running FullSim only", file=sys.stderr)
        return None
    return FlashSimProcessor(analysis, models_dir=models_dir, replicas=replicas, seed=seed)
