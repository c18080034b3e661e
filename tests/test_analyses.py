"""The seed analyses (analyses/): selections on real CMS NanoAOD, oversampled filling, DNN, outputs."""

from __future__ import annotations

import json

import awkward as ak
import numpy as np
import pytest
import uproot

pytest.importorskip("coffea")

from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

from analyses import dnn
from analyses.outputs import write_outputs
from analyses.selection import DNN_INPUTS, oversampling
from analyses.vbf_hmumu import VBFHmumu
from analyses.zh_llbb import ZHllbb
from flashsim_coffea.sim import cards

NanoAODSchema.warn_missing_crossrefs = False
META = {"dataset": "dy", "xsec_pb": 6000.0, "sumw": 4.0e6}


@pytest.fixture(scope="module")
def dy_path(nanoaod_dir):
    return nanoaod_dir / "nano_dy.root"


@pytest.fixture()
def events(dy_path):
    return NanoEventsFactory.from_root({str(dy_path): "Events"}, mode="virtual", schemaclass=NanoAODSchema,
                                       metadata=dict(META)).events()


@pytest.fixture(scope="module")
def raw(dy_path):
    with uproot.open(dy_path) as f:
        return f["Events"].arrays(filter_name=["Muon_*", "Jet_*", "genWeight"])


def _independent(raw: ak.Array, jet_pt: float, jet_eta: float) -> dict:
    """Selections from the flat branches with plain awkward (no NanoEvents, no analysis code)."""
    m = (raw.Muon_pt > 20) & (abs(raw.Muon_eta) < 2.4) & (raw.Muon_pfRelIso04_all < 0.25) & raw.Muon_mediumId
    mu_eta, mu_phi, mu_q, mu_pt = raw.Muon_eta[m], raw.Muon_phi[m], raw.Muon_charge[m], raw.Muon_pt[m]
    nmu = ak.num(mu_pt)
    q = ak.pad_none(mu_q, 2)
    os_ = ak.to_numpy(ak.fill_none((nmu >= 2) & (q[:, 0] * q[:, 1] < 0), False))
    j = (raw.Jet_pt > jet_pt) & (abs(raw.Jet_eta) < jet_eta) & (raw.Jet_puId > 0) & (raw.Jet_jetId > 0)
    je, jp = raw.Jet_eta[:, :, None], raw.Jet_phi[:, :, None]
    dphi = (jp - mu_phi[:, None, :] + np.pi) % (2 * np.pi) - np.pi
    dr2 = (je - mu_eta[:, None, :]) ** 2 + dphi**2
    clean = ~ak.any(dr2 < 0.16, axis=2)
    njet = ak.to_numpy(ak.sum(j & clean, axis=1))
    return {"os": os_, "njets": njet, "nmu": ak.to_numpy(nmu)}


@pytest.mark.parametrize("cls", [ZHllbb, VBFHmumu])
def test_selection_matches_independent(cls, events, raw):
    ana = cls(dnn_path="/nonexistent/dnn")
    ind = _independent(raw, ana.jet_pt, ana.jet_eta)
    var = ana.objects(events)
    np.testing.assert_array_equal(var["nmuons"], ind["nmu"])
    np.testing.assert_array_equal(var["os_dimuon"], ind["os"])
    np.testing.assert_array_equal(var["njets"], ind["njets"])

    out = ana.process(events)["dy"]
    cf = out["cutflow"]
    w = np.asarray(raw.genWeight, np.float64) * META["xsec_pb"] * 1000 * ana.lumi_fb / META["sumw"]
    assert out["events"] == 40 and out["gen_events"] == 40
    assert cf[{"region": "all"}].value == pytest.approx(w.sum())
    assert cf[{"region": "all"}].variance == pytest.approx((w**2).sum())
    assert cf[{"region": "2mu_os"}].value == pytest.approx(w[ind["os"]].sum())
    assert out["cutflow_raw"][{"region": "2mu_os"}].value == ind["os"].sum() == 4
    both = ind["os"] & (ind["njets"] >= 2)
    assert out["cutflow_raw"][{"region": "2jets"}].value == both.sum()
    # histograms: presel = 2 OS muons and 2 jets
    assert out["hists"]["m_ll"][{"region": "presel"}].sum(flow=True).value == pytest.approx(w[both].sum())


