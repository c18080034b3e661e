"""``flashsim simulate``: flash NanoAOD files read back by coffea equal the in-memory processor;
bad inputs; an interrupted run leaves no file; chunking and executors do not change the output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from flashsim_coffea import simulate as sim
from flashsim_coffea.cli import main
from flashsim_coffea.nanoaod.schema import COUNTER_DTYPE, SCHEMA
from flashsim_coffea.reference.generate import branch_types
from flashsim_coffea.sim.precision import native_bfloat16

SHARED = Path(os.environ.get("FLASHSIM_SHARED_NANOAOD", Path(__file__).resolve().parents[2] / "shared" / "data" /
                             "nanoaod"))
TT = SHARED / "nano_tt_v12.root"
K, SEED = 3, 7
EDGES = np.array([0, 30, 50, 75, 100, 150, 200, 300, 500, 1e4])


def _gen_copy(out: Path, events: int, edit=None) -> Path:
    """The gen branches of the first ``events`` of the shared ttbar file (``edit`` may change them)."""
    _, names = sim.input_branches(TT)
    arr = uproot.open(TT)["Events"].arrays(names, entry_stop=events)
    branches, colls = {}, {}
    for k in names:
        c, _, f = k.partition("_")
        if arr[k].ndim > 1:
            colls.setdefault(c, {})[f] = arr[k]
        else:
            branches[k] = ak.to_numpy(arr[k])
    branches.update({c: ak.zip(d) for c, d in colls.items()})
    if edit is not None:
        edit(branches)
    with uproot.recreate(out) as f:
        f.mktree("Events", branch_types(branches)).extend(branches)
    return out


def _histograms(events) -> dict:
    """Leading jet pT, muon multiplicity, jet count per event and the gen pT of matched jets."""
    jets = events.Jet
    lead = ak.to_numpy(ak.firsts(jets.pt)[ak.num(jets) > 0]).astype(np.float64)
    matched = ak.flatten(jets.matched_gen.pt[jets.genJetIdx >= 0])
    return {
        "lead_jet_pt": np.histogram(lead, EDGES)[0],
        "n_muon": np.bincount(ak.to_numpy(ak.num(events.Muon)), minlength=8)[:8],
        "n_jet": np.bincount(ak.to_numpy(ak.num(jets)), minlength=20)[:20],
        "matched_gen_pt": np.histogram(ak.to_numpy(matched).astype(np.float64), EDGES)[0],
        "sumw": float(ak.sum(events.genWeight)),
        "events": len(events),
    }


@pytest.fixture(scope="module")
def flash_file(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("simulate")
    out = tmp / "flash.root"
    os.environ["FLASHSIM_CATALOG"] = str(tmp / "catalog.sqlite")
    try:
        rc = main(["simulate", "--in", str(TT), "--out", str(out), "--replicas", str(K), "--seed", str(SEED),
                   "--chunksize", "64", "--no-progress"])
    finally:
        del os.environ["FLASHSIM_CATALOG"]
    assert rc == 0
    return out


def test_coffea_reads_the_file_as_the_in_memory_processor_makes_it(flash_file):
    from coffea import processor
    from coffea.nanoevents import NanoEventsFactory

    from processors.flashsim import FlashSimProcessor
    from processors.schema import NanoAODSchema

    class Hists(processor.ProcessorABC):
        def process(self, events):
            return _histograms(events)

        def postprocess(self, accumulator):
            return accumulator

    gen = NanoEventsFactory.from_root({str(TT): "Events"}, schemaclass=NanoAODSchema, mode="eager").events()
    want = FlashSimProcessor(Hists(), replicas=K, seed=SEED).process(gen)
    events = NanoEventsFactory.from_root({str(flash_file): "Events"}, schemaclass=NanoAODSchema, mode="eager").events()
    got = _histograms(events)
    assert got["events"] == want["events"] == 200 * K
    for name in ("lead_jet_pt", "n_muon", "n_jet", "matched_gen_pt"):
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    assert got["sumw"] == pytest.approx(want["sumw"], rel=1e-6)
    assert want["n_muon"][1:].sum() > 50 and want["lead_jet_pt"].sum() > 500  # the histograms are filled
    # replica r of gen event i is entry i * K + r; the gen collections are copied alongside
    idx = ak.to_numpy(events.FlashSim.genEventIdx)
    np.testing.assert_array_equal(idx, np.repeat(np.arange(200), K))
    np.testing.assert_array_equal(ak.to_numpy(events.FlashSim.replica), np.tile(np.arange(K), 200))
    np.testing.assert_array_equal(ak.num(events.GenPart)[::K], ak.num(gen.GenPart))
    np.testing.assert_array_equal(ak.to_numpy(events.event)[::K], ak.to_numpy(gen.event))


def test_file_has_nanoaod_dtypes_and_oversampled_runs(flash_file):
    with uproot.open(flash_file) as f:
        tree = f["Events"]
        types = {k: tree[k].interpretation for k in tree.keys()}
        runs = f["Runs"].arrays(library="np")
        meta = __import__("json").loads(str(f["flashsim_metadata"]))
    for name, coll, field in (("Jet_pt", "Jet", "pt"), ("Muon_charge", "Muon", "charge"), ("Jet_jetId", "Jet", "jetId"),
                              ("GenPart_pdgId", "GenPart", "pdgId")):
        assert types[name].content.to_dtype.name == np.dtype(SCHEMA[coll][field]).name, name
    for name in ("MET_pt", "PV_npvs", "event", "HLT_IsoMu24", "Pileup_nPU"):
        assert types[name].to_dtype.name == np.dtype(SCHEMA[""][name]).name, name
    assert types["nJet"].to_dtype.name == COUNTER_DTYPE
    assert types["FlashSim_genEventIdx"].to_dtype.name == "int64"
    # the input has no Runs tree: counted from its 200 events, then times K
    assert runs["genEventCount"].tolist() == [200 * K] and runs["FlashSim_genEventCount"].tolist() == [200]
    gen_sumw = float(uproot.open(TT)["Events"]["genWeight"].array(library="np").astype(np.float64).sum())
    assert runs["genEventSumw"][0] == pytest.approx(K * gen_sumw) and runs["FlashSim_replicas"].tolist() == [K]
    assert meta["replicas"] == K and meta["seed"] == SEED and meta["events"] == 200 and len(meta["models_hash"]) == 12
    # the models index names none: the engine's default, auto, as it resolved on this machine
    assert meta["precision"] == ("bfloat16" if native_bfloat16("cpu") else "float32")


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_chunking_and_executor_do_not_change_the_file(tmp_path, precision):
    """20 events in chunks of 7 on a thread pool equal one chunk of 20 in this process, in both precisions (the
    same objects; floats to a few float32 ulps: before every network call had ``nets.MIN_ROWS`` rows, the
    bfloat16 file differed by 8e-4 in a fat jet's tau1)."""
    one, pooled = tmp_path / "one.root", tmp_path / "pooled.root"
    sim.simulate([TT], one, replicas=K, seed=SEED, step=20, progress=False, entry_stop=20, precision=precision)
    with ThreadPoolExecutor(2) as ex:
        sim.simulate([TT], pooled, replicas=K, seed=SEED, step=7, executor=ex, ahead=2, progress=False, entry_stop=20,
                     precision=precision)
    a = uproot.open(one)["Events"].arrays()
    b = uproot.open(pooled)["Events"].arrays()
    assert a.fields == b.fields and len(a) == 20 * K
    for n in a.fields:
        if a[n].ndim > 1:
            assert ak.num(a[n]).tolist() == ak.num(b[n]).tolist(), n
        x, y = ak.to_numpy(ak.flatten(a[n], axis=None)), ak.to_numpy(ak.flatten(b[n], axis=None))
        if x.dtype.kind == "f":
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-5, err_msg=n)
        else:
            np.testing.assert_array_equal(x, y, err_msg=n)


