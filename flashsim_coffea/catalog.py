"""The sample catalogue: every file ``flashsim generate`` and ``flashsim simulate`` wrote, in SQLite.

The bookkeeping of produced samples (as in the LHCb simulation plan's bookkeeping database):
one row per output file with its path, kind (``generate``: a reference sample; ``simulate``: a
flash NanoAOD file), process, events, seed, pileup, replicas, code version, model-set hash,
sha256 and size of the file, cross-section, sum of generator weights, the creating command line
and the time. Writing a file again replaces its row.

Where: ``$FLASHSIM_CATALOG`` if set, else ``~/.flashsim/catalog.sqlite``. Several processes may
write at once (workers generating samples side by side): the database is in WAL mode, each
record is one short transaction, and a writer that finds it locked waits (SQLite's busy timeout,
then retries with back-off) instead of failing.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> tmp = Path(tempfile.mkdtemp())
    >>> sample = tmp / "dy.root"
    >>> _ = sample.write_bytes(b"not really ROOT")
    >>> db = tmp / "catalog.sqlite"
    >>> row = record(sample, {"process": "dy", "events": 3, "seed": 1, "xsec_pb": 6000.0, "sumw": 3.0},
    ...              kind="generate", command="flashsim generate ...", path=db)
    >>> [(r["process"], r["events"], r["sha256"][:8]) for r in rows(db)]
    [('dy', 3, '00ede7e7')]
    >>> verify(db)[0]["status"]
    'ok'
    >>> _ = sample.write_bytes(b"changed")
    >>> verify(db)[0]["status"]
    'modified'
    >>> fs = fileset(db)
    >>> list(fs["dy"]["files"].values()), fs["dy"]["metadata"]
    (['Events'], {'process': 'dy', 'xsec_pb': 6000.0, 'sumw': 3.0})
    >>> import shutil; shutil.rmtree(tmp)
"""

from __future__ import annotations

import datetime
import hashlib
import os
import random
import sqlite3
import time
from pathlib import Path

#: the columns of table ``samples`` (besides ``id``), with their SQLite types.
COLUMNS = {
    "path": "TEXT UNIQUE NOT NULL",
    "kind": "TEXT",
    "process": "TEXT",
    "events": "INTEGER",
    "flash_events": "INTEGER",
    "replicas": "INTEGER",
    "seed": "INTEGER",
    "pileup_mu": "REAL",
    "code_version": "TEXT",
    "flashsim_version": "TEXT",
    "models_hash": "TEXT",
    "sha256": "TEXT",
    "size": "INTEGER",
    "xsec_pb": "REAL",
    "sumw": "REAL",
    "inputs": "TEXT",
    "command": "TEXT",
    "created": "TEXT",
}
#: seconds a writer waits for a lock (SQLite busy timeout), and attempts after that.
TIMEOUT, ATTEMPTS = 30.0, 8


def default_path() -> Path:
    """``$FLASHSIM_CATALOG``, else ``~/.flashsim/catalog.sqlite``."""
    env = os.environ.get("FLASHSIM_CATALOG")
    return Path(env) if env else Path.home() / ".flashsim" / "catalog.sqlite"


def connect(path: str | os.PathLike | None = None) -> sqlite3.Connection:
    """The catalogue at ``path`` (default :func:`default_path`), created if missing, in WAL mode."""
    path = Path(path) if path is not None else default_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=TIMEOUT)
    con.row_factory = sqlite3.Row
    _retry(lambda: con.execute("PRAGMA journal_mode=WAL"))
    cols = ", ".join(f"{k} {v}" for k, v in COLUMNS.items())
    _retry(lambda: con.execute(f"CREATE TABLE IF NOT EXISTS samples (id INTEGER PRIMARY KEY, {cols})"))
    return con


def _retry(fn):
    """``fn()``, retried with random back-off while SQLite says the database is locked or busy."""
    for attempt in range(ATTEMPTS):
        try:
            return fn()
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) and "busy" not in str(err) or attempt == ATTEMPTS - 1:
                raise
            time.sleep(random.uniform(0.05, 0.2) * 2**attempt)
    return None


def sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's content."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _runs_sumw(file: str) -> float | None:
    """``genEventSumw`` summed over the file's ``Runs`` tree (None without one, or if not ROOT)."""
    import uproot

    try:
        with uproot.open(file) as f:
            return float(f["Runs"]["genEventSumw"].array(library="np").sum()) if "Runs" in f else None
    except Exception:  # not a ROOT file: no sum of weights to record
        return None


def record(file: str | os.PathLike, meta: dict, *, kind: str, command: str | None = None,
           path: str | os.PathLike | None = None) -> dict:
    """Record (or re-record) the output ``file`` with its metadata ``meta`` (the ``flashsim_metadata``
    of :func:`flashsim_coffea.reference.generate.generate` or :func:`flashsim_coffea.simulate.simulate`)
    in the catalogue at ``path``; returns the row. Example in the module docstring."""
    file = os.path.abspath(file)
    row = {k: meta.get(k) for k in COLUMNS}
    inputs = meta.get("inputs")
    row.update({
        "path": file,
        "kind": kind,
        "sha256": sha256(file),
        "size": os.path.getsize(file),
        "inputs": "\n".join(os.path.abspath(p) for p in inputs) if inputs else None,
        "command": command,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    })
    if row["sumw"] is None:
        row["sumw"] = _runs_sumw(file)
    con = connect(path)
    try:
        names = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        update = ", ".join(f"{k} = excluded.{k}" for k in row if k != "path")

        def write():
            with con:  # one transaction
                con.execute(f"INSERT INTO samples ({names}) VALUES ({marks}) ON CONFLICT(path) DO UPDATE SET {update}",
                            list(row.values()))

        _retry(write)
    finally:
        con.close()
    return row


def rows(path: str | os.PathLike | None = None, process: str | None = None, kind: str | None = None) -> list[dict]:
    """The catalogue's rows (oldest first), optionally of one process and/or kind."""
    con = connect(path)
    try:
        where, args = [], []
        for col, value in (("process", process), ("kind", kind)):
            if value is not None:
                where.append(f"{col} = ?")
                args.append(value)
        sql = "SELECT * FROM samples" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id"
        return [dict(r) for r in con.execute(sql, args)]
    finally:
        con.close()


def find(key: str, path: str | os.PathLike | None = None) -> dict | None:
    """The row whose id is ``key`` or whose path is ``key`` (absolute or relative to the working directory)."""
    for r in rows(path):
        if key == str(r["id"]) or os.path.abspath(key) == r["path"]:
            return r
    return None


def verify(path: str | os.PathLike | None = None) -> list[dict]:
    """Re-hash every catalogued file: ``[{"id", "path", "status"}]``, status ``ok``, ``modified``
    (sha256 differs) or ``missing``. Example in the module docstring."""
    out = []
    for r in rows(path):
        if not os.path.isfile(r["path"]):
            status = "missing"
        else:
            status = "ok" if sha256(r["path"]) == r["sha256"] else "modified"
        out.append({"id": r["id"], "path": r["path"], "status": status})
    return out


def fileset(path: str | os.PathLike | None = None, kind: str | None = None) -> dict:
    """The analyses' fileset (``analyses/running.py``): one dataset per process (``<process>_flash``
    for flash files), ``files: {path: "Events"}`` and ``metadata`` with ``process``, ``xsec_pb``
    (sum-of-weights weighted mean of the files', null if unknown) and ``sumw`` (their sum, null if one is
    unknown: the analyses then read the files' ``Runs`` trees). Example in the module docstring."""
    out: dict = {}
    for r in rows(path, kind=kind):
        name = r["process"] or Path(r["path"]).stem
        ds = name if r["kind"] != "simulate" else f"{name}_flash"
        spec = out.setdefault(ds, {"files": {}, "metadata": {"process": name}, "_xs": []})
        spec["files"][r["path"]] = "Events"
        spec["_xs"].append((r["xsec_pb"], r["sumw"]))
    for spec in out.values():
        xs = spec.pop("_xs")
        total = sum(w for _, w in xs) if all(w is not None for _, w in xs) else None
        known = [x for x, _ in xs if x is not None]
        if total and len(known) == len(xs):
            spec["metadata"]["xsec_pb"] = sum(x * w for x, w in xs) / total
        else:
            spec["metadata"]["xsec_pb"] = sum(known) / len(known) if known else None
        spec["metadata"]["sumw"] = total
    return out
