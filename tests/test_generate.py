"""`flashsim generate`: files coffea reads, NanoAOD v12 names/dtypes, links, reproducibility, bad input."""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor

import awkward as ak
import pytest
import uproot

from flashsim_coffea import cli
from flashsim_coffea.nanoaod.schema import COUNTER_DTYPE, SCHEMA
from flashsim_coffea.reference import generate as gen_mod
from flashsim_coffea.reference import processes as proc_mod


def _leaf_dtype(branch) -> str:
    interp = branch.interpretation
    if hasattr(interp, "content"):  # jagged
        return str(interp.content.to_dtype.newbyteorder("="))
    return str(interp.to_dtype.newbyteorder("="))


@pytest.fixture(scope="module")
def ttbar_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "tt.root"
    argv = ["generate", "--process", "ttbar", "--events", "60", "--seed", "7", "--out", str(out), "--no-progress"]
    assert cli.main(argv) == 0
    return out


def test_every_field_has_the_v12_name_and_dtype(ttbar_file, v12_file):
    ours = uproot.open(ttbar_file)["Events"]
    real = uproot.open(v12_file)["Events"]
    real_names = set(real.keys())
    compared = 0
    for name, branch in ours.items():
        if name.startswith("n") and name[1:] in SCHEMA:
            assert _leaf_dtype(branch) == COUNTER_DTYPE, name
            continue
        collection, _, field = name.partition("_")
        if collection in SCHEMA and collection:
            assert field in SCHEMA[collection], f"{name} is not in the schema"
        else:
            assert name in SCHEMA[""], f"{name} is not in the schema"
        if name in real_names:
            assert _leaf_dtype(branch) == _leaf_dtype(real[name]), name
            compared += 1
    assert compared >= 100
    for collection in ("GenPart", "GenJet", "GenJetAK8", "Jet", "Muon", "Electron", "Photon", "Tau", "GenVisTau"):
        assert f"n{collection}" in ours.keys(), collection


def _events(path):
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return NanoEventsFactory.from_root({str(path): "Events"}, schemaclass=NanoAODSchema, mode="eager").events()


def test_coffea_reads_the_file_and_matched_gen_resolves(ttbar_file):
    ev = _events(ttbar_file)
    assert len(ev) == 60
    mu = ak.flatten(ev.Muon[ev.Muon.genPartIdx >= 0])
    assert len(mu) > 10
    g = mu.matched_gen
    assert ak.all(abs(g.pdgId) == 13)
    assert ak.max(mu.delta_r(g)) < 0.1
    jet = ak.flatten(ev.Jet[ev.Jet.genJetIdx >= 0])
    assert len(jet) > 200
    assert ak.max(jet.delta_r(jet.matched_gen)) < 0.4
    # the gen collections are pT ordered like NanoAOD's
    assert ak.all(ev.GenJet.pt[:, :-1] >= ev.GenJet.pt[:, 1:])
    assert ak.all(ev.Jet.pt[:, :-1] >= ev.Jet.pt[:, 1:])


def test_metadata_and_runs_tree(ttbar_file):
    meta = gen_mod.read_metadata(ttbar_file)
    assert meta["process"] == "ttbar" and meta["events"] == 60 and meta["seed"] == 7
    assert 300 < meta["xsec_pb"] < 900  # LO Pythia ttbar at 13.6 TeV
    # no generator-level filter: efficiency 1, every event tried is kept, xsec is Pythia's
    assert (meta["filter"], meta["filter_efficiency"], meta["events_tried"]) == (None, 1.0, 60)
    assert meta["xsec_pb"] == meta["xsec_generator_pb"]
    runs = uproot.open(ttbar_file)["Runs"].arrays()
    assert runs.genEventCount.tolist() == [60]
    ev = uproot.open(ttbar_file)["Events"].arrays(["run", "luminosityBlock", "event"])
    ids = set(zip(ev.run.tolist(), ev.luminosityBlock.tolist(), ev.event.tolist()))
    assert len(ids) == 60


def test_same_seed_identical_other_seed_different(tmp_path, monkeypatch):
    monkeypatch.setattr(gen_mod, "BLOCK", 15)  # several blocks, so workers interleave
    a, b, c = tmp_path / "a.root", tmp_path / "b.root", tmp_path / "c.root"
    gen_mod.generate("dy", 40, 3, a, progress=False)
    with ProcessPoolExecutor(2) as pool:
        gen_mod.generate("dy", 40, 3, b, executor=pool, progress=False)
    gen_mod.generate("dy", 40, 4, c, progress=False)
    ca, cb, cc = (uproot.open(p)["Events"].arrays() for p in (a, b, c))
    assert ca.fields == cb.fields
    for name in ca.fields:
        assert ak.array_equal(ca[name], cb[name], equal_nan=True), name
    assert gen_mod.read_metadata(a) == gen_mod.read_metadata(b)
    assert not ak.array_equal(ca.GenMET_pt, cc.GenMET_pt)
    assert not ak.array_equal(ca.MET_pt, cc.MET_pt)


