"""train.store: chunked extraction to Parquet equals the in-memory tables, and resumes after an interruption."""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from flashsim_coffea.specs import all_sources
from flashsim_coffea.train import extract, store

KEYS = ["Jet_genjet", "Jet_pileup", "Muon_genmuon", "Electron_jetfake", "Event_event"]


def _same(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_array_equal(np.asarray(a[k], np.float64), np.asarray(b[k], np.float64), err_msg=k)


@pytest.fixture(scope="module")
def whole(tt_sample):
    ev = extract.read([tt_sample, tt_sample])
    return {key: extract.tables(ev, all_sources()[key]) for key in KEYS}


def test_chunked_tables_equal_the_in_memory_ones(tt_sample, whole, tmp_path):
    # two files (the same one twice) in chunks of 150 events: 3 chunks a file, the last of 100
    summary = store.extract([tt_sample, tt_sample], tmp_path, step=150, keys=KEYS, progress=False)
    assert (summary["chunks"], summary["done"], summary["ran"], summary["events"]) == (6, 6, 6, 800)
    for key in KEYS:
        t = whole[key]
        pairs = store.read_table(tmp_path, key, "pairs")
        _same(pairs, t["pairs"])
        assert summary["rows"][key]["pairs"] == len(next(iter(t["pairs"].values())))
        if "label" in t or "count" in t:
            sel = store.read_table(tmp_path, key, "selection")
            want = {f"cond_{k}": v for k, v in t["cond"].items()} | {k: t[k] for k in ("label", "count") if k in t}
            _same(sel, want)
        else:
            assert store.chunk_files(tmp_path, key, "selection") == []


def test_an_interrupted_extraction_resumes_without_redoing_chunks(tt_sample, whole, tmp_path, monkeypatch):
    original = store.extract_chunk
    ran = []

    def failing(chunk, out, keys):
        if len(ran) == 2:
            raise KeyboardInterrupt("killed")
        ran.append(chunk.name)
        return original(chunk, out, keys)

    monkeypatch.setattr(store, "extract_chunk", failing)
    with pytest.raises(KeyboardInterrupt):
        store.extract([tt_sample], tmp_path, step=100, keys=KEYS, progress=False)
    assert sorted(p.stem for p in (tmp_path / "chunks").glob("*.json")) == ran  # two finished chunks
    assert not list(tmp_path.rglob("*.tmp*"))

    again = []
    monkeypatch.setattr(store, "extract_chunk", lambda c, o, k: again.append(c.name) or original(c, o, k))
    summary = store.extract([tt_sample], tmp_path, step=100, keys=KEYS, progress=False)
    assert (summary["chunks"], summary["ran"], summary["events"]) == (4, 2, 400)
    assert not set(again) & set(ran) and len(again) == 2
    ev = extract.read([tt_sample])
    _same(store.read_table(tmp_path, "Muon_genmuon", "pairs"), extract.tables(ev, all_sources()["Muon_genmuon"])["pairs"])


def test_a_folder_of_other_inputs_is_refused(tt_sample, tmp_path):
    store.extract([tt_sample], tmp_path, step=200, events=200, keys=["Muon_genmuon"], progress=False)
    with pytest.raises(ValueError, match="step=200.*step=100"):
        store.extract([tt_sample], tmp_path, step=100, events=200, keys=["Muon_genmuon"], progress=False)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["provenance"]["processes"] == ["ttbar"]
    with pytest.raises(FileNotFoundError, match="no pairs table of Tau_genvistau"):
        store.read_table(tmp_path, "Tau_genvistau", "pairs")


def test_chunks_run_as_executor_tasks(tt_sample, tmp_path):
    with ProcessPoolExecutor(max_workers=2) as ex:
        summary = store.extract([tt_sample], tmp_path / "par", step=100, keys=["Muon_genmuon", "Jet_genjet"],
                                executor=ex, progress=False)
    store.extract([tt_sample], tmp_path / "seq", step=100, keys=["Muon_genmuon", "Jet_genjet"], progress=False)
    assert summary["ran"] == 4
    for key in ("Muon_genmuon", "Jet_genjet"):
        for kind in store.KINDS:
            _same(store.read_table(tmp_path / "par", key, kind), store.read_table(tmp_path / "seq", key, kind))