class _Loose(ZHllbb):
    """ZH with preselection = two OS muons only (nano_dy has no dimuon event with two ZH jets)."""

    def presel(self, var):
        return var["os_dimuon"]


def _flash_like(events: ak.Array, k: int) -> ak.Array:
    n = len(events)
    idx = np.repeat(np.arange(n), k)
    rep = events[idx]
    fs = ak.zip({"genEventIdx": idx.astype(np.int64), "replica": np.tile(np.arange(k, dtype=np.int32), n),
                 "replicas": np.full(n * k, k, np.int32)})
    return ak.with_field(rep, fs, "FlashSim")


def test_oversampled_fill_equals_fullsim(events):
    k = 3
    flash = _flash_like(events, k)
    gen, kk = oversampling(flash)
    assert kk == k and gen[:6].tolist() == [0, 0, 0, 1, 1, 1]
    ana = _Loose(dnn_path="/nonexistent/dnn")
    full = ana.process(events)["dy"]
    fl = ana.process(flash)["dy"]
    assert fl["events"] == 3 * 40 and fl["gen_events"] == 40
    for name in ("m_ll", "pt_mu1", "njets"):
        hf, hr = fl["hists"][name], full["hists"][name]
        assert hr.values(flow=True).sum() > 0
        np.testing.assert_allclose(hf.values(flow=True), hr.values(flow=True), rtol=1e-12)
        assert np.all(hf.variances(flow=True) >= hr.variances(flow=True) * (1 - 1e-12))
        # identical replicas: each gen event's K entries land together, variance equals FullSim's
        np.testing.assert_allclose(hf.variances(flow=True), hr.variances(flow=True), rtol=1e-12)
    np.testing.assert_allclose(fl["cutflow"].values(), full["cutflow"].values(), rtol=1e-12)
    np.testing.assert_allclose(fl["cutflow"].variances(), full["cutflow"].variances(), rtol=1e-12)
    # naive per-entry filling would give variance / K: the grouped one is K times larger
    naive = (full["cutflow"].variances() / k)
    assert np.all(fl["cutflow"].variances() >= naive)


def test_dnn_roundtrip_and_deterministic(tmp_path):
    rng = np.random.default_rng(0)
    n = 600
    y = (rng.random(n) < 0.5).astype(np.float32)
    x = rng.normal(size=(n, len(DNN_INPUTS))).astype(np.float32) + y[:, None] * 0.8
    a = dnn.train(x, y, None, DNN_INPUTS, seed=3, epochs=5)
    b = dnn.train(x, y, None, DNN_INPUTS, seed=3, epochs=5)
    np.testing.assert_array_equal(a(x), b(x))
    wpath, cpath = dnn.save(a, tmp_path / "m")
    card = json.loads(cpath.read_text())
    assert card["inputs"] == DNN_INPUTS and card["weights"]["sha256"] == cards.sha256(wpath)
    assert card["schema_version"] == cards.SCHEMA_VERSION and card["weights"]["file"] == wpath.name
    loaded = dnn.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded(x), a(x))
    assert np.all((loaded(x) >= 0) & (loaded(x) <= 1))
    auc_like = loaded(x)[y == 1].mean() - loaded(x)[y == 0].mean()
    assert auc_like > 0.2
    wpath.write_bytes(wpath.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(ValueError, match="sha256"):
        dnn.load(tmp_path / "m")


def test_dnn_score_filled(events, tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, len(DNN_INPUTS))).astype(np.float32)
    dnn.save(dnn.train(x, (rng.random(200) < 0.5).astype(np.float32), None, DNN_INPUTS, epochs=1), tmp_path / "z")
    out = _Loose(dnn_path=tmp_path / "z").process(events)["dy"]
    h = out["hists"]["dnn"][{"region": "presel"}]
    assert h.sum(flow=True).value == pytest.approx(out["hists"]["m_ll"][{"region": "presel"}].sum(flow=True).value)


