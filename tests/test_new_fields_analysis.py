"""A small analysis that reads 30 of the fields issue 22 added (trigger bits, PUPPI/raw/CHS MET, the PNet
b-jet regression and scores, lepton-in-jet links and counts, lepton MVAs and isolation flavours, PV fit
quality, Rho variants) runs unchanged on FullSim and on flash events of the same gen events."""

from __future__ import annotations

import awkward as ak
import hist
import numpy as np
import pytest

pytest.importorskip("coffea")

from coffea import processor

from analyses.running import file_metadata, run
from processors.flashsim import FlashSimProcessor

#: (collection or record, field) pairs the analysis reads, none of which flash wrote before issue 22.
NEW_FIELDS = [
    ("HLT", "IsoMu24"), ("HLT", "Ele32_WPTight_Gsf"), ("HLT", "Mu17_TrkIsoVVL_Mu8_TrkIsoVVL_DZ_Mass3p8"),
    ("Flag", "goodVertices"), ("PuppiMET", "pt"), ("PuppiMET", "phi"), ("RawMET", "pt"), ("ChsMET", "pt"),
    ("PV", "chi2"), ("PV", "ndof"), ("PV", "score"), ("Rho", "fixedGridRhoFastjetCentral"),
    ("Jet", "PNetRegPtRawCorr"), ("Jet", "PNetRegPtRawRes"), ("Jet", "btagPNetB"), ("Jet", "btagPNetCvL"),
    ("Jet", "btagRobustParTAK4B"), ("Jet", "muonIdx1"), ("Jet", "electronIdx1"), ("Jet", "svIdx1"),
    ("Jet", "nMuons"), ("Jet", "muonSubtrFactor"),
    ("Muon", "mvaTTH"), ("Muon", "jetIdx"), ("Muon", "jetRelIso"), ("Muon", "miniPFRelIso_chg"),
    ("Muon", "pfRelIso03_chg"), ("Muon", "tightCharge"), ("Muon", "softId"), ("Muon", "highPtId"),
    ("Electron", "mvaTTH"), ("Electron", "mvaNoIso_WP90"), ("Electron", "cutBased_HEEP"),
    ("Electron", "dr03TkSumPt"), ("Electron", "jetIdx"), ("Electron", "jetRelIso"),
]


def _link_agreement(jet_idx_of_lepton, lepton_idx_of_jet) -> tuple[int, int]:
    """(jets whose first lepton link points back to them, jets with such a link)."""
    has = lepton_idx_of_jet >= 0
    back = jet_idx_of_lepton[ak.mask(lepton_idx_of_jet, has)]
    jet_index = ak.local_index(lepton_idx_of_jet)
    return int(ak.sum(ak.fill_none(back == jet_index, False))), int(ak.sum(has))