def test_parts_of_a_sample_hold_exactly_the_events_of_the_single_file(tmp_path, monkeypatch):
    monkeypatch.setattr(gen_mod, "BLOCK", 15)
    whole, p0, p1 = tmp_path / "whole.root", tmp_path / "p0.root", tmp_path / "p1.root"
    gen_mod.generate("dy", 40, 3, whole, progress=False)
    gen_mod.generate("dy", 30, 3, p0, progress=False)
    gen_mod.generate("dy", 10, 3, p1, first_event=30, progress=False)
    cw = uproot.open(whole)["Events"].arrays()
    parts = ak.concatenate([uproot.open(p)["Events"].arrays() for p in (p0, p1)])
    assert len(parts) == 40 and parts.event.tolist() == list(range(1, 41))
    for name in cw.fields:
        assert ak.array_equal(cw[name], parts[name], equal_nan=True), name
    assert gen_mod.read_metadata(p1)["first_event"] == 30
    assert uproot.open(p1)["Runs"]["genEventCount"].array().tolist() == [10]
    with pytest.raises(ValueError, match="multiple of 15"):
        gen_mod.generate("dy", 10, 3, tmp_path / "bad.root", first_event=20, progress=False)
    assert not (tmp_path / "bad.root").exists()


def test_blocks_as_tasks_of_a_dask_cluster_give_the_same_file(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    from flashsim_coffea.cluster import executor

    monkeypatch.setattr(gen_mod, "BLOCK", 15)  # three blocks on two workers
    a, b = tmp_path / "a.root", tmp_path / "b.root"
    gen_mod.generate("dy", 40, 3, a, progress=False)
    with executor(2) as ex:
        gen_mod.generate("dy", 40, 3, b, executor=ex, progress=False)
    ca, cb = (uproot.open(p)["Events"].arrays() for p in (a, b))
    assert ca.fields == cb.fields and len(ca) == 40
    for name in ca.fields:
        assert ak.array_equal(ca[name], cb[name], equal_nan=True), name


_BANNER_SCRIPT = """
import multiprocessing, sys
from concurrent.futures import ProcessPoolExecutor
from flashsim_coffea.reference import generate as gen_mod
gen_mod.BLOCK = 10  # two blocks: both workers cluster
with ProcessPoolExecutor(2) as pool:
    gen_mod.generate("dy", 20, 3, sys.argv[1] + "/fork.root", executor=pool, progress=False)
# fresh workers: they inherit nothing from this process
with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
    gen_mod.generate("dy", 20, 3, sys.argv[1] + "/spawn.root", executor=pool, progress=False)
print("done")
"""


def test_fastjet_banner_once_per_run_on_stderr(tmp_path):
    # FastJet prints a banner on a process's first clustering: the run prints it once, to stderr, workers never
    run = subprocess.run([sys.executable, "-c", _BANNER_SCRIPT, str(tmp_path)], capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "done\n"
    assert run.stderr.count("FastJet release") == 1


def test_adding_a_process_changes_no_other_process(monkeypatch):
    # a registry entry sorting before every other name once shifted every enumerated id
    def states():
        return {p: gen_mod._streams(p, 1, 0)[0].generate_state(2).tolist() for p in ("dy", "ttbar", "zh_llbb")}

    before = states()
    monkeypatch.setitem(proc_mod.PROCESSES, "aaa_new", ("a new process", []))
    importlib.reload(gen_mod)
    assert states() == before
    assert len({gen_mod.process_id(p) for p in proc_mod.PROCESSES}) == len(proc_mod.PROCESSES)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--process", "tth", "--events", "5", "--seed", "1"], "invalid choice: 'tth'"),
        (["--process", "dy", "--events", "0", "--seed", "1"], "must be at least 1"),
        (["--process", "dy", "--events", "-3", "--seed", "1"], "must be at least 1"),
        (["--process", "dy", "--events", "five", "--seed", "1"], "expected an integer"),
        (["--process", "dy", "--events", "5", "--seed", "1", "--first-event", "150"], "must be a multiple of 200"),
    ],
)
def test_bad_arguments_one_line_exit_2_no_file(tmp_path, capsys, args, message):
    out = tmp_path / "x.root"
    with pytest.raises(SystemExit) as exc:
        cli.main(["generate", *args, "--out", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert list(tmp_path.iterdir()) == []


def test_missing_or_unwritable_directory(tmp_path, capsys):
    for out, message in [(tmp_path / "nope" / "x.root", "directory does not exist"), ("/proc/x.root", "not writable")]:
        with pytest.raises(SystemExit) as exc:
            cli.main(["generate", "--process", "dy", "--events", "5", "--seed", "1", "--out", str(out)])
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert list(tmp_path.iterdir()) == []


def test_failure_midway_leaves_no_partial_file(tmp_path, monkeypatch):
    monkeypatch.setattr(gen_mod, "BLOCK", 5)
    real = gen_mod.simulate_block

    def failing(process, seed, block, n, *args):
        if block == 1:
            raise RuntimeError("boom in block 1")
        return real(process, seed, block, n, *args)

    monkeypatch.setattr(gen_mod, "simulate_block", failing)
    out = tmp_path / "partial.root"
    with pytest.raises(RuntimeError, match="boom"):
        gen_mod.generate("dy", 12, 1, out, progress=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("process", "n"), [("ttbar", 4), ("qcd", 30)])
def test_batch_generation_equals_the_event_by_event_loop(process, n, monkeypatch):
    """An unfiltered process takes Pythia's ``nextBatch``; the per-event loop of the filtered processes
    (forced here by a keep-everything filter) gives the same record, weights and sums bit for bit
    (qcd: biased, weighted events)."""
    import numpy as np

    from flashsim_coffea.reference.pythia import generate_block

    batch = generate_block(process, n, 21)
    monkeypatch.setitem(proc_mod.FILTERS, process, lambda event: 1.0)
    loop = generate_block(process, n, 21)
    assert sorted(batch) == sorted(loop) and len(batch["counts"]) == n
    for k in loop:
        assert np.array_equal(np.asarray(batch[k]), np.asarray(loop[k])), k
    if process == "qcd":
        assert len(np.unique(batch["weight"])) > 5  # the weights are exercised