def _bad_inputs(tmp: Path) -> dict[str, tuple[Path, str]]:
    text = tmp / "text.root"
    text.write_text("this is not ROOT\n")
    no_events = tmp / "no_events.root"
    with uproot.recreate(no_events) as f:
        f["Runs"] = {"run": np.array([1], np.uint32)}
    no_gen = tmp / "no_gen.root"
    with uproot.recreate(no_gen) as f:
        f["Events"] = {"run": np.ones(3, np.uint32), "luminosityBlock": np.ones(3, np.uint32),
                       "event": np.arange(3, dtype=np.uint64), "GenMET_pt": np.ones(3, np.float32)}

    def nan(branches):
        pt = branches["GenJet"]["pt"]
        branches["GenJet"] = ak.with_field(branches["GenJet"], ak.where(ak.local_index(pt) == 1, np.nan, pt), "pt")

    return {
        "missing": (tmp / "missing.root", "missing.root: no such file"),
        "not ROOT": (text, "text.root: not a ROOT file"),
        "no Events": (no_events, "no_events.root: no Events tree"),
        "no gen branch": (no_gen, "no_gen.root: missing gen branch GenPart_pt"),
        "NaN": (_gen_copy(tmp / "nan.root", 30, nan), "NaN/inf value(s) in gen branch GenJet_pt"),
    }