class NewFields(processor.ProcessorABC):
    """Single-lepton ttbar-like selection on the new fields: trigger, tight leptons by lepton MVA and
    jet-relative isolation, PNet b tags with the regressed b-jet pT, PUPPI MET."""

    def process(self, events):
        w = events.genWeight / events.FlashSim.replicas if "FlashSim" in events.fields else events.genWeight
        trig = events.HLT.IsoMu24 | events.HLT.Ele32_WPTight_Gsf | events.HLT.Mu17_TrkIsoVVL_Mu8_TrkIsoVVL_DZ_Mass3p8
        good_pv = events.Flag.goodVertices & (events.PV.ndof > 4) & (events.PV.chi2 >= 0) & (events.PV.score > 0)
        mu, el, jet = events.Muon, events.Electron, events.Jet
        tight_mu = mu[(mu.pt > 25) & (mu.mvaTTH > 0.5) & (mu.jetRelIso < 0.5) & (mu.miniPFRelIso_chg < 0.4)
                      & (mu.pfRelIso03_chg < 0.3) & (mu.tightCharge == 2) & (mu.softId | (mu.highPtId > 0) | mu.tightId)]
        tight_el = el[(el.pt > 30) & (el.mvaTTH > 0.5) & (el.mvaNoIso_WP90 | el.cutBased_HEEP)
                      & (el.dr03TkSumPt / el.pt < 0.2) & (el.jetRelIso < 0.5)]
        bjet = jet[(jet.pt > 30) & (jet.btagPNetB > 0.25) & (jet.btagRobustParTAK4B >= 0)]
        breg = bjet.pt * (1 - bjet.rawFactor) * bjet.PNetRegPtRawCorr * (1 + 0 * bjet.PNetRegPtRawRes)
        charm = jet[(jet.pt > 30) & (jet.btagPNetCvL > 0.5) & (jet.muonSubtrFactor >= 0)]
        sel = trig & good_pv & ((ak.num(tight_mu) + ak.num(tight_el)) == 1) & (ak.num(bjet) >= 1)
        out = {"events": float(ak.sum(w)), "selected": float(ak.sum(w[sel])), "raw_selected": int(ak.sum(sel)),
               "trigger": float(ak.sum(w[trig])), "charm_jets": int(ak.sum(ak.num(charm[sel])))}
        h = hist.Hist.new.Reg(20, 0, 400, name="x").Weight()
        out["breg_pt"] = h.copy().fill(ak.flatten(breg[sel][:, :1]), weight=ak.flatten(ak.broadcast_arrays(
            w[sel], breg[sel][:, :1])[0]))
        out["puppi_met"] = h.copy().fill(events.PuppiMET.pt[sel], weight=w[sel])
        out["met_minus_raw"] = float(ak.sum(w[sel] * (events.PuppiMET.pt - events.RawMET.pt + 0 * events.ChsMET.pt
                                                   + 0 * events.PuppiMET.phi)[sel]))
        out["rho_central"] = float(ak.sum(w * events.Rho.fixedGridRhoFastjetCentral))
        # lepton-in-jet links both ways, and the jets' counts of them
        out["mu_links"] = np.array(_link_agreement(mu.jetIdx, jet.muonIdx1))
        out["el_links"] = np.array(_link_agreement(el.jetIdx, jet.electronIdx1))
        out["jets_with_sv"] = int(ak.sum(jet.svIdx1 >= 0))
        out["muons_in_jets"] = int(ak.sum(jet.nMuons))
        return out

    def postprocess(self, accumulator):
        return accumulator


@pytest.fixture(scope="module")
def outputs(tt_sample, tiny_models):
    fileset = {"ttbar": {"files": {str(tt_sample): "Events"}, "metadata": file_metadata(tt_sample)}}
    fullsim = run(fileset, NewFields(), "iterative", chunksize=200)
    flash = run(fileset, FlashSimProcessor(NewFields(), models_dir=tiny_models, replicas=2, seed=8), "iterative",
                chunksize=200)
    return fullsim, flash


def test_the_analysis_reads_at_least_20_new_fields_that_both_samples_have(tt_sample, tiny_models):
    import uproot

    from flashsim_coffea.nanoaod import genevents
    from flashsim_coffea.sim.engine import FlashSim

    assert len(NEW_FIELDS) >= 20 and len(set(NEW_FIELDS)) == len(NEW_FIELDS)
    keys = set(uproot.open(tt_sample)["Events"].keys())
    assert [f for c, f in NEW_FIELDS if f"{c}_{f}" not in keys] == []
    arrays = uproot.open(tt_sample)["Events"].arrays(
        filter_name=[*genevents.branch_names(optional=True), "run", "luminosityBlock", "event"], entry_stop=30)
    flash = FlashSim.load(tiny_models).simulate(genevents.from_branches(arrays, source=str(tt_sample)), seed=1)
    missing = [(c, f) for c, f in NEW_FIELDS if f not in flash[c].fields]
    assert missing == []


def test_same_analysis_runs_on_fullsim_and_flash(outputs):
    """The same processor gives both samples the same outputs; the FullSim side selects the tt -> l+jets
    events it should (ttbar: ~15% raw), both have their lepton-in-jet links pointing back, and both
    PUPPI MET histograms are filled by every selected event."""
    fullsim, flash = outputs
    assert fullsim.keys() == flash.keys()
    assert flash["events"] == pytest.approx(fullsim["events"], rel=1e-6)  # K = 2 replicas weigh 1/2 each
    assert 0.05 < fullsim["raw_selected"] / 400 < 0.4 and flash["raw_selected"] > 0
    for out in (fullsim, flash):
        assert out["puppi_met"].sum().value == pytest.approx(out["selected"], rel=1e-6)
        assert out["breg_pt"].sum(flow=True).value == pytest.approx(out["selected"], rel=1e-6)
        for links in ("mu_links", "el_links"):
            back, total = out[links]
            assert total > 0 and back == total, (links, back, total)
        assert out["jets_with_sv"] > 0 and out["muons_in_jets"] > 0
        assert 0 < out["trigger"] <= out["events"] and np.isfinite(out["met_minus_raw"]) and out["rho_central"] > 0
