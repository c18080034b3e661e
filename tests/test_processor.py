"""The FlashSim coffea processor: executors agree, re-chunking reproduces, only gen branches are
read, matched_gen works, and it runs on every real NanoAOD file with the file's dtypes."""

from __future__ import annotations

import warnings

import awkward as ak
import numpy as np
import pytest
import uproot

pytest.importorskip("coffea")

from coffea import processor
from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

from analyses.running import file_metadata, run
from analyses.zh_llbb import ZHllbb
from flashsim_coffea.sim.cards import DEFAULT_MODELS
from processors import schema
from processors.flashsim import FlashSimProcessor, flash_events

NanoAODSchema.warn_missing_crossrefs = False
GEN_PREFIXES = ("Gen", "nGen", "SubGenJetAK8_", "nSubGenJetAK8", "Pileup_")
IDS = {"run", "luminosityBlock", "event", "genWeight"}


def _fileset(path):
    return {"ttbar": {"files": {str(path): "Events"}, "metadata": file_metadata(path)}}


def _proc(models, seed=4, k=3):
    return FlashSimProcessor(ZHllbb(dnn_path="/nonexistent/dnn"), models_dir=models, replicas=k, seed=seed)


def _arrays(out):
    """Every histogram of a Runner output as (values, variances), by name."""
    hs = out["ttbar"]["hists"]
    return {k: (h.values(flow=True), h.variances(flow=True)) for k, h in hs.items()}


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k][0], b[k][0], rtol=1e-9, atol=0, err_msg=k)
        np.testing.assert_allclose(a[k][1], b[k][1], rtol=1e-9, atol=0, err_msg=k)


@pytest.fixture(scope="module")
def iterative(tt_sample, tiny_models):
    return run(_fileset(tt_sample), _proc(tiny_models), "iterative", chunksize=150)


def test_iterative_fills_oversampled_histograms(iterative):
    out = iterative["ttbar"]
    assert out["events"] == 3 * 400 and out["gen_events"] == 400
    # the 'all' bin of the raw cutflow counts gen events (sum of 1/K over replicas)
    assert out["cutflow_raw"].values()[0] == pytest.approx(400)


def test_rechunking_reproduces(tt_sample, tiny_models, iterative):
    other = run(_fileset(tt_sample), _proc(tiny_models), "iterative", chunksize=400)
    _assert_same(_arrays(iterative), _arrays(other))


def test_futures_executor_identical(tt_sample, tiny_models, iterative):
    out = run(_fileset(tt_sample), _proc(tiny_models), "futures", workers=2, chunksize=150)
    _assert_same(_arrays(iterative), _arrays(out))


@pytest.mark.dask_client
def test_dask_executor_identical(tt_sample, tiny_models, iterative):
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        runner = processor.Runner(processor.DaskExecutor(client=client), schema=NanoAODSchema, chunksize=150)
        out = runner(_fileset(tt_sample), _proc(tiny_models), treename="Events")
    _assert_same(_arrays(iterative), _arrays(out))


def test_dask_awkward_identical_and_reads_only_gen(tt_sample, tiny_models, iterative):
    dak = pytest.importorskip("dask_awkward")

    events = NanoEventsFactory.from_root({str(tt_sample): "Events"}, schemaclass=NanoAODSchema, mode="dask").events()
    flash = _proc(tiny_models).flash(events)
    cols = dak.necessary_columns(flash.Jet.pt, flash.Muon, flash.MET.pt, flash.FlashSim.genEventIdx)
    read = set().union(*cols.values())
    assert read and all(b.startswith(GEN_PREFIXES) or b in IDS for b in read), sorted(read)
    out = run(_fileset(tt_sample), _proc(tiny_models), "dask-awkward", chunksize=150)
    _assert_same(_arrays(iterative), _arrays(out))