@pytest.mark.parametrize("name", ["zh_llbb", "vbf_hmumu"])
def test_stored_dnn_loads(name):
    stem = dnn.MODELS_DIR / f"{name}_dnn"
    if not stem.with_suffix(".json").exists():
        pytest.skip(f"no stored DNN at {stem} (train with --train-dnn)")
    model = dnn.load(stem)
    assert model.card["schema_version"] == cards.SCHEMA_VERSION
    assert model.card["weights"]["sha256"] == cards.sha256(stem.with_suffix(".safetensors"))
    x = np.zeros((3, len(model.inputs)), np.float32)
    np.testing.assert_array_equal(model(x), model(x))


def test_outputs_written(events, tmp_path):
    ana = _Loose(dnn_path="/nonexistent/dnn")
    full = ana.process(events)
    flash = ana.process(_flash_like(events, 2))
    summary = write_outputs({"fullsim": full, "flash": flash}, {"background": ["dy"]}, tmp_path, "zh_llbb",
                            hists=["m_ll"], regions=("presel",))
    assert (tmp_path / "plots" / "zh_llbb_background_presel_m_ll.png").stat().st_size > 1000
    assert (tmp_path / "yields.md").read_text().count("| fullsim | dy |") == len(ana.regions())
    assert "fullsim,background,2mu_os," in (tmp_path / "yields.csv").read_text()
    data = json.loads((tmp_path / "summary.json").read_text())
    cmp = data["comparisons"]["background/presel/m_ll"]
    assert cmp["chi2"] == pytest.approx(0.0) and cmp["ks_binned"] == pytest.approx(0.0)
    assert summary["comparisons"].keys() == data["comparisons"].keys()


def test_runner_fullsim_iterative(dy_path, tmp_path):
    from coffea import processor

    fileset = {"dy": {"files": {str(dy_path): "Events"}, "metadata": {"xsec_pb": 6000.0, "sumw": 4.0e6}}}
    run = processor.Runner(processor.IterativeExecutor(), schema=NanoAODSchema, chunksize=15)
    out = run(fileset, ZHllbb(dnn_path="/nonexistent/dnn"), treename="Events")
    assert out["dy"]["events"] == 40 and out["dy"]["cutflow_raw"][{"region": "2mu_os"}].value == 4


def test_train_dnn_pipeline(dy_path, tmp_path):
    from analyses.training import train_dnn

    spec = {"files": {str(dy_path): "Events"}, "metadata": {"xsec_pb": 6000.0}}
    fileset = {"zh_llbb": {**spec, "metadata": {**spec["metadata"], "process": "zh_llbb"}},
               "dy": {**spec, "metadata": {**spec["metadata"], "process": "dy"}}}
    stem = train_dnn(_Loose(dnn_path=tmp_path / "t"), seed=2, fileset=fileset)
    card = json.loads(stem.with_suffix(".json").read_text())
    assert card["training"]["samples"] == {"zh_llbb": 4, "dy": 4} and card["training"]["seed"] == 2
    assert dnn.load(stem).inputs == DNN_INPUTS


def test_fileset_files_opened_once(dy_path, monkeypatch):
    """check_fileset reads each file's metadata while checking it; complete_metadata reuses it."""
    from analyses.running import check_fileset, complete_metadata

    opened = []
    real = uproot.open
    monkeypatch.setattr(uproot, "open", lambda path, *a, **k: opened.append(str(path)) or real(path, *a, **k))
    fs = check_fileset({"dy": {"files": {str(dy_path): "Events"}, "metadata": {"xsec_pb": 6000.0}}}, fullsim=True)
    md = complete_metadata(fs)["dy"]["metadata"]
    assert opened == [str(dy_path)]
    assert md["entries"] == 40 and md["xsec_pb"] == 6000.0 and "file_metadata" not in complete_metadata(fs)["dy"]


def test_backgrounds_are_filtered_generate_processes():
    from analyses.running import BACKGROUNDS
    from flashsim_coffea.reference.processes import FILTERS, PROCESSES

    assert BACKGROUNDS == {"vbf_hmumu": ("dy_mumu_vbf", "ttbar_dilep", "vbf_x_mumu"),
                           "zh_llbb": ("dy_mumu_zh", "ttbar_dilep")}
    assert {p for bgs in BACKGROUNDS.values() for p in bgs} <= set(PROCESSES)
    assert {"dy_mumu_vbf", "dy_mumu_zh", "vbf_x_mumu"} <= set(FILTERS)  # weights 1/keep probability in genWeight
