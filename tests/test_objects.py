"""The per-object check (analyses/objects.py): stage counts on real CMS NanoAOD against plain awkward, and the
paired ratio errors of the report's table."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

pytest.importorskip("coffea")

from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

from analyses import objects, report
from analyses.zh_llbb import ZHllbb

NanoAODSchema.warn_missing_crossrefs = False


@pytest.fixture(scope="module")
def path(nanoaod_dir):
    return nanoaod_dir / "nano_tt_v12.root"


@pytest.fixture()
def events(path):
    return NanoEventsFactory.from_root({str(path): "Events"}, mode="virtual", schemaclass=NanoAODSchema,
                                       metadata={"dataset": "tt"}).events()


@pytest.fixture(scope="module")
def raw(path):
    with uproot.open(path) as f:
        return f["Events"].arrays(filter_name=["Muon_*", "Jet_*"])


def test_stage_counts_match_plain_awkward(events, raw):
    counts = objects.object_counts(events, jet_pt=20.0, jet_eta=2.5)
    assert list(counts) == list(objects.STAGES)
    kin = (raw.Muon_pt > 20) & (abs(raw.Muon_eta) < 2.4)
    sel = kin & raw.Muon_mediumId & (raw.Muon_pfRelIso04_all < 0.25)
    prompt = raw.Muon_genPartIdx >= 0
    np.testing.assert_array_equal(counts["Muon prompt: pT, |eta|"], ak.to_numpy(ak.sum(kin & prompt, axis=1)))
    np.testing.assert_array_equal(counts["Muon prompt: + pfRelIso04_all"] + counts["Muon other: + pfRelIso04_all"],
                                  ak.to_numpy(ak.sum(sel, axis=1)))
    jets = (raw.Jet_pt > 20) & (abs(raw.Jet_eta) < 2.5) & (raw.Jet_jetId > 0)
    b = jets & (raw.Jet_hadronFlavour == 5)
    np.testing.assert_array_equal(counts["Jet b: + jetId"], ak.to_numpy(ak.sum(b, axis=1)))
    tagged = ak.sum(jets & (raw.Jet_btagDeepFlavB > objects.BTAG_MEDIUM) & (raw.Jet_hadronFlavour == 5), axis=1)
    assert counts["Jet b: + DeepFlavB M"].sum() <= ak.to_numpy(tagged).sum()  # puId and the muon dR cut more
    # the cleaned jets of every flavour are the analysis' jets
    ana = ZHllbb(dnn_path="/nonexistent/dnn")
    clean = sum(counts[f"Jet {c}: + muon dR"] for c in objects.JET_CLASSES)
    np.testing.assert_array_equal(clean, ana.objects(events)["njets"])
    # cumulative within a class, and a real sample fills the b, light and prompt-muon classes
    for cls, steps in [*((f"Muon {c}", objects.MUON_STEPS) for c in objects.MUON_CLASSES),
                       *((f"Jet {c}", objects.JET_STEPS) for c in objects.JET_CLASSES)]:
        n = [counts[f"{cls}: {s}"].sum() for s in steps]
        assert n == sorted(n, reverse=True), (cls, n)
    assert counts["Jet b: + DeepFlavB M"].sum() > 0 and counts["Jet light: + muon dR"].sum() > 0
    assert counts["Muon prompt: + pfRelIso04_all"].sum() > 0


def test_paired_ratio_error(events):
    """One muon lost in some events of the 'flash' copy: the ratio drops by exactly that, its error is the paired
    one (sqrt of the number of events that differ), not the independent sqrt(N)."""
    ana = ZHllbb(dnn_path="/nonexistent/dnn")
    full = ana.table(events)
    flash = {**full, "objects": dict(full["objects"])}
    stage = "Muon prompt: pT, |eta|"
    have = np.flatnonzero(full["objects"][stage] > 0)
    lost = have[::3]
    flash["objects"][stage] = full["objects"][stage].copy()
    flash["objects"][stage][lost] -= 1
    rows = {r["stage"]: r for r in objects.rows(ana.fill([(full, 1.0)])["objects"], ana.fill([(flash, 1.0)])["objects"],
                                                  ana.fill([(flash, 1.0), (full, -1.0)])["objects"])}
    n = full["objects"][stage].sum()
    assert rows[stage]["ratio"] == pytest.approx((n - len(lost)) / n)
    assert rows[stage]["ratio_err"] == pytest.approx(np.sqrt(len(lost)) / n)
    other = "Muon prompt: + mediumId"
    assert rows[other]["ratio"] == 1.0 and rows[other]["ratio_err"] == 0.0 and rows[other]["pull"] is None
    assert all(r["fullsim"] > 0 for r in rows.values())  # stages FullSim never fills are left out


def test_report_table(events, tmp_path):
    """The report's per-object section from passes of the same events."""
    ana = ZHllbb(dnn_path="/nonexistent/dnn")
    t = ana.table(events)
    one = {**ana.fill([(t, 1.0)]), "events": t["events"], "gen_events": t["gen_events"]}
    k1 = {"fullsim": {"tt": one}, "flash": {"tt": one}, "flash_naive": {"tt": ana.fill([(t, 1.0)], naive=True)},
          "diff": {"tt": ana.fill([(t, 1.0), (t, -1.0)])}, "diff_naive": {"tt": ana.fill([(t, 1.0), (t, -1.0)], naive=True)},
          "timing": {"fullsim": {"seconds": 1.0, "events": 40}, "flash": {"seconds": 1.0, "events": 40}},
          "resources": {"wall_s": 2.0, "workers": 1, "peak_rss_mb": {"p": 1.0}, "peak_rss_is_this_pass": True}}
    r = report.write_report("zh_llbb", k1, {}, {"signal": ["tt"], "background": []}, tmp_path)
    assert [row["ratio"] for row in r["objects"]["tt"]] == [1.0] * len(r["objects"]["tt"])
    assert "objects" not in ana.fill([(t, 1.0)], naive=True)
    md = (tmp_path / "report.md").read_text()
    assert "### Per-object check" in md and "| tt | Jet b: + DeepFlavB M |" in md
    assert "No oversampling pass in this run" in md and "Effective statistics" not in md  # no empty tables