def test_reads_only_gen_branches_and_matched_gen(tt_sample, tiny_models):
    log = []
    events = NanoEventsFactory.from_root({str(tt_sample): "Events"}, schemaclass=NanoAODSchema, mode="virtual",
                                         access_log=log, metadata={"dataset": "tt"}).events()
    flash = flash_events(events, str(tiny_models), 2, 2)
    read = {a.branch for a in log}
    assert read and all(b.startswith(GEN_PREFIXES) or b in IDS for b in read), sorted(read)
    mu = ak.flatten(flash.Muon[flash.Muon.genPartIdx >= 0].matched_gen)
    assert len(mu) > 0 and ak.all(abs(mu.pdgId) == 13)
    jets = flash.Jet[flash.Jet.genJetIdx >= 0]
    gj = jets.matched_gen
    dr = ak.flatten(jets.delta_r(gj))
    assert ak.mean(dr < 0.4) > 0.9
    assert flash.metadata["dataset"] == "tt"  # the analysis finds its dataset on flash events


@pytest.mark.parametrize("name", ["nano_dy.root", "nanoAOD_2015_CMS_Open_Data_ttbar.root", "nano_tt_v12.root"])
def test_runs_on_real_nanoaod_with_the_files_names_and_dtypes(name, nanoaod_dir, tiny_models):
    path = nanoaod_dir / name
    # processors.schema: the v9 files keep their own Photon_mass/charge (coffea's would replace them with float zeros)
    events = NanoEventsFactory.from_root({str(path): "Events"}, schemaclass=schema.NanoAODSchema, mode="virtual").events()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nano_tt_v12 has no GenVisTau: no Tau
        flash = flash_events(events, str(tiny_models), 1, 2)
    assert len(flash) == 2 * len(events)
    tree = uproot.open(path)["Events"]
    compared = 0
    for coll in ("Jet", "Muon", "Electron", "Photon", "Tau", "MET", "PV"):
        if coll not in flash.fields:
            continue
        for f in flash[coll].fields:
            branch = f"{coll}_{f}"
            if branch not in tree or f.endswith("G"):
                continue
            interp = tree[branch].interpretation
            want = getattr(interp, "content", interp).to_dtype.newbyteorder("=")
            got = ak.flatten(flash[coll][f], axis=None).layout.dtype
            assert got == want, (name, branch, got, want)
            compared += 1
    assert compared > 40


REAL = ["nano_dy.root", "nanoAOD_2015_CMS_Open_Data_ttbar.root", "nano_tt_v12.root"]


def _read(path, schemaclass):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        events = NanoEventsFactory.from_root({str(path): "Events"}, schemaclass=schemaclass, mode="virtual").events()
    return events, [str(w.message) for w in caught]


@pytest.mark.parametrize("name", REAL)
def test_schema_keeps_the_files_photon_branches_and_other_warnings(name, nanoaod_dir, monkeypatch):
    # coffea zero-fills Photon_mass/charge (dropped in v12) and warns "already exists" on older files that hold them
    path = nanoaod_dir / name
    monkeypatch.setattr(schema.NanoAODSchema, "warn_missing_crossrefs", True)  # this module turns them off
    events, caught = _read(path, schema.NanoAODSchema)
    assert not [m for m in caught if "already exists" in m]
    assert [m for m in caught if m.startswith("Missing cross-reference")]  # the other warnings still come
    tree = uproot.open(path)["Events"]
    for field in ("mass", "charge") if "nPhoton" in tree else ():  # nano_tt_v12 holds no photons
        if f"Photon_{field}" in tree:  # v9 and older: the file's own values
            want = tree[f"Photon_{field}"].array()
            assert ak.array_equal(events.Photon[field], want, check_parameters=False)
            assert str(ak.flatten(events.Photon[field]).layout.dtype) == str(want.layout.content.dtype)
        else:  # v12: coffea's zeros
            assert ak.all(ak.flatten(events.Photon[field]) == 0)
    coffea_events, coffea_caught = _read(path, NanoAODSchema)
    assert events.fields == coffea_events.fields
    assert ("Photon_charge" in tree) == any("Branch Photon_charge already exists" in m for m in coffea_caught)


def test_schema_fills_what_a_v12_file_lacks_as_coffea_does(tt_sample):
    events, caught = _read(tt_sample, schema.NanoAODSchema)
    coffea_events, _ = _read(tt_sample, NanoAODSchema)
    assert not [m for m in caught if "already exists" in m]
    assert events.fields == coffea_events.fields and events.Photon.fields == coffea_events.Photon.fields
    for coll, field in (("Photon", "mass"), ("Photon", "charge"), ("Jet", "charge")):
        assert ak.array_equal(events[coll][field], coffea_events[coll][field])
        assert ak.all(ak.flatten(events[coll][field]) == 0)


