"""validate/fields.py: every field of a collection, flash vs FullSim; benchmarks/field_coverage.py."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from flashsim_coffea.sim.cards import DEFAULT_MODELS
from flashsim_coffea.sim.engine import FlashSim
from flashsim_coffea.train import extract
from flashsim_coffea.validate import fields
from flashsim_coffea.validate import report as v

spec = importlib.util.spec_from_file_location(
    "field_coverage", Path(__file__).resolve().parents[1] / "benchmarks" / "field_coverage.py"
)
field_coverage = importlib.util.module_from_spec(spec)
spec.loader.exec_module(field_coverage)


@pytest.fixture(scope="module")
def jets(tt_sample):
    """FullSim and flash (shipped models) Jet objects above the Jet threshold, every field."""
    data = extract.read([tt_sample], entry_stop=250)
    sim = FlashSim.load(DEFAULT_MODELS, collections=["Jet"])
    flash = v.flash_like_fullsim(data, sim, seed=1)
    models = [m for m in sim.models.values() if m.source.collection == "Jet"]
    thr = fields.threshold(models)
    return (fields.objects(data, "Jet", **thr), fields.objects(flash, "Jet", **thr),
            fields.kinds(m.source for m in models), set(data.Jet.fields) & set(flash.Jet.fields), thr)


def test_the_jet_check_sees_every_field_both_write_copied_and_constant_ones_included(jets):
    ref, flash, kinds, both, thr = jets
    assert thr["pt_min"] == pytest.approx(15.0, abs=0.01)
    assert ref["pt"].min() >= thr["pt_min"] and flash["pt"].min() >= thr["pt_min"] and len(ref["pt"]) > 1000
    r = fields.compare(ref, flash, seeds=2, field_kinds=kinds)
    # every field both sides write is compared, links also as "has a link"
    assert set(r["fields"]) == both | {f"{k}:linked" for k in both if fields.LINK.search(k)}
    assert {"partonFlavour", "hadronFlavour", "genJetIdx", "genJetIdx:linked"} <= set(r["fields"])
    assert r["kinds"]["pt"] == "learnt" and r["kinds"]["genJetIdx:linked"] == "link"
    parton = r["single"]["partonFlavour"]
    assert 0.4 <= parton["auc"] <= 1 and 0 < parton["err"] < 0.05
    assert all(np.isfinite(s["auc"]) for s in r["single"].values())
    for name in ("mlp", "hgb"):
        c = r["classifiers"][name]
        assert len(c["seeds"]) == 2 and all(0.4 <= a <= 1 for a in c["seeds"]), (name, c)
        assert c["mean"] == pytest.approx(np.mean(c["seeds"])) and c["sd"] >= 0
        assert 0.4 <= r["null"][name]["mean"] <= 0.6, (name, r["null"])
    # fields FullSim writes that flash does not: listed, read from the data
    assert set(r["not_simulated"]) == set(ref) - set(flash)


def test_a_broken_flash_field_stands_out_and_a_missing_one_is_listed(jets):
    ref, flash, kinds, _, _ = jets
    broken = dict(flash)
    broken["btagDeepFlavB"] = np.full(len(flash["pt"]), 0.5, np.float32)  # a constant in place of the score
    del broken["area"]
    r = fields.compare(ref, broken, seeds=1, classifiers=("hgb",), field_kinds=kinds, null=False)
    assert r["single"]["btagDeepFlavB"]["auc"] > 0.7
    assert r["classifiers"]["hgb"]["mean"] > 0.7
    assert "area" in r["not_simulated"] and "area" not in r["fields"]
    ok = fields.compare(ref, flash, seeds=1, classifiers=(), field_kinds=kinds)
    assert ok["single"]["btagDeepFlavB"]["auc"] < 0.6


def test_validate_reports_every_field_and_the_trigger_bits_chunk_by_chunk(tt_sample, tmp_path):
    kw = dict(seed=2, progress=False, collections=["Jet", "Event"], entry_stop=200, field_seeds=1, auc_seeds=1)
    report = v.validate(DEFAULT_MODELS, [tt_sample], tmp_path, plots=True, **kw)
    assert set(report["fields"]) == {"Jet", "Event"}
    jet, event = report["fields"]["Jet"], report["fields"]["Event"]
    assert "partonFlavour" in jet["single"] and jet["objects"]["fullsim"] == jet["rows"]["fullsim"] > 300
    # the jets' lepton links are compared (the muons and electrons they read are simulated with the jets, not
    # validated); links into collections this run does not simulate (flash -1, FullSim not) are left out
    assert "genJetIdx" in jet["single"] and "muonIdx1" in jet["single"] and "electronIdx1" in jet["single"]
    assert set(report["collections"]) <= {"Jet", "Event"} and not [k for k in report["sources"] if "Muon" in k]
    assert not [k for k in jet["fields"] if fields.link_collection(k.split(":")[0]) == "SV"]
    assert "svIdx1" not in jet["fields"] + jet["not_simulated"]
    # the event collection: every flat reco branch FullSim writes, one row per event (flash: one per replica)
    written = set(fields.event_branches(tt_sample, 0, 200))
    assert event["objects"] == {"fullsim": 200, "flash": 200}
    assert "MET_pt" in event["fields"] and set(event["fields"]) | set(event["not_simulated"]) >= written
    assert set(event["not_simulated"]) == written - set(event["fields"])
    assert all(0.4 <= c["mean"] <= 1 for r in (jet, event) for c in r["classifiers"].values())
    # trigger pass fractions from exact counts over all events
    with uproot.open(tt_sample) as f:
        mu24 = f["Events"]["HLT_IsoMu24"].array(entry_stop=200, library="np")
    assert report["triggers"]["HLT_IsoMu24"]["fullsim"] == pytest.approx(mu24.mean())
    assert report["triggers"]["HLT_IsoMu24"]["fullsim_events"] == 200
    md = (tmp_path / "fields.md").read_text()
    assert "## Jet" in md and "| partonFlavour |" in md and "## Event" in md
    assert (tmp_path / "Jet_fields.png").stat().st_size > 0
    assert json.loads((tmp_path / "validation.json").read_text())["fields"]["Jet"]["single"] == jet["single"]
    lines = v.summary_lines(report)
    assert any(line.startswith("fields") for line in lines) and lines[-1].startswith("trigger/filter bits:")


def test_the_field_check_chunk_by_chunk_gives_the_figures_of_one_chunk(tt_sample, monkeypatch):
    # bounded memory: chunks fold into the same samples. Classifiers stood in for by a cheap function of every row
    # (the mean difference), so that equal figures mean equal samples
    cheap = lambda flash, ref, seed, groups=None: float(np.nanmean(flash) - np.nanmean(ref))
    monkeypatch.setattr(v, "two_sample_auc", cheap)
    monkeypatch.setitem(fields.CLASSIFIERS, "mlp", cheap)
    monkeypatch.setitem(fields.CLASSIFIERS, "hgb", cheap)
    kw = dict(seed=2, progress=False, collections=["Jet", "Event"], entry_stop=120, field_seeds=1, plots=False, auc_seeds=1)
    whole = v.validate(DEFAULT_MODELS, [tt_sample], None, **kw)
    chunked = v.validate(DEFAULT_MODELS, [tt_sample], None, step=50, **kw)
    assert whole["fields"]["Jet"]["classifiers"]["hgb"]["mean"] != 0
    assert json.dumps(chunked["fields"], sort_keys=True) == json.dumps(whole["fields"], sort_keys=True)
    assert chunked["triggers"] == whole["triggers"]


def test_a_field_sample_keeps_the_columns_every_chunk_has():
    from flashsim_coffea.validate import sample

    s = sample.empty(cap=10)
    rng = np.random.default_rng(0)
    sample.add(s, {"pairs": {"pt": np.array([1.0, 2.0]), "btagPNetB": np.array([0.1, 0.2])}}, rng)
    sample.add(s, {"pairs": {"pt": np.array([3.0])}}, rng)  # a file without btagPNetB
    assert list(s["pairs"]) == ["pt"] and s["pairs"]["pt"].tolist() == [1.0, 2.0, 3.0]


def test_field_coverage_reference_column_is_the_reference_files_fields(tt_sample, tmp_path):
    out = tmp_path / "coverage.md"
    cov = field_coverage.main(["--sample", str(tt_sample), "--events", "20", "--out", str(out)])
    with uproot.open(tt_sample) as f:
        names = f["Events"].keys(recursive=False)
    for coll in ("Jet", "Muon", "Electron", "MET", "PV"):
        written = {n.split("_", 1)[1] for n in names if n.startswith(coll + "_")}
        assert {r[0] for r in cov[coll]["rows"] if r[2]} == written, coll
    with uproot.open(Path(field_coverage.SHARED) / "nano_tt_v12.root") as f:
        v12_jet = {n[4:] for n in f["Events"].keys(recursive=False) if n.startswith("Jet_")}
    assert cov["Jet"]["real"] == "v12" and {r[0] for r in cov["Jet"]["rows"] if r[1]} == v12_jet
    assert dict((r[0], r[3]) for r in cov["Jet"]["rows"])["pt"] == "learnt"
    assert not any(c.startswith(fields.TRUTH_PREFIXES) for c in cov)
    text = out.read_text()
    jet = text.split("## Jet\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:-1] for line in jet.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert {c[0].strip() for c in rows if c[2].strip() == "yes"} == {r[0] for r in cov["Jet"]["rows"] if r[2]}


def test_event_columns_take_flat_reco_fields_from_flash_records():
    ev = ak.Array({"MET_pt": [10.0], "HLT_IsoMu24": [True], "Pileup_nPU": [30], "Jet": [[{"pt": 20.0}]],
                   "run": [1]})
    assert sorted(fields.event_columns(ev)) == ["HLT_IsoMu24", "MET_pt"]
