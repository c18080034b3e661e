"""Training tables on disk: one streamed pass over FullSim NanoAOD for every source, as Parquet.

:func:`extract` cuts the input files into chunks of at most ``step`` events, and for each chunk
reads only that chunk, computes the training tables of every source (:func:`.extract.tables`)
and writes them as Parquet files; memory holds one chunk at a time, whatever the number of
events. Chunks are independent tasks: with an ``executor`` (a
:class:`concurrent.futures.Executor`, e.g. a dask.distributed ``Client.get_executor()``) they
run in parallel. A chunk is done when its marker ``chunks/<chunk>.json`` exists (written last,
after its tables, each written to a temporary name and renamed), so an interrupted extraction
resumes without redoing finished chunks.

Layout of a tables folder::

    manifest.json                              inputs (files, entries), step, sources, code versions
    chunks/<chunk>.json                        a finished chunk: its events and rows per table
    <source key>/selection/<chunk>.parquet     efficiency rows: ``cond_*`` + ``label`` (or per-event ``count``)
    <source key>/pairs/<chunk>.parquet         reconstructed objects: ``cond_*``, gen values, reco targets

Reading a table back (:func:`read_table`) concatenates the chunks in input order, so the rows
are those :func:`.extract.tables` gives on all the files at once.

Example:
    >>> import tempfile
    >>> out = tempfile.mkdtemp()
    >>> summary = extract([SHARED / "nano_tt_v12.root"], out, step=20, events=40, keys=["Muon_genmuon"], progress=False)
    >>> summary["chunks"], summary["done"], summary["events"]
    (2, 2, 40)
    >>> t = read_table(out, "Muon_genmuon", "selection")
    >>> sorted(t)[:2], len(t["label"]) == summary["rows"]["Muon_genmuon"]["selection"]
    (['cond_HT', 'cond_abs_eta'], True)
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import Executor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from flashsim_coffea.specs import all_sources
from flashsim_coffea.train import extract as extraction

#: manifest schema version of a tables folder.
STORE_VERSION = 1
#: default events per chunk (a chunk of reference ttbar holds ~1 GB while its tables are computed).
STEP = 20_000
KINDS = ("selection", "pairs")


@dataclass(frozen=True)
class Chunk:
    """Events ``[start, stop)`` of input file number ``file`` (``path``)."""

    file: int
    path: str
    start: int
    stop: int

    @property
    def name(self) -> str:
        return f"{self.file:04d}-{Path(self.path).stem}-{self.start:010d}"


def plan(paths: list[str | os.PathLike], step: int = STEP, events: int | None = None) -> list[Chunk]:
    """Chunks of at most ``step`` events over ``paths`` (at most ``events`` per file), in input order."""
    import uproot

    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    out = []
    for i, path in enumerate(paths):
        with uproot.open(path) as f:
            if "Events" not in f:
                raise extraction.genevents.GenInputError(f"{path}: no Events tree")
            n = f["Events"].num_entries
        n = n if events is None else min(n, events)
        out += [Chunk(i, os.fspath(path), a, min(a + step, n)) for a in range(0, n, step)]
    return out


def _write_parquet(path: Path, columns: dict[str, np.ndarray]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({k: np.ascontiguousarray(v) for k, v in columns.items()})
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return table.num_rows


def extract_chunk(chunk: Chunk, out: str | os.PathLike, keys: list[str]) -> dict:
    """Compute and write the tables of ``keys`` for one chunk; returns (and writes) its marker."""
    out = Path(out)
    ev = extraction.read([chunk.path], entry_start=chunk.start, entry_stop=chunk.stop)
    sources = all_sources()
    rows: dict[str, dict[str, int] | None] = {}
    shared: dict = {}  # what several sources of the chunk share (candidates, matches, features)
    for key in keys:
        src = sources[key]
        if src.collection and src.collection not in ev.fields:
            rows[key] = None  # the file has no such reco collection
            continue
        t = extraction.tables(ev, src, shared)
        rows[key] = {}
        if "label" in t or "count" in t:
            sel = {f"cond_{k}": v for k, v in t["cond"].items()}
            sel.update({k: t[k] for k in ("label", "count") if k in t})
            rows[key]["selection"] = _write_parquet(out / key / "selection" / f"{chunk.name}.parquet", sel)
        rows[key]["pairs"] = _write_parquet(out / key / "pairs" / f"{chunk.name}.parquet", t["pairs"])
    marker = {"chunk": asdict(chunk), "events": len(ev), "rows": rows}
    path = out / "chunks" / f"{chunk.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(marker))
    os.replace(tmp, path)
    return marker


def _manifest(paths: list[str | os.PathLike], step: int, events: int | None, keys: list[str]) -> dict:
    from flashsim_coffea.train.sources import provenance

    return {"store_version": STORE_VERSION, "files": [os.fspath(Path(p).resolve()) for p in paths], "step": step,
            "events_per_file": events, "sources": keys, "provenance": provenance(paths, 0)}


def extract(paths: list[str | os.PathLike], out: str | os.PathLike, *, step: int = STEP, events: int | None = None,
            keys: list[str] | None = None, executor: Executor | None = None, progress: bool = True) -> dict:
    """Write the training tables of ``keys`` (default: every source) for ``paths`` into ``out``.

    Resumable: chunks whose marker exists are skipped; a folder made from other inputs, step
    or sources is refused. ``executor``: chunks run as its tasks (default: one after another
    in this process).

    Returns:
        ``chunks`` (planned), ``done`` (finished, this run or before), ``ran`` (this run),
        ``events``, ``rows`` (per source and table), ``seconds``.
    """
    from tqdm.auto import tqdm

    out = Path(out)
    known = all_sources()
    keys = list(keys or known)
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise ValueError(f"unknown source(s) {unknown}; known: {sorted(known)}")
    manifest = _manifest(paths, step, events, keys)
    mpath = out / "manifest.json"
    if mpath.exists():
        old = json.loads(mpath.read_text())
        for k in ("store_version", "files", "step", "events_per_file", "sources"):
            if old.get(k) != manifest[k]:
                raise ValueError(f"{mpath}: made with {k}={old.get(k)!r}, this run has {k}={manifest[k]!r}; "
                                 "use another --out or the same inputs")
    else:
        out.mkdir(parents=True, exist_ok=True)
        mpath.write_text(json.dumps(manifest, indent=1))
    chunks = plan(paths, step, events)
    todo = [c for c in chunks if not (out / "chunks" / f"{c.name}.json").exists()]
    start = time.perf_counter()
    bar = tqdm(total=len(chunks), initial=len(chunks) - len(todo), desc="extract", unit="chunk", disable=not progress)
    if executor is None:
        for c in todo:
            extract_chunk(c, out, keys)
            bar.update()
    else:
        for f in as_completed([executor.submit(extract_chunk, c, out, keys) for c in todo]):
            f.result()
            bar.update()
    bar.close()
    markers = [json.loads((out / "chunks" / f"{c.name}.json").read_text()) for c in chunks]
    rows: dict[str, dict[str, int]] = {}
    for m in markers:
        for key, r in m["rows"].items():
            for kind, n in (r or {}).items():
                rows.setdefault(key, {}).setdefault(kind, 0)
                rows[key][kind] += n
    return {"chunks": len(chunks), "done": len(markers), "ran": len(todo), "events": sum(m["events"] for m in markers),
            "rows": rows, "seconds": round(time.perf_counter() - start, 2)}


def chunk_files(out: str | os.PathLike, key: str, kind: str) -> list[Path]:
    """The Parquet files of one table, in input order (finished chunks only)."""
    if kind not in KINDS:
        raise ValueError(f"unknown table kind {kind!r} (known: {KINDS})")
    out = Path(out)
    done = sorted(p.stem for p in (out / "chunks").glob("*.json"))
    return [p for name in done if (p := out / key / kind / f"{name}.parquet").exists()]


class Table:
    """One table of one source on disk: its columns and rows read on demand, chunk by chunk.

    Training reads a whole column (labels, |η| for the acceptance: one number per row) or the
    rows it trains on (:meth:`take`), never the whole table at once: memory follows the rows
    a model trains on, not the size of the inputs.

    Example:
        >>> import tempfile
        >>> out = tempfile.mkdtemp()
        >>> _ = extract([SHARED / "nano_tt_v12.root"], out, step=25, events=50, keys=["Muon_genmuon"], progress=False)
        >>> t = Table(out, "Muon_genmuon", "pairs")
        >>> len(t), t.column("pt")[:2].round(1).tolist()
        (39, [44.0, 3.3])
        >>> t.take(np.array([1, 30]), ["pt"])["pt"].round(1).tolist()
        [3.3, 25.1]
    """

    def __init__(self, out: str | os.PathLike, key: str, kind: str):
        import pyarrow.parquet as pq

        self.files = chunk_files(out, key, kind)
        if not self.files:
            raise FileNotFoundError(f"{out}: no {kind} table of {key} (not extracted, or the files lack its collection)")
        meta = [pq.read_metadata(f) for f in self.files]
        self.columns: list[str] = list(meta[0].schema.names)
        self.offsets = np.concatenate([[0], np.cumsum([m.num_rows for m in meta])]).astype(np.int64)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def column(self, name: str) -> np.ndarray:
        """Every row of one column."""
        import pyarrow.parquet as pq

        return np.concatenate([pq.read_table(f, columns=[name]).column(0).to_numpy() for f in self.files])

    def take(self, rows: np.ndarray, names: list[str] | None = None) -> dict[str, np.ndarray]:
        """The columns ``names`` (default: all) of the rows ``rows`` (increasing row numbers)."""
        import pyarrow.parquet as pq

        rows = np.asarray(rows, np.int64)
        if len(rows) > 1 and np.any(np.diff(rows) <= 0):
            raise ValueError("take needs increasing row numbers")
        names = list(self.columns if names is None else names)
        bounds = np.searchsorted(rows, self.offsets)
        parts: dict[str, list[np.ndarray]] = {k: [] for k in names}
        for f, a, b, start in zip(self.files, bounds[:-1], bounds[1:], self.offsets[:-1]):
            if a == b:
                continue
            table = pq.read_table(f, columns=names)
            local = rows[a:b] - start
            for k in names:
                parts[k].append(table.column(k).to_numpy()[local])
        return {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()}


def source_tables(out: str | os.PathLike, key: str) -> dict[str, Table]:
    """The tables of one source: ``pairs`` and, for candidate and count sources, ``selection``."""
    found = {kind: Table(out, key, kind) for kind in KINDS if chunk_files(out, key, kind)}
    if "pairs" not in found:
        raise FileNotFoundError(f"{out}: no tables of {key} (not extracted, or the files lack its collection)")
    return found


def events(out: str | os.PathLike) -> int:
    """Events of the finished chunks of a tables folder."""
    return sum(json.loads(p.read_text())["events"] for p in (Path(out) / "chunks").glob("*.json"))


def read_table(out: str | os.PathLike, key: str, kind: str, columns: list[str] | None = None) -> dict[str, np.ndarray]:
    """One table of a source, every finished chunk concatenated in input order (numpy columns)."""
    t = Table(out, key, kind)
    return t.take(np.arange(len(t)), columns)