def test_processor_pass_on_old_nanoaod_warns_nothing_of_photon_branches(nanoaod_dir):
    path = nanoaod_dir / "nano_dy.root"
    fileset = {"dy": {"files": {str(path): "Events"}, "metadata": file_metadata(path)}}
    proc = FlashSimProcessor(ZHllbb(dnn_path="/nonexistent/dnn"), models_dir=DEFAULT_MODELS, replicas=1, seed=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = processor.Runner(processor.IterativeExecutor(), schema=schema.NanoAODSchema)(fileset, proc,
                                                                                            treename="Events")
    assert out["dy"]["gen_events"] == 40
    assert not [str(w.message) for w in caught if "already exists" in str(w.message)]


_WORKER = """
import json, pickle, sys
from coffea.nanoevents import NanoAODSchema, NanoEventsFactory
from processors import flashsim as pf

seen = []
load = pf.FlashSim.load
pf.FlashSim.load = lambda models_dir, **kw: seen.append(models_dir) or load(models_dir, **kw)
proc = pickle.loads(sys.stdin.buffer.read())
events = NanoEventsFactory.from_root({sys.argv[1]: "Events"}, schemaclass=NanoAODSchema, mode="virtual",
                                     entry_stop=5).events()
flash = proc.flash(events)
print(json.dumps({"seen": seen, "jets": int(pf.ak.sum(pf.ak.num(flash.Jet))), "file": pf.__file__}))
"""


def test_default_models_are_found_by_the_worker_in_its_own_installation(tmp_path, v12_file):
    # a worker whose package lives elsewhere (here: the same files under another path) loads the models
    # of its own installation: the pickled processor carries no path of the client's
    import json
    import os
    import pickle
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    site = tmp_path / "site"
    site.mkdir()
    for pkg in ("flashsim_coffea", "processors"):
        (site / pkg).symlink_to(root / pkg, target_is_directory=True)
    proc = FlashSimProcessor(None, seed=2, collections=("Jet",))
    blob = pickle.dumps(proc)
    assert proc.models_dir is None and str(DEFAULT_MODELS).encode() not in blob
    res = subprocess.run([sys.executable, "-c", _WORKER, str(v12_file)], input=blob, capture_output=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(site)}, timeout=300)
    assert res.returncode == 0, res.stderr.decode()[-2000:]
    out = json.loads(res.stdout.decode().strip().splitlines()[-1])
    assert out["file"].startswith(str(site))  # the worker imports its own copy
    assert out["seen"] == [str(site / "flashsim_coffea" / "models")]
    assert out["jets"] > 10
    # a folder given by path travels as given
    assert FlashSimProcessor(None, models_dir=tmp_path).models_dir == str(tmp_path)


def test_precision_option_reaches_the_flows_and_is_checked(tt_sample, tiny_models):
    """``precision="bfloat16"``: the same events and jet multiplicity as float32 (efficiencies and counts
    stay float32) with jet pT moved by round-off, not more; an unknown precision fails at construction."""
    events = NanoEventsFactory.from_root({str(tt_sample): "Events"}, schemaclass=NanoAODSchema, mode="virtual",
                                         entry_stop=60).events()
    f32 = flash_events(events, str(tiny_models), 3, 2, ("Jet",), "float32")
    bf16 = flash_events(events, str(tiny_models), 3, 2, ("Jet",), "bfloat16")
    assert len(f32) == len(bf16) == 120
    pt32, pt16 = (np.sort(ak.to_numpy(ak.flatten(f.Jet.pt))) for f in (f32, bf16))
    assert abs(len(pt32) - len(pt16)) <= 0.02 * len(pt32)  # an acceptance redraw may land otherwise
    assert not np.array_equal(pt32, pt16) and abs(np.median(pt16) / np.median(pt32) - 1) < 0.02
    with pytest.raises(ValueError, match="unknown precision 'half'"):
        FlashSimProcessor(ZHllbb(dnn_path="/nonexistent/dnn"), precision="half")