@pytest.mark.parametrize("case", ["missing", "not ROOT", "no Events", "no gen branch", "NaN"])
def test_bad_input_one_line_exit_2_nothing_written(case, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FLASHSIM_CATALOG", str(tmp_path / "catalog.sqlite"))
    path, message = _bad_inputs(tmp_path)[case]
    out = tmp_path / "out" / "flash.root"
    out.parent.mkdir()
    rc = main(["simulate", "--in", str(TT), str(path), "--out", str(out), "--no-progress", "--chunksize", "16"]
              if case != "NaN" else ["simulate", "--in", str(path), "--out", str(out), "--no-progress",
                                     "--chunksize", "16"])
    err = capsys.readouterr().err.strip().splitlines()
    err = [line for line in err if "Warning" not in line and "sim = worker_engine" not in line]  # GenVisTau warning
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("flashsim simulate: error: ") and message in err[0], err
    assert list(out.parent.iterdir()) == []  # no output, no temporary file
    assert not (tmp_path / "catalog.sqlite").exists()


def test_killed_run_leaves_no_file(tmp_path):
    """SIGTERM after the first chunk: neither the output nor its temporary file remains."""
    gen = _gen_copy(tmp_path / "gen.root", 200)
    out = tmp_path / "out" / "flash.root"
    out.parent.mkdir()
    env = {**os.environ, "FLASHSIM_CATALOG": str(tmp_path / "catalog.sqlite")}
    proc = subprocess.Popen([sys.executable, "-m", "flashsim_coffea.cli", "simulate", "--in", str(gen), "--out",
                             str(out), "--chunksize", "10", "--replicas", "4"], stderr=subprocess.PIPE, env=env)
    seen, deadline = b"", time.time() + 300
    while b"10/200" not in seen and time.time() < deadline and proc.poll() is None:
        seen += os.read(proc.stderr.fileno(), 256)
    assert b"10/200" in seen, seen[-500:]
    assert [p.name for p in out.parent.iterdir()] == [f"flash.root.tmp{proc.pid}"]  # being written
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert list(out.parent.iterdir()) == []


def test_sigterm_during_the_chunk_collection_is_not_lost(monkeypatch):
    """A SIGTERM arriving while the per-chunk garbage collection runs a finaliser still ends the run
    (without the hold, the handler's SystemExit is swallowed inside ``__del__``)."""
    import gc as gc_mod

    class Cycle:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)  # the handler runs here, inside the finaliser

    old = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    gc_mod.collect()
    gc_mod.disable()  # the cycle is collected by the chunk's collection, not before
    try:
        c = Cycle()
        c.self = c
        del c
        with pytest.raises(SystemExit) as err:
            sim._free_chunk()
        assert err.value.code == 143
    finally:
        gc_mod.enable()
        signal.signal(signal.SIGTERM, old)
